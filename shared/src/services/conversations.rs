//! Conversations: one per contact, holding its last message, its unread count and the
//! window of the number it last wrote to; and the thread of a contact's messages.
//!
//! The conversation item is only ever moved forward: "last message" updates are conditional
//! on the message id (ULIDs sort by message time), so replays and late arrivals are harmless.

use time::Duration;

use super::accounts::corrupt;
use super::{from_millis, to_millis, App, ServiceError};
use crate::domain::{
    now, AccountId, Body, ContactId, Message, MessageId, PhoneNumberId, Timestamp,
};
use crate::graph::messages::Content;
use crate::ports::{Condition, Cursor, Item, Key, Query, StoreError, Update, Value};
use crate::table;

const ENTITY: &str = "conversation";
/// Characters of a message kept (sealed) as the conversation's preview.
const PREVIEW_CHARS: usize = 100;
const WINDOW: Duration = Duration::hours(24);

/// A contact's conversation, as listed.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    pub contact_id: ContactId,
    pub last_message: LastMessage,
    /// Inbound messages since the conversation was last marked read.
    pub unread: u64,
    /// The number the contact last wrote to, and until when it may answer freely.
    pub window: Option<Window>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LastMessage {
    pub id: MessageId,
    pub inbound: bool,
    pub kind: String,
    pub at: Timestamp,
    /// The first characters of its text, if it has any.
    pub preview: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub number: PhoneNumberId,
    pub open_until: Timestamp,
}

impl Window {
    pub fn is_open(&self) -> bool {
        self.open_until > now()
    }
}

impl App {
    /// Makes `message` the conversation's last message unless a later one is already.
    pub(crate) async fn note_in_conversation(
        &self,
        account: &AccountId,
        message: &Message,
        preview: Option<&str>,
    ) -> Result<(), ServiceError> {
        let key = table::conversation(account, &message.contact_id);
        let id = Value::S(message.id.to_string());
        let mut last = Update::new(key.clone())
            .set("contact_id", Value::S(message.contact_id.to_string()))
            .set("last_id", id.clone())
            .set("last_inbound", Value::Bool(message.body.is_inbound()))
            .set("last_type", Value::S(message.body.kind().into()))
            .set("last_at", Value::N(to_millis(message.created_at)))
            .index(Some(Key::new(
                table::conversations(account),
                message.id.to_string(),
            )))
            .when(newer_than(&id, "last_id"));
        match preview.map(|p| p.chars().take(PREVIEW_CHARS).collect::<String>()) {
            Some(p) if !p.is_empty() => {
                last = last.set(
                    "preview",
                    self.seal(account, ENTITY, &key, "preview", &p).await?,
                )
            }
            _ => last = last.remove("preview"),
        }
        ignore_stale(self.items.update(last).await)?;
        if message.body.is_inbound() {
            let Some(wamid) = &message.wamid else {
                return Ok(());
            };
            let inbound = Update::new(key)
                .set("inbound_id", id.clone())
                .set("inbound_wamid", Value::S(wamid.clone()))
                .set("inbound_number", Value::S(message.number.to_string()))
                .set("inbound_at", Value::N(to_millis(message.created_at)))
                .when(newer_than(&id, "inbound_id"));
            ignore_stale(self.items.update(inbound).await)?;
        }
        Ok(())
    }

    /// One more unread message; written with the inbound message itself.
    pub(crate) fn unread_increment(&self, account: &AccountId, contact: &ContactId) -> Update {
        Update::new(table::conversation(account, contact)).add("unread", 1)
    }

    /// Conversations, the most recent first.
    pub async fn conversations(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Conversation>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::gsi1(table::conversations(account))
                    .backward()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            out.push(self.conversation_from_item(account, item).await?);
        }
        Ok((out, page.next))
    }

    pub async fn conversation(
        &self,
        account: &AccountId,
        contact: &ContactId,
    ) -> Result<Conversation, ServiceError> {
        let item = self
            .items
            .get(&table::conversation(account, contact))
            .await?
            .filter(|i| i.attrs.contains_key("last_id"))
            .ok_or(ServiceError::NotFound)?;
        self.conversation_from_item(account, &item).await
    }

    /// Marks the conversation read: no unread messages here, and a read receipt to Meta for
    /// the last inbound message (which marks the earlier ones read too).
    pub async fn mark_conversation_read(
        &self,
        account: &AccountId,
        contact: &ContactId,
    ) -> Result<Conversation, ServiceError> {
        let key = table::conversation(account, contact);
        let item = self
            .items
            .get(&key)
            .await?
            .filter(|i| i.attrs.contains_key("last_id"))
            .ok_or(ServiceError::NotFound)?;
        if let (Some(wamid), Some(number)) =
            (item.opt_s("inbound_wamid"), item.opt_s("inbound_number"))
        {
            let number = PhoneNumberId::parse(number).map_err(corrupt)?;
            match self.access_token(account, &number).await {
                Ok(token) => {
                    if let Err(e) = self.graph.mark_read(&number, &token, wamid).await {
                        // The receipt is a courtesy to the user; our own state still changes.
                        tracing::warn!(account_id = %account, code = ?e.code(), "mark as read failed");
                    }
                }
                // The number was disconnected since: nothing to tell Meta.
                Err(ServiceError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let update = Update::new(key)
            .set("unread", Value::N(0))
            .set("read_at", Value::N(to_millis(now())))
            .when(Condition::Exists);
        let item = self.items.update(update).await?;
        self.conversation_from_item(account, &item).await
    }

    /// A contact's messages, both ways, in time order.
    pub async fn thread(
        &self,
        account: &AccountId,
        contact: &ContactId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Message>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::gsi1(table::thread(account, contact))
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            out.push(self.message_from_item(account, item).await?);
        }
        Ok((out, page.next))
    }

    async fn conversation_from_item(
        &self,
        account: &AccountId,
        item: &Item,
    ) -> Result<Conversation, ServiceError> {
        let window = match (item.opt_s("inbound_number"), item.opt_n("inbound_at")) {
            (Some(n), Some(at)) => Some(Window {
                number: PhoneNumberId::parse(n).map_err(corrupt)?,
                open_until: from_millis(at)? + WINDOW,
            }),
            _ => None,
        };
        Ok(Conversation {
            contact_id: item.s("contact_id")?.parse().map_err(corrupt)?,
            last_message: LastMessage {
                id: item.s("last_id")?.parse().map_err(corrupt)?,
                inbound: matches!(item.attrs.get("last_inbound"), Some(Value::Bool(true))),
                kind: item.s("last_type")?.to_owned(),
                at: from_millis(item.n("last_at")?)?,
                preview: self.open_optional(account, ENTITY, item, "preview").await?,
            },
            unread: item.opt_n("unread").unwrap_or(0).max(0) as u64,
            window,
        })
    }
}

/// The preview of an outbound message: its text, caption or template name.
pub(crate) fn outbound_preview(body: &Body) -> Option<String> {
    let Body::Outbound(content) = body else {
        return None;
    };
    match content {
        Content::Text { text } => Some(text.body.clone()),
        Content::Template { template } => Some(template.name.clone()),
        Content::Image { image: m }
        | Content::Video { video: m }
        | Content::Document { document: m } => m.caption.clone(),
        _ => None,
    }
}

/// The item has no `attr` yet, or an older id in it.
fn newer_than(id: &Value, attr: &str) -> Condition {
    Condition::Or(vec![
        Condition::NotExists,
        Condition::AttributeNotExists(attr.into()),
        Condition::LessThan(attr.into(), id.clone()),
    ])
}

/// A later message already holds the place: nothing to do.
fn ignore_stale(r: Result<Item, StoreError>) -> Result<(), ServiceError> {
    match r {
        Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
