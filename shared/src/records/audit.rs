//! The audit log: one item per entry, append-only, ids ordered by time.

use super::{from_millis, to_millis, RecordError};
use crate::domain::{AccountId, AuditEntry, AuditTarget};
use crate::ports::{Item, Query, Value};
use crate::table;

pub fn to_item(account: &AccountId, e: &AuditEntry) -> Item {
    let mut item = Item::new(table::audit(account, &e.id))
        .with("action", Value::S(e.action.clone()))
        .with("actor", Value::S(e.actor.clone()))
        .with("at", Value::N(to_millis(e.at)));
    if let Some(t) = &e.target {
        item = item
            .with("target_kind", Value::S(t.kind.clone()))
            .with("target_id", Value::S(t.id.clone()));
    }
    item
}

pub fn from_item(item: &Item) -> Result<AuditEntry, RecordError> {
    Ok(AuditEntry {
        id: item
            .key
            .sk
            .trim_start_matches(table::AUDIT_PREFIX)
            .to_owned(),
        action: item.s("action")?.to_owned(),
        actor: item.s("actor")?.to_owned(),
        target: item
            .opt_s("target_kind")
            .zip(item.opt_s("target_id"))
            .map(|(kind, id)| AuditTarget {
                kind: kind.to_owned(),
                id: id.to_owned(),
            }),
        at: from_millis(item.n("at")?)?,
    })
}

/// The log, oldest first.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::AUDIT_PREFIX)
}
