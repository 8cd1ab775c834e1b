//! Dead letters: the record of signed webhook content we could not read, in the operators'
//! partition; its payload is sealed under the operators' key in the blob store.

use super::{from_millis, to_millis, RecordError, Sealer};
use crate::domain::{AccountId, DeadLetter, Timestamp};
use crate::ports::{BlobError, BlobKey, Item, Key, Query};
use crate::ports::{Condition, Value};
use crate::table;

const ENTITY: &str = "dead_letter";

/// The record; `tenant` is the account the content was for, when its number or WABA said so
/// (its dead letters are erased with it).
pub fn to_item(d: &DeadLetter, expires_at: i64, tenant: Option<&AccountId>) -> Item {
    let mut item = Item::new(table::dead_letter(&d.id))
        .with("reason", Value::S(d.reason.clone()))
        .with("size", Value::N(d.size as i64))
        .with("received_at", Value::N(to_millis(d.received_at)))
        .expiring_at(expires_at);
    if let Some(f) = &d.field {
        item = item.with("field", Value::S(f.clone()));
    }
    if let Some(t) = tenant {
        item = item.with(TENANT, Value::S(t.to_string()));
    }
    item
}

const TENANT: &str = "account_id";

/// The dead letters kept for one tenant (few: a filter over all of them).
pub fn of_tenant(account: &AccountId) -> Query {
    all().including_expired().filter(Some(Condition::Equals(
        TENANT.into(),
        Value::S(account.to_string()),
    )))
}

pub fn from_item(item: &Item) -> Result<DeadLetter, RecordError> {
    Ok(DeadLetter {
        id: id_of(item).to_owned(),
        field: item.opt_s("field").map(str::to_owned),
        reason: item.s("reason")?.to_owned(),
        size: item.n("size")?.max(0) as u64,
        received_at: from_millis(item.n("received_at")?)?,
    })
}

pub fn id_of(item: &Item) -> &str {
    item.key.sk.trim_start_matches(table::DEAD_LETTER_PREFIX)
}

pub fn key(id: &str) -> Key {
    table::dead_letter(id)
}

/// Every dead letter, oldest first (ids sort by time).
pub fn all() -> Query {
    Query::partition(table::operator_partition()).begins_with(table::DEAD_LETTER_PREFIX)
}

/// Whether a dead letter was received before `cutoff_ms`.
pub fn received_before(item: &Item, cutoff: Timestamp) -> bool {
    item.opt_n("received_at")
        .is_some_and(|at| at < to_millis(cutoff))
}

/// Where its sealed payload is kept.
pub fn payload_key(id: &str) -> Result<BlobKey, BlobError> {
    BlobKey::parse(&format!("dead-letters/{id}"))
}

/// The payload sealed under the operators' key (`s` is theirs).
pub fn seal_payload(s: &Sealer, id: &str, payload: &[u8]) -> Result<Vec<u8>, RecordError> {
    s.seal_bytes(ENTITY, &table::dead_letter(id), "payload", payload)
}

pub fn open_payload(s: &Sealer, id: &str, sealed: &[u8]) -> Result<Vec<u8>, RecordError> {
    s.open_bytes(ENTITY, &table::dead_letter(id), "payload", sealed)
}
