//! Conversations: one per contact, holding its last message, its unread count and the
//! window of the number it last wrote to; and the thread of a contact's messages.

use super::{App, ServiceError};
use crate::domain::{now, AccountId, Body, ContactId, Conversation, Message};
use crate::graph::messages::Content;
use crate::ports::{Cursor, Item, StoreError};
use crate::records::{conversation, message, to_millis};

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
        ignore_stale(self.items.update(last).await)?;
        if let (true, Some(wamid)) = (m.body.is_inbound(), &m.wamid) {
            let inbound = conversation::last_inbound(account, m, wamid);
            ignore_stale(self.items.update(inbound).await)?;
        }
        Ok(())
    }

    /// Conversations, the most recent first.
    pub async fn conversations(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Conversation>, Option<Cursor>), ServiceError> {
        let query = conversation::by_last_message(account)
            .backward()
            .limit(limit)
            .after(cursor);
        self.list_sealed(
            account,
            query,
            conversation::SEALED,
            conversation::from_item,
        )
        .await
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

    /// A contact's messages, both ways, in time order.
    pub async fn thread(
        &self,
        account: &AccountId,
        contact: &ContactId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Message>, Option<Cursor>), ServiceError> {
        let query = message::thread(account, contact).limit(limit).after(cursor);
        self.list_sealed(account, query, message::SEALED, message::from_item)
            .await
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
