//! The privacy rights as code: erasure of a contact's traces (here), and what the rest of this
//! module adds: the audit log, notices and policy versions, the inventory, exports, account
//! closure and retention.

pub mod audit;
pub mod closure;
pub mod exports;
pub mod inventory;
pub mod policy;
pub mod retention;

use super::contacts::DeletionReceipt;
use super::{App, ServiceError};
use crate::domain::{AccountId, Body, ContactId, MediaId, MediaKind};
use crate::ports::{Cursor, Query, Value};
use crate::table;

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
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(
                    Query::gsi1(table::thread(account, contact))
                        .limit(PAGE)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                if let Ok(message) = self.message_from_item(account, item).await {
                    if let Body::Inbound { kind, raw } = &message.body {
                        let media = MediaKind::parse(kind).ok().and_then(|_| {
                            raw.get(kind)?
                                .get("id")?
                                .as_str()
                                .and_then(|i| MediaId::parse(i).ok())
                        });
                        if let Some(m) = media {
                            if self.erase_media(account, &m).await? {
                                receipt.media += 1;
                            }
                        }
                    }
                    if let Some(w) = &message.wamid {
                        self.erase_wamid(account, w).await?;
                    }
                }
                self.items.delete(&item.key, None).await?;
                receipt.messages += 1;
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        if self
            .items
            .get(&table::conversation(account, contact))
            .await?
            .is_some()
        {
            self.items
                .delete(&table::conversation(account, contact), None)
                .await?;
            receipt.conversations += 1;
        }
        // Windows and pacing, per number of the account.
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with(table::NUMBER_PREFIX)
                        .limit(PAGE)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                let Some(number) = item
                    .key
                    .sk
                    .strip_prefix(table::NUMBER_PREFIX)
                    .and_then(|n| crate::domain::PhoneNumberId::parse(n).ok())
                else {
                    continue;
                };
                for key in [
                    table::window(account, &number, contact),
                    table::pair(&number, contact),
                ] {
                    if self.items.get(&key).await?.is_some() {
                        self.items.delete(&key, None).await?;
                        receipt.windows += 1;
                    }
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // Broadcast targets.
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with("BROADCAST#")
                        .limit(PAGE)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                let Some(b) = item
                    .key
                    .sk
                    .strip_prefix("BROADCAST#")
                    .and_then(|b| b.parse().ok())
                else {
                    continue;
                };
                let key = super::broadcasts::target_key(account, &b, contact);
                if self.items.get(&key).await?.is_some() {
                    self.items.delete(&key, None).await?;
                    receipt.broadcast_targets += 1;
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(())
    }

    /// Erases a wamid's lookup, kept statuses and usage marker, if they are this account's.
    async fn erase_wamid(&self, account: &AccountId, wamid: &str) -> Result<(), ServiceError> {
        let page = self
            .items
            .query(Query::partition(table::wamid_partition(wamid)).limit(PAGE))
            .await?;
        let ours = Value::S(account.to_string());
        for item in page.items {
            if item.attrs.get("account_id") == Some(&ours) {
                self.items.delete(&item.key, None).await?;
            }
        }
        Ok(())
    }
}
