//! Conversations: one per contact, holding its last message, its unread count and the
//! window of the number it last wrote to; and the thread of a contact's messages.

use super::accounts::not_found_if_absent;
use super::{App, Principal, ServiceError};
use crate::domain::{now, AccountId, Body, ContactId, Conversation, Message, Note, NoteId, UserId};
use crate::graph::messages::Content;
use crate::ports::{Cursor, Item, StoreError};
use crate::records::conversation::Filter;
use crate::records::{self, conversation, message, note, to_millis, user};

/// Most conversations a filtered page reads before answering with what it found.
pub const FILTER_SCAN: u32 = 1000;

impl App {
    /// Makes `message` the conversation's last message unless a later one is already.
    pub(crate) async fn note_in_conversation(
        &self,
        account: &AccountId,
        m: &Message,
        preview: Option<&str>,
    ) -> Result<(), ServiceError> {
        let sealer = self.sealer(account, conversation::SEALED).await?;
        let expires_at = self.message_expiry(account, m.created_at).await?;
        let last = conversation::last_message(&sealer, m, preview, expires_at)?;
        let (true, Some(wamid)) = (m.body.is_inbound(), &m.wamid) else {
            return ignore_stale(self.items.update(last).await);
        };
        // The usual case, a message newer than the conversation's last: one write.
        match self
            .items
            .update(conversation::last_message_inbound(last, m, wamid))
            .await
        {
            Err(StoreError::ConditionFailed { .. }) => {
                let inbound = conversation::last_inbound(account, m, wamid);
                ignore_stale(self.items.update(inbound).await)
            }
            other => ignore_stale(other),
        }
    }

    /// Conversations, the most recent first.
    pub async fn conversations(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Conversation>, Option<Cursor>), ServiceError> {
        self.conversations_where(account, &Filter::All, limit, cursor)
            .await
    }

    /// Conversations a filter picks (assigned to someone, or to nobody), the most recent
    /// first; a page reads at most [`FILTER_SCAN`] conversations.
    pub async fn conversations_where(
        &self,
        account: &AccountId,
        filter: &Filter<'_>,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Conversation>, Option<Cursor>), ServiceError> {
        let (found, next) = records::fill_across(
            &*self.items,
            |want| conversation::by_last_message(account, want),
            &conversation::places(account),
            limit,
            cursor,
            filter.condition().as_ref(),
            FILTER_SCAN,
        )
        .await?;
        let sealer = self
            .sealer(account, found.len() as u64 * conversation::SEALED)
            .await?;
        let rows = found
            .iter()
            .map(|i| conversation::from_item(&sealer, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, next))
    }

    /// Assigns a contact's conversation to one of the account's users, or to nobody.
    pub async fn assign_conversation(
        &self,
        by: &Principal,
        contact: &ContactId,
        to: Option<&UserId>,
    ) -> Result<Conversation, ServiceError> {
        let account = &by.account_id;
        if let Some(u) = to {
            // Only a user of this account: another tenant's id is "not found" too.
            self.found(&user::key(account, u))
                .await
                .map_err(|_| ServiceError::invalid("assignee", "is not a user of this account"))?;
        }
        let item = self
            .items
            .update(conversation::assign(account, contact, to))
            .await
            .map_err(not_found_if_absent)?;
        tracing::info!(account_id = %account, "conversation assigned");
        self.raise_assigned(by, contact, to).await?;
        let sealer = self.sealer(account, conversation::SEALED).await?;
        Ok(conversation::from_item(&sealer, &item)?)
    }

    /// Adds an internal note to a contact's conversation: stored sealed, never sent, kept as
    /// long as the contact's messages are.
    pub async fn add_note(
        &self,
        by: &Principal,
        contact: &ContactId,
        text: String,
    ) -> Result<Note, ServiceError> {
        let account = &by.account_id;
        self.conversation_item(account, contact).await?;
        let at = now();
        let note = Note {
            id: NoteId::generate(),
            author: by.actor.to_string(),
            text,
            created_at: at,
        };
        let expires_at = self.message_expiry(account, at).await?;
        let sealer = self.sealer(account, note::SEALED).await?;
        self.items
            .put(note::to_item(&sealer, contact, &note, expires_at)?, None)
            .await?;
        Ok(note)
    }

    /// A conversation's notes, oldest first (at most 200).
    pub async fn notes(
        &self,
        account: &AccountId,
        contact: &ContactId,
    ) -> Result<Vec<Note>, ServiceError> {
        let (notes, _) = self
            .list_sealed(
                account,
                note::of(account, contact).limit(200),
                note::SEALED,
                note::from_item,
            )
            .await?;
        Ok(notes)
    }

    pub async fn conversation(
        &self,
        account: &AccountId,
        contact: &ContactId,
    ) -> Result<Conversation, ServiceError> {
        let item = self.conversation_item(account, contact).await?;
        let sealer = self.sealer(account, conversation::SEALED).await?;
        Ok(conversation::from_item(&sealer, &item)?)
    }

    async fn conversation_item(
        &self,
        account: &AccountId,
        contact: &ContactId,
    ) -> Result<Item, ServiceError> {
        self.items
            .get(&conversation::key(account, contact))
            .await?
            .filter(conversation::exists)
            .ok_or(ServiceError::NotFound)
    }

    /// Marks the conversation read: no unread messages here, and a read receipt to Meta for
    /// the last inbound message (which marks the earlier ones read too).
    pub async fn mark_conversation_read(
        &self,
        account: &AccountId,
        contact: &ContactId,
    ) -> Result<Conversation, ServiceError> {
        let item = self.conversation_item(account, contact).await?;
        if let Some((wamid, number)) = conversation::last_inbound_of(&item)? {
            match self.access_token(account, &number).await {
                Ok(token) => {
                    if let Err(e) = self.graph.mark_read(&number, &token, &wamid).await {
                        // The receipt is a courtesy to the user; our own state still changes.
                        tracing::warn!(account_id = %account, code = ?e.code(), "mark as read failed");
                    }
                }
                // The number was disconnected since: nothing to tell Meta.
                Err(ServiceError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let item = self
            .items
            .update(conversation::mark_read(account, contact, to_millis(now())))
            .await?;
        let sealer = self.sealer(account, conversation::SEALED).await?;
        Ok(conversation::from_item(&sealer, &item)?)
    }

    /// A contact's latest `n` messages, in time order.
    pub async fn recent_thread(
        &self,
        account: &AccountId,
        contact: &ContactId,
        n: u32,
    ) -> Result<Vec<Message>, ServiceError> {
        let query = message::thread(account, contact).backward().limit(n);
        let (mut messages, _) = self.list_messages(account, query).await?;
        messages.reverse();
        Ok(messages)
    }

    /// A contact's messages, both ways, in time order.
    pub async fn thread(
        &self,
        account: &AccountId,
        contact: &ContactId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Message>, Option<Cursor>), ServiceError> {
        let query = message::thread(account, contact).limit(limit).after(cursor);
        self.list_messages(account, query).await
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

/// A later message already holds the place: nothing to do.
fn ignore_stale(r: Result<Item, StoreError>) -> Result<(), ServiceError> {
    match r {
        Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
