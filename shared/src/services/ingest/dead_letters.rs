//! Signed webhook content we could not read: answered 200 (a retry would fail the same way for
//! 7 days) and kept for operators, sealed under the operators' own key since it belongs to no
//! tenant we know of yet. The payload (up to 3 MB) goes to the blob store, the record to the
//! table.

use bytes::Bytes;
use futures::TryStreamExt;

use super::super::{App, ServiceError};
use crate::crypto::CryptoError;
use crate::domain::{now, AccountId, DeadLetter, Timestamp, DEAD_LETTER_DAYS};
use crate::ports::{Cursor, StoreError};
use crate::records::{self, dead_letter};

/// The record's TTL, two days after the retention run removes it with its payload
/// ([`App::expire_dead_letters`]): only the backstop (a record gone by TTL would leave its
/// payload behind).
const DEAD_LETTER_TTL_DAYS: i64 = DEAD_LETTER_DAYS + 2;

fn blob_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Blob(e.to_string())
}

impl App {
    pub(crate) async fn keep_dead_letter(
        &self,
        field: Option<&str>,
        reason: &str,
        payload: &[u8],
        tenant: Option<&AccountId>,
    ) -> Result<(), ServiceError> {
        let letter = DeadLetter {
            id: crate::domain::ordered_ulid().to_string(),
            field: field.map(str::to_owned),
            reason: reason.chars().take(500).collect(),
            size: payload.len() as u64,
            received_at: now(),
        };
        self.ensure_operator_key().await?;
        let sealer = self.sealer(&AccountId::OPERATOR, 1).await?;
        let sealed = dead_letter::seal_payload(&sealer, &letter.id, payload)?;
        self.blobs
            .put(
                &dead_letter::payload_key(&letter.id).map_err(blob_err)?,
                Bytes::from(sealed),
                "application/octet-stream",
            )
            .await
            .map_err(blob_err)?;
        let expires_at = now().unix_timestamp() + DEAD_LETTER_TTL_DAYS * 86_400;
        self.items
            .put(dead_letter::to_item(&letter, expires_at, tenant), None)
            .await?;
        tracing::warn!(dead_letter_id = %letter.id, field = ?field, reason = %letter.reason, metric = "webhook_dead_letter", "webhook content kept as a dead letter");
        Ok(())
    }

    /// The tenant content names, if any: the first `phone_number_id` a connected number has,
    /// else an entry's id that is a connected WABA. Read leniently: the content is malformed.
    pub(crate) async fn tenant_named_in(
        &self,
        value: &serde_json::Value,
    ) -> Result<Option<AccountId>, ServiceError> {
        let mut numbers = Vec::new();
        strings_named(value, "phone_number_id", &mut numbers);
        for n in numbers.iter().take(10) {
            if let Some(account) = self.route(n).await? {
                return Ok(Some(account));
            }
        }
        let entries = value.get("entry").and_then(serde_json::Value::as_array);
        for entry in entries.into_iter().flatten().take(10) {
            if let Some(waba) = entry.get("id").and_then(serde_json::Value::as_str) {
                if let Some(account) = self.waba_route(waba).await? {
                    return Ok(Some(account));
                }
            }
        }
        Ok(None)
    }

    /// Erases the dead letters kept for a tenant, payloads first.
    pub(crate) async fn erase_dead_letters(
        &self,
        account: &AccountId,
    ) -> Result<u64, ServiceError> {
        let mut erased = 0;
        let mut letters = records::items(&*self.items, dead_letter::of_tenant(account).limit(100));
        while let Some(item) = letters.try_next().await? {
            let id = dead_letter::id_of(&item).to_owned();
            self.blobs
                .delete(&dead_letter::payload_key(&id).map_err(blob_err)?)
                .await
                .map_err(blob_err)?;
            self.items.delete(&item.key, None).await?;
            erased += 1;
        }
        Ok(erased)
    }

    /// Dead letters, newest first.
    pub async fn dead_letters(
        &self,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<DeadLetter>, Option<Cursor>), ServiceError> {
        let query = dead_letter::all().backward().limit(limit).after(cursor);
        Ok(records::list(&*self.items, query, dead_letter::from_item).await?)
    }

    /// Removes dead letters received more than [`DEAD_LETTER_DAYS`] before `now`, payload and
    /// record, oldest first, at most `left` of them (each one taken from it). Returns how many
    /// went, and whether none older is left.
    pub(crate) async fn expire_dead_letters(
        &self,
        now: Timestamp,
        left: &mut u64,
    ) -> Result<(u64, bool), ServiceError> {
        let cutoff = now - time::Duration::days(DEAD_LETTER_DAYS);
        let mut deleted = 0;
        // Ids are ordered by time: the oldest come first, and the first young one ends it.
        let mut letters = records::items(&*self.items, dead_letter::all());
        while let Some(item) = letters.try_next().await? {
            if !dead_letter::received_before(&item, cutoff) {
                break;
            }
            if *left == 0 {
                return Ok((deleted, false));
            }
            *left -= 1;
            let id = dead_letter::id_of(&item);
            self.blobs
                .delete(&dead_letter::payload_key(id).map_err(blob_err)?)
                .await
                .map_err(blob_err)?;
            self.items.delete(&item.key, None).await?;
            deleted += 1;
        }
        Ok((deleted, true))
    }

    /// The payload of a dead letter, opened.
    pub async fn dead_letter_payload(&self, id: &str) -> Result<Vec<u8>, ServiceError> {
        if self.items.get(&dead_letter::key(id)).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        let blob = self
            .blobs
            .get(&dead_letter::payload_key(id).map_err(blob_err)?)
            .await
            .map_err(blob_err)?
            .ok_or(ServiceError::NotFound)?;
        let sealer = self.sealer(&AccountId::OPERATOR, 1).await?;
        Ok(dead_letter::open_payload(&sealer, id, &blob.bytes)?)
    }

    /// The operators' data key, made on first use.
    pub(crate) async fn ensure_operator_key(&self) -> Result<(), ServiceError> {
        let operator = AccountId::OPERATOR;
        match self.keyring.blind_index(&operator, "probe", "").await {
            Ok(_) => return Ok(()),
            Err(CryptoError::NoKey) => {}
            Err(e) => return Err(e.into()),
        }
        let item = self.keyring.provision(&operator).await?;
        match self
            .items
            .put(item, Some(crate::ports::Condition::NotExists))
            .await
        {
            Ok(()) => Ok(()),
            // Another instance made it first: use theirs.
            Err(StoreError::ConditionFailed { .. }) => {
                self.keyring.forget(&operator);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Every string value under a key named `name`, at any depth.
fn strings_named(value: &serde_json::Value, name: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == name => out.push(s.clone()),
                    v => strings_named(v, name, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                strings_named(v, name, out);
            }
        }
        _ => {}
    }
}
