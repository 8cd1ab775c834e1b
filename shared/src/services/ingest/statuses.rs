//! Statuses of the messages we sent: idempotent by (wamid, status), never moving a message
//! backwards, and kept aside when they overtake the sender's record of the wamid.

use super::super::broadcasts::broadcast_key;
use super::super::messaging::{error_value, history_from_value, history_value};
use super::super::{from_millis, to_millis, App, ServiceError};
use super::{json_value, Ingested};
use crate::domain::{
    now, AccountId, MessageError, MessageId, MessageStatus, StatusChange, Timestamp,
};
use crate::ports::{Condition, Item, Query, StoreError, Update, Value, Write};
use crate::table;
use crate::webhook::StatusUpdate;

/// How long a status waits for its message (Meta retries a webhook for 7 days).
const PENDING_DAYS: i64 = 14;

/// Meta's code for "the user stopped marketing messages".
pub(crate) const STOPPED_MARKETING: i64 = 131_050;
pub(crate) const STOPPED_MARKETING_REASON: &str = "stopped marketing messages on WhatsApp (131050)";

const ENTITY: &str = "message";

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
        if let Some(message) = self.message_of_wamid(account, &status.wamid).await? {
            return self.apply_status(account, &message, kind, status).await;
        }
        // The sender has not recorded the wamid yet: keep the status for it. The sender reads
        // kept statuses after recording; reading the lookup again here closes the gap between.
        let key = table::pending_status(&status.wamid, kind.as_str());
        let mut kept = status.clone();
        kept.recipient_id = None;
        let json = serde_json::to_string(&kept).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let item = Item::new(key.clone())
            .with("account_id", Value::S(account.to_string()))
            .with(
                "status",
                self.seal(account, ENTITY, &key, "status", &json).await?,
            )
            .expiring_at(now().unix_timestamp() + PENDING_DAYS * 86_400);
        self.items.put(item, None).await?;
        if let Some(message) = self.message_of_wamid(account, &status.wamid).await? {
            self.apply_pending_statuses(account, &status.wamid, &message)
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
        message: &MessageId,
    ) -> Result<(), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::wamid_partition(wamid))
                    .begins_with(table::PENDING_STATUS_PREFIX),
            )
            .await?;
        for item in page.items {
            if item.opt_s("account_id") != Some(account.to_string().as_str()) {
                continue;
            }
            let json = self.open(account, ENTITY, &item, "status").await?;
            let status: StatusUpdate =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(kind) = status_kind(&status.status) {
                self.apply_status(account, message, kind, &status).await?;
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
        let Some(lookup) = self.items.get(&table::wamid(wamid)).await? else {
            return Ok(None);
        };
        if lookup.opt_s("account_id") != Some(account.to_string().as_str()) {
            tracing::warn!(account_id = %account, "a status names another tenant's message");
            return Ok(None);
        }
        Ok(Some(
            lookup
                .s("message_id")?
                .parse()
                .map_err(super::super::accounts::corrupt)?,
        ))
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
        let key = table::message(account, id);
        let seen = format!("seen_{}", kind.as_str());
        let at: Timestamp = from_millis(status.timestamp * 1000)?;
        let error = status.errors.first().map(|e| MessageError {
            code: e.code,
            title: e
                .title
                .clone()
                .or_else(|| e.message.clone())
                .unwrap_or_default(),
            details: e.error_data.as_ref().and_then(|d| d.details.clone()),
        });
        // Another writer may change the message between our read and our write (the sender,
        // another status): the write is conditional on what was read, and read again if not.
        let mut count_progress = true;
        for _ in 0..8 {
            let Some(item) = self.items.get(&key).await? else {
                // Erased meanwhile: nothing to record.
                return Ok(Ingested::Ignored);
            };
            if item.attrs.contains_key(&seen) {
                return Ok(Ingested::Duplicate);
            }
            let current = MessageStatus::parse(item.s("status")?)
                .ok_or_else(|| StoreError::Corrupt("message status".into()))?;
            let moves = kind.rank() > current.rank();
            let mut update = Update::new(key.clone())
                .set(&seen, Value::N(status.timestamp))
                .set("updated_at", Value::N(to_millis(now())))
                .when(Condition::And(vec![
                    Condition::AttributeNotExists(seen.clone()),
                    Condition::Equals("status".into(), Value::S(current.as_str().into())),
                ]));
            // The sender records `sent` itself; Meta's `sent` adds pricing, not a second entry.
            let in_history = match item.attrs.get("history") {
                Some(Value::L(l)) => l
                    .iter()
                    .filter_map(history_from_value)
                    .any(|h| h.status == kind),
                _ => false,
            };
            if !in_history {
                update = update.append(
                    "history",
                    history_value(&StatusChange {
                        status: kind,
                        at,
                        error_code: error.as_ref().map(|e| e.code),
                    }),
                );
            }
            if moves {
                update = update.set("status", Value::S(kind.as_str().into()));
            }
            if let Some(e) = &error {
                update = update.set("error", error_value(e));
            }
            if let Some(p) = &status.pricing {
                update = update.set("pricing", json_value(p));
            }
            if let Some(c) = &status.conversation {
                update = update.set("conversation", json_value(c));
            }
            if let Some(data) = &status.biz_opaque_callback_data {
                update = update.set(
                    "callback_data",
                    self.seal(account, ENTITY, &key, "callback_data", data)
                        .await?,
                );
            }
            let mut writes = vec![Write::Update(update)];
            if let (true, true, Some(b)) = (moves, count_progress, item.opt_s("broadcast_id")) {
                let b = b.parse().map_err(super::super::accounts::corrupt)?;
                if let Some(counters) = progress_counters(account, &b, current, kind, &error) {
                    writes.push(Write::Update(counters));
                }
            }
            match self.items.transact(writes).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed { index: Some(0) }) => continue,
                // The broadcast was erased: record the status without its counters.
                Err(StoreError::ConditionFailed { index: Some(1) }) => {
                    count_progress = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if error.as_ref().is_some_and(|e| e.code == STOPPED_MARKETING) {
                let contact = item
                    .s("contact_id")?
                    .parse()
                    .map_err(super::super::accounts::corrupt)?;
                self.opt_out(account, &contact, STOPPED_MARKETING_REASON)
                    .await?;
            }
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

/// What a broadcast counts when one of its messages moves from `from` to `to`.
fn progress_counters(
    account: &AccountId,
    broadcast: &crate::domain::BroadcastId,
    from: MessageStatus,
    to: MessageStatus,
    error: &Option<MessageError>,
) -> Option<Update> {
    let mut update = Update::new(broadcast_key(account, broadcast));
    let mut any = false;
    let delivered = MessageStatus::Delivered.rank();
    if from.rank() < delivered && to.rank() >= delivered {
        update = update.add("delivered", 1);
        any = true;
    }
    if to == MessageStatus::Read {
        update = update.add("read", 1);
        any = true;
    }
    if to == MessageStatus::Failed {
        let code = error.as_ref().map_or(0, |e| e.code);
        update = update
            .add("failed", 1)
            .add(&format!("failed_code_{code}"), 1);
        any = true;
    }
    any.then_some(update.when(Condition::Exists))
}
