//! The last background count of what an account holds (the right of access), and the claim
//! of the count running now.

use super::{from_millis, RecordError};
use crate::domain::{AccountId, Timestamp};
use crate::ports::{Condition, Item, Key, Update, Value};
use crate::table;

pub fn key(account: &AccountId) -> Key {
    table::inventory(account)
}

/// The stored count (its JSON) and when it was made, if a count is stored.
pub fn count(item: &Item) -> Result<Option<(String, Timestamp)>, RecordError> {
    match item.opt_s("count") {
        Some(json) => Ok(Some((json.to_owned(), from_millis(item.n("counted_at")?)?))),
        None => Ok(None),
    }
}

/// Since when (epoch ms) a background count has been running, if one is.
pub fn counting_since(item: &Item) -> Option<i64> {
    item.opt_n("counting_since")
}

/// Claims the next background count at `now_ms`; only one request of several at once gets
/// it (`since`: the claim it saw, if any).
pub fn claim_count(account: &AccountId, since: Option<i64>, now_ms: i64) -> Update {
    Update::new(table::inventory(account))
        .set("counting_since", Value::N(now_ms))
        .when(match since {
            Some(t) => Condition::Equals("counting_since".into(), Value::N(t)),
            None => Condition::Or(vec![
                Condition::NotExists,
                Condition::AttributeNotExists("counting_since".into()),
            ]),
        })
}

/// Stores a finished count.
pub fn counted(account: &AccountId, json: String, at_ms: i64) -> Update {
    Update::new(table::inventory(account))
        .set("count", Value::S(json))
        .set("counted_at", Value::N(at_ms))
        .remove("counting_since")
}
