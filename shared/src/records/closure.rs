//! The receipt of an account closure, kept by the SHA-256 of the token handed out with it.

use std::collections::BTreeMap;

use super::{from_millis, opt_millis, to_millis, RecordError};
use crate::domain::{AccountId, ClosureReceipt, Timestamp};
use crate::ports::{Item, Key, Update, Value};
use crate::table;

pub fn key(token_hash: &str) -> Key {
    table::receipt(token_hash)
}

/// The receipt a closing account's record names (by its partition).
pub fn key_at(partition: &str) -> Key {
    table::receipt_at(partition)
}

pub fn new_item(token_hash: &str, account: &AccountId, at: Timestamp, expires_at: i64) -> Item {
    Item::new(table::receipt(token_hash))
        .with("account_id", Value::S(account.to_string()))
        .with("state", Value::S("closing".into()))
        .with("requested_at", Value::N(to_millis(at)))
        .expiring_at(expires_at)
}

/// Counts items deleted, by kind.
pub fn deleted(receipt: &Key, counts: &BTreeMap<String, i64>) -> Update {
    let mut update = Update::new(receipt.clone());
    for (kind, n) in counts {
        update = update.add(&format!("deleted_{kind}"), *n);
    }
    update
}

/// Objects an erasure pass deleted.
pub fn objects(receipt: &Key, objects: u64) -> Update {
    Update::new(receipt.clone()).add("deleted_objects", objects as i64)
}

/// The erasure is done: the key destroyed.
pub fn closed(receipt: &Key, at: Timestamp) -> Update {
    Update::new(receipt.clone())
        .set("state", Value::S("closed".into()))
        .set("key_destroyed", Value::Bool(true))
        .set("finished_at", Value::N(to_millis(at)))
}

pub fn from_item(item: &Item) -> Result<ClosureReceipt, RecordError> {
    let mut deleted = BTreeMap::new();
    for (name, value) in &item.attrs {
        if let (Some(kind), Value::N(n)) = (name.strip_prefix("deleted_"), value) {
            deleted.insert(kind.to_owned(), (*n).max(0) as u64);
        }
    }
    Ok(ClosureReceipt {
        account_id: item.s("account_id")?.to_owned(),
        state: item.s("state")?.to_owned(),
        requested_at: from_millis(item.n("requested_at")?)?,
        finished_at: opt_millis(item, "finished_at")?,
        deleted,
        key_destroyed: item.opt_bool("key_destroyed").unwrap_or(false),
        backups_hold_until: opt_millis(item, "finished_at")?
            .map(|at| at + time::Duration::days(crate::domain::closure::BACKUP_DAYS)),
    })
}
