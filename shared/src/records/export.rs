//! Exports: the record of one (status, scope, counts by kind, size); its file is
//! `exports/{account}/{id}.ndjson` in the blob store. Both expire with the retention policy.

use std::collections::BTreeMap;

use super::{from_millis, opt_millis, to_millis, RecordError};
use crate::domain::{AccountId, ContactId, Export, ExportId, ExportStatus, Timestamp};
use crate::ports::{BlobError, BlobKey, Condition, Item, Key, Update, Value};
use crate::table;

pub fn key(account: &AccountId, id: &ExportId) -> Key {
    table::export(account, id)
}

pub fn to_item(account: &AccountId, e: &Export) -> Item {
    let mut item = Item::new(table::export(account, &e.id))
        .with("status", Value::S(e.status.as_str().into()))
        .with("created_at", Value::N(to_millis(e.created_at)))
        .expiring_at(e.expires_at.unix_timestamp());
    if let Some(c) = &e.contact_id {
        item = item.with("contact_id", Value::S(c.to_string()));
    }
    item
}

pub fn from_item(item: &Item) -> Result<Export, RecordError> {
    let mut counts = BTreeMap::new();
    for (name, value) in &item.attrs {
        if let (Some(kind), Value::N(n)) = (name.strip_prefix("count_"), value) {
            counts.insert(kind.to_owned(), (*n).max(0) as u64);
        }
    }
    let created_at = from_millis(item.n("created_at")?)?;
    Ok(Export {
        id: super::id_after(item, table::EXPORT_PREFIX)?,
        status: status(item)?,
        contact_id: item
            .opt_s("contact_id")
            .map(str::parse::<ContactId>)
            .transpose()?,
        counts,
        size: item.opt_n("size").map(|n| n.max(0) as u64),
        created_at,
        finished_at: opt_millis(item, "finished_at")?,
        expires_at: item
            .expires_at
            .and_then(|t| Timestamp::from_unix_timestamp(t).ok())
            .unwrap_or(created_at),
    })
}

/// The account's exports, expired ones included (their files may still be there).
pub fn all(account: &AccountId) -> crate::ports::Query {
    crate::ports::Query::partition(table::account_partition(account))
        .begins_with(table::EXPORT_PREFIX)
        .including_expired()
}

/// Whether an export is queued or running, and when it was made (epoch ms).
pub fn pending_since(item: &Item) -> (bool, i64) {
    let pending = matches!(
        status(item),
        Ok(ExportStatus::Queued | ExportStatus::Running)
    );
    (pending, item.opt_n("created_at").unwrap_or(0))
}

/// The export's id and whether it expired by `now` (epoch seconds).
pub fn expired(item: &Item, now: i64) -> Option<ExportId> {
    let expired = item.expires_at.is_some_and(|t| t <= now);
    expired
        .then(|| super::id_after(item, table::EXPORT_PREFIX).ok())
        .flatten()
}

pub fn status(item: &Item) -> Result<ExportStatus, RecordError> {
    let s = item.s("status")?;
    Ok(ExportStatus::parse(s).ok_or_else(|| super::corrupt(format!("export status {s}")))?)
}

pub fn running(account: &AccountId, id: &ExportId) -> Update {
    Update::new(table::export(account, id))
        .set("status", Value::S(ExportStatus::Running.as_str().into()))
        .when(Condition::Exists)
}

pub fn done(
    account: &AccountId,
    id: &ExportId,
    size: u64,
    counts: &BTreeMap<String, u64>,
    at: Timestamp,
) -> Update {
    let mut update = Update::new(table::export(account, id))
        .set("status", Value::S(ExportStatus::Done.as_str().into()))
        .set("size", Value::N(size as i64))
        .set("finished_at", Value::N(to_millis(at)))
        .when(Condition::Exists);
    for (kind, n) in counts {
        update = update.set(&format!("count_{kind}"), Value::N(*n as i64));
    }
    update
}

/// Where the export's file is kept.
pub fn file_key(account: &AccountId, id: &ExportId) -> Result<BlobKey, BlobError> {
    BlobKey::parse(&format!("exports/{account}/{id}.ndjson"))
}
