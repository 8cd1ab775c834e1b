//! A lease on an item, so that one job at a time does its work: the holder is named (the queue
//! message's id), so the same job delivered again after a crash takes its own lease back, and
//! another may take it once it has lapsed. Imports and account erasures hold one.

use crate::ports::{Condition, Update, Value};

const OWNER: &str = "lease_owner";
const UNTIL: &str = "lease_until";

/// Sets the lease to `owner` until `until_ms`; pair with [`free_for`].
pub fn take(update: Update, owner: &str, until_ms: i64) -> Update {
    update
        .set(OWNER, Value::S(owner.into()))
        .set(UNTIL, Value::N(until_ms))
}

/// Nobody but `owner` holds a live lease at `now_ms`.
pub fn free_for(owner: &str, now_ms: i64) -> Condition {
    Condition::Or(vec![
        Condition::AttributeNotExists(UNTIL.into()),
        Condition::LessThan(UNTIL.into(), Value::N(now_ms)),
        held_by(owner),
    ])
}

pub fn held_by(owner: &str) -> Condition {
    Condition::Equals(OWNER.into(), Value::S(owner.into()))
}

/// Moves the end of a held lease to `until_ms`.
pub fn extend(update: Update, until_ms: i64) -> Update {
    update.set(UNTIL, Value::N(until_ms))
}

/// Gives the lease up; pair with [`held_by`].
pub fn give_up(update: Update) -> Update {
    update.remove(UNTIL).remove(OWNER)
}
