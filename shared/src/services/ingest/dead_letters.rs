//! Signed webhook content we could not read: answered 200 (a retry would fail the same way for
//! 7 days) and kept for operators, sealed under the operators' own key since it belongs to no
//! tenant we know of yet. The payload (up to 3 MB) goes to the blob store, the record to the
//! table.

use bytes::Bytes;

use super::super::{from_millis, to_millis, App, ServiceError};
use crate::crypto::{CryptoError, FieldRef};
use crate::domain::{now, AccountId, Timestamp};
use crate::ports::{BlobKey, Cursor, Item, Query, StoreError, Value};
use crate::table;

/// How long dead letters are kept for operators to look at: the retention run removes the
/// payload and the record after this ([`App::expire_dead_letters`]); the record's TTL, two
/// days later, is only the backstop (a record gone by TTL would leave its payload behind).
pub(crate) const DEAD_LETTER_DAYS: i64 = 30;
const DEAD_LETTER_TTL_DAYS: i64 = DEAD_LETTER_DAYS + 2;
const ENTITY: &str = "dead_letter";

/// A dead letter's record; its payload is read with [`App::dead_letter_payload`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub id: String,
    /// The change's `field`, or none when the whole payload was unreadable.
    pub field: Option<String>,
    /// What the parser said; never the content.
    pub reason: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: Timestamp,
}

impl App {
    pub(crate) async fn keep_dead_letter(
        &self,
        field: Option<&str>,
        reason: &str,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let id = crate::domain::ordered_ulid().to_string();
        let key = table::dead_letter(&id);
        self.ensure_operator_key().await?;
        let sealed = self
            .keyring
            .encrypt(
                &AccountId::OPERATOR,
                FieldRef::new(ENTITY, &key, "payload"),
                payload,
            )
            .await?;
        self.blobs
            .put(
                &blob_key(&id)?,
                Bytes::from(sealed),
                "application/octet-stream",
            )
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))?;
        let reason: String = reason.chars().take(500).collect();
        let mut item = Item::new(key)
            .with("reason", Value::S(reason.clone()))
            .with("size", Value::N(payload.len() as i64))
            .with("received_at", Value::N(to_millis(now())))
            .expiring_at(now().unix_timestamp() + DEAD_LETTER_TTL_DAYS * 86_400);
        if let Some(f) = field {
            item = item.with("field", Value::S(f.to_owned()));
        }
        self.items.put(item, None).await?;
        tracing::warn!(dead_letter_id = %id, field = ?field, reason = %reason, metric = "webhook_dead_letter", "webhook content kept as a dead letter");
        Ok(())
    }

    /// Dead letters, newest first.
    pub async fn dead_letters(
        &self,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<DeadLetter>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(&AccountId::OPERATOR))
                    .begins_with(table::DEAD_LETTER_PREFIX)
                    .backward()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            out.push(DeadLetter {
                id: item
                    .key
                    .sk
                    .trim_start_matches(table::DEAD_LETTER_PREFIX)
                    .to_owned(),
                field: item.opt_s("field").map(str::to_owned),
                reason: item.s("reason")?.to_owned(),
                size: item.n("size")?.max(0) as u64,
                received_at: from_millis(item.n("received_at")?)?,
            });
        }
        Ok((out, page.next))
    }

    /// Removes dead letters received more than [`DEAD_LETTER_DAYS`] before `now`, payload and
    /// record, oldest first, at most `left` of them (each one taken from it). Returns how many
    /// went, and whether none older is left.
    pub(crate) async fn expire_dead_letters(
        &self,
        now: Timestamp,
        left: &mut u64,
    ) -> Result<(u64, bool), ServiceError> {
        let cutoff = to_millis(now) - DEAD_LETTER_DAYS * 86_400_000;
        let mut deleted = 0;
        loop {
            // Ids are ordered by time: the oldest come first, and the first young one ends it.
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(&AccountId::OPERATOR))
                        .begins_with(table::DEAD_LETTER_PREFIX)
                        .limit(100),
                )
                .await?;
            let old: Vec<&Item> = page
                .items
                .iter()
                .take_while(|i| i.opt_n("received_at").is_some_and(|at| at < cutoff))
                .collect();
            for item in &old {
                if *left == 0 {
                    return Ok((deleted, false));
                }
                *left -= 1;
                let id = item.key.sk.trim_start_matches(table::DEAD_LETTER_PREFIX);
                self.blobs
                    .delete(&blob_key(id)?)
                    .await
                    .map_err(|e| ServiceError::Blob(e.to_string()))?;
                self.items.delete(&item.key, None).await?;
                deleted += 1;
            }
            if old.len() < page.items.len() || page.next.is_none() {
                return Ok((deleted, true));
            }
        }
    }

    /// The payload of a dead letter, opened.
    pub async fn dead_letter_payload(&self, id: &str) -> Result<Vec<u8>, ServiceError> {
        let key = table::dead_letter(id);
        if self.items.get(&key).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        let blob = self
            .blobs
            .get(&blob_key(id)?)
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))?
            .ok_or(ServiceError::NotFound)?;
        let plain = self
            .keyring
            .decrypt(
                &AccountId::OPERATOR,
                FieldRef::new(ENTITY, &key, "payload"),
                &blob.bytes,
            )
            .await?;
        Ok(plain.to_vec())
    }

    /// The operators' data key, made on first use.
    async fn ensure_operator_key(&self) -> Result<(), ServiceError> {
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

fn blob_key(id: &str) -> Result<BlobKey, ServiceError> {
    BlobKey::parse(&format!("dead-letters/{id}")).map_err(|e| ServiceError::Blob(e.to_string()))
}
