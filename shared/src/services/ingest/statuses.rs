//! Statuses of the messages we sent: idempotent by (wamid, status), never moving a message
//! backwards, and kept aside when they overtake the sender's record of the wamid.

use futures::TryStreamExt;

use super::super::{App, ServiceError};
use super::Ingested;
use crate::domain::{now, AccountId, MessageError, MessageId, MessageStatus};
use crate::ports::{StoreError, Write};
use crate::records::{self, broadcast, message};
use crate::webhook::StatusUpdate;

/// How long a status waits for its message (Meta retries a webhook for 7 days).
const PENDING_DAYS: i64 = 14;

/// Meta's code for "the user stopped marketing messages".
pub(crate) const STOPPED_MARKETING: i64 = 131_050;
pub(crate) const STOPPED_MARKETING_REASON: &str = "stopped marketing messages on WhatsApp (131050)";

impl App {
    /// One status of a message of `account`'s.
    pub(crate) async fn ingest_status(
        &self,
        account: &AccountId,
        status: &StatusUpdate,
    ) -> Result<Ingested, ServiceError> {
        let Some(kind) = status_kind(&status.status) else {
            return Ok(Ingested::Ignored);
        };
        if let Some(m) = self.message_of_wamid(account, &status.wamid).await? {
            return self.apply_status(account, &m, kind, status).await;
        }
        // The sender has not recorded the wamid yet: keep the status for it. The sender reads
        // kept statuses after recording; reading the lookup again here closes the gap between.
        let mut kept = status.clone();
        kept.recipient_id = None;
        kept.recipient_user_id = None;
        let json = serde_json::to_string(&kept).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let sealer = self.sealer(account, 1).await?;
        let expires_at = now().unix_timestamp() + PENDING_DAYS * 86_400;
        let item = message::pending_item(&sealer, &status.wamid, kind, &json, expires_at)?;
        self.items.put(item, None).await?;
        if let Some(m) = self.message_of_wamid(account, &status.wamid).await? {
            self.apply_pending_statuses(account, &status.wamid, &m)
                .await?;
            return Ok(Ingested::Stored);
        }
        Ok(Ingested::Pending)
    }

    /// Applies the statuses kept for `wamid` (the sender calls this once it has recorded it).
    pub(crate) async fn apply_pending_statuses(
        &self,
        account: &AccountId,
        wamid: &str,
        m: &MessageId,
    ) -> Result<(), ServiceError> {
        let ours = account.to_string();
        let mut kept = records::items(&*self.items, message::pending_statuses(wamid));
        while let Some(item) = kept.try_next().await? {
            if message::owner_of(&item) != Some(ours.as_str()) {
                continue;
            }
            let sealer = self.sealer(account, 1).await?;
            let json = message::pending_status(&sealer, &item)?;
            let status: StatusUpdate =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(kind) = status_kind(&status.status) {
                self.apply_status(account, m, kind, &status).await?;
            }
            self.items.delete(&item.key, None).await?;
        }
        Ok(())
    }

    /// The message a wamid names, if it is `account`'s.
    async fn message_of_wamid(
        &self,
        account: &AccountId,
        wamid: &str,
    ) -> Result<Option<MessageId>, ServiceError> {
        let Some(lookup) = self.items.get(&message::lookup(wamid)).await? else {
            return Ok(None);
        };
        if message::owner_of(&lookup) != Some(account.to_string().as_str()) {
            tracing::warn!(account_id = %account, "a status names another tenant's message");
            return Ok(None);
        }
        Ok(Some(message::looked_up(&lookup)?))
    }

    /// Records one (wamid, status) once: history, pricing, errors; the status itself only
    /// when it ranks above the current one.
    async fn apply_status(
        &self,
        account: &AccountId,
        id: &MessageId,
        kind: MessageStatus,
        status: &StatusUpdate,
    ) -> Result<Ingested, ServiceError> {
        let error = status.errors.first().map(|e| MessageError {
            code: e.code,
            title: e
                .title
                .clone()
                .or_else(|| e.message.clone())
                .unwrap_or_default(),
            details: e.error_data.as_ref().and_then(|d| d.details.clone()),
        });
        let report = message::StatusReport {
            kind,
            timestamp: status.timestamp,
            error: error.as_ref(),
            pricing: status.pricing.as_ref(),
            conversation: status.conversation.as_ref(),
            callback_data: status.biz_opaque_callback_data.as_deref(),
        };
        let sealer = self.sealer(account, 1).await?;
        // Another writer may change the message between our read and our write (the sender,
        // another status): the write is conditional on what was read, and read again if not.
        for _ in 0..8 {
            let Some(item) = self.message_item(account, id).await? else {
                // Erased meanwhile: nothing to record.
                return Ok(Ingested::Ignored);
            };
            let at = crate::records::from_secs(status.timestamp)?;
            let contact = message::contact_of(&item)?;
            if message::has_seen(&item, kind) {
                // Raised again, as for messages: its id makes it the same event.
                self.raise_message_status(
                    account,
                    id,
                    &contact,
                    &status.wamid,
                    kind,
                    at,
                    error.as_ref(),
                )
                .await?;
                return Ok(Ingested::Duplicate);
            }
            let current = message::status(&item)?;
            let moves = kind.rank() > current.rank();
            let mut writes = vec![Write::Update(message::record_status(
                &sealer,
                &item,
                &report,
                now(),
            )?)];
            if let (true, Some(b)) = (moves, message::broadcast_of(&item)?) {
                if let Some(counters) =
                    broadcast::progress_counters(account, &b, id, current, kind, error.as_ref())
                {
                    writes.push(Write::Update(counters));
                }
            }
            match self.items.transact(writes).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed { index: Some(0) }) => continue,
                Err(e) => return Err(e.into()),
            }
            if error.as_ref().is_some_and(|e| e.code == STOPPED_MARKETING) {
                self.opt_out(account, &contact, STOPPED_MARKETING_REASON)
                    .await?;
            }
            self.raise_message_status(
                account,
                id,
                &contact,
                &status.wamid,
                kind,
                at,
                error.as_ref(),
            )
            .await?;
            return Ok(Ingested::Stored);
        }
        Err(ServiceError::Busy)
    }
}

/// `sent`, `delivered`, `read`, `failed`; other statuses are not ours to track.
fn status_kind(s: &str) -> Option<MessageStatus> {
    match s {
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "read" => Some(MessageStatus::Read),
        "failed" => Some(MessageStatus::Failed),
        _ => None,
    }
}
