//! The privacy rights as code: erasure of a contact's traces (here), and what the rest of this
//! module adds: the audit log, notices and policy versions, the inventory, exports, account
//! closure and retention.

pub mod audit;
pub mod closure;
pub mod exports;
pub mod inventory;
pub mod policy;
pub mod retention;

use futures::TryStreamExt;

use super::contacts::DeletionReceipt;
use super::{App, ServiceError};
use crate::domain::{AccountId, Body, ContactId, MediaId, MediaKind};
use crate::records::{self, broadcast, conversation, message, number, sending};

/// Items erased per query page.
const PAGE: u32 = 100;

impl App {
    /// Erases what the service holds about a contact beyond its record: messages (and their
    /// wamid lookups, kept statuses and usage markers), media the contact sent, the
    /// conversation row, windows and pacing records, broadcast targets.
    pub(crate) async fn erase_contact_traces(
        &self,
        account: &AccountId,
        contact: &ContactId,
        receipt: &mut DeletionReceipt,
    ) -> Result<(), ServiceError> {
        // Messages: the thread index names each one (walked once: on AWS the index may
        // still list an item just deleted).
        let mut thread =
            records::items(&*self.items, message::thread(account, contact).limit(PAGE));
        while let Some(item) = thread.try_next().await? {
            if let Some(w) = message::wamid_of(&item) {
                self.erase_wamid(account, w).await?;
            }
            // Only an inbound message can name media of ours.
            if message::is_inbound(&item) {
                if let Ok(m) = self.message_of(account, &item).await {
                    if let Some(id) = inbound_media(&m.body) {
                        if self.erase_media(account, &id).await? {
                            receipt.media += 1;
                        }
                    }
                }
            }
            if let Some(content) = message::content_key(&item) {
                self.items.delete(&content, None).await?;
            }
            self.items.delete(&item.key, None).await?;
            receipt.messages += 1;
        }
        let key = conversation::key(account, contact);
        if self.items.delete(&key, None).await?.is_some() {
            receipt.conversations += 1;
        }
        // Windows and pacing, per number of the account.
        let mut numbers = records::items(&*self.items, number::all(account).limit(PAGE));
        while let Some(item) = numbers.try_next().await? {
            let Ok(n) = number::id_of(&item) else {
                continue;
            };
            for key in [
                sending::window(account, &n, contact),
                sending::pair(&n, contact),
            ] {
                if self.items.delete(&key, None).await?.is_some() {
                    receipt.windows += 1;
                }
            }
        }
        // Broadcast targets.
        let mut broadcasts = records::items(&*self.items, broadcast::all(account).limit(PAGE));
        while let Some(item) = broadcasts.try_next().await? {
            let Ok(b) = broadcast::id_of(&item) else {
                continue;
            };
            if self
                .items
                .delete(&broadcast::target(account, &b, contact), None)
                .await?
                .is_some()
            {
                receipt.broadcast_targets += 1;
            }
        }
        Ok(())
    }

    /// Erases a wamid's lookup, kept statuses and usage marker, if they are this account's.
    pub(crate) async fn erase_wamid(
        &self,
        account: &AccountId,
        wamid: &str,
    ) -> Result<(), ServiceError> {
        let ours = account.to_string();
        let page = self
            .items
            .query(message::under_wamid(wamid).limit(PAGE))
            .await?;
        for item in page.items {
            if message::owner_of(&item) == Some(ours.as_str()) {
                self.items.delete(&item.key, None).await?;
            }
        }
        Ok(())
    }
}

/// The media an inbound message carried, if it is one of ours to keep.
pub(crate) fn inbound_media(body: &Body) -> Option<MediaId> {
    let Body::Inbound { kind, raw } = body else {
        return None;
    };
    MediaKind::parse(kind).ok()?;
    raw.get(kind)?
        .get("id")?
        .as_str()
        .and_then(|i| MediaId::parse(i).ok())
}
