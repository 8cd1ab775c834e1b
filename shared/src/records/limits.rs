//! Fixed-window request counters: one item per tenant per second (counting the account's
//! requests and each key's), one per client address per hour for signups. One conditional
//! update a request, no read: the count goes up only while under the limits.

use sha2::{Digest, Sha256};

use crate::domain::{AccountId, ApiKeyId};
use crate::ports::{Condition, Item, Update, Value};
use crate::table;

const ACCOUNT: &str = "n";

fn key_attr(key: &ApiKeyId) -> String {
    format!("k_{key}")
}

/// A short digest, so that the counters name no tenant and no address.
fn digest(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

/// Under `limit` (or not counted yet).
fn under(name: &str, limit: u32) -> Condition {
    Condition::Or(vec![
        Condition::NotExists,
        Condition::AttributeNotExists(name.to_owned()),
        Condition::LessThan(name.to_owned(), Value::N(i64::from(limit))),
    ])
}

/// Counts one request of `key` in the window `second`, if the account and the key are both
/// under their limits.
pub fn count_request(
    account: &AccountId,
    key: &ApiKeyId,
    second: i64,
    per_account: u32,
    per_key: u32,
) -> Update {
    let k = key_attr(key);
    Update::new(table::request_window(&digest(&account.to_string()), second))
        .add(ACCOUNT, 1)
        .add(&k, 1)
        .expire(Some(second + 60))
        .when(Condition::And(vec![
            under(ACCOUNT, per_account),
            under(&k, per_key),
        ]))
}

/// The window's counter item, read to tell which limit a refused request hit.
pub fn request_window(account: &AccountId, second: i64) -> crate::ports::Key {
    table::request_window(&digest(&account.to_string()), second)
}

/// Whether the account's count in a window reached `limit` (else the key's did).
pub fn account_full(item: Option<&Item>, limit: u32) -> bool {
    item.and_then(|i| i.opt_n(ACCOUNT))
        .is_some_and(|n| n >= i64::from(limit))
}

/// Counts one signup from `address` in the window `hour`, if under `limit`.
pub fn count_signup(address: &str, hour: i64, limit: u32) -> Update {
    Update::new(table::signup_window(&digest(address), hour))
        .add(ACCOUNT, 1)
        .expire(Some((hour + 1) * 3600 + 60))
        .when(under(ACCOUNT, limit))
}

/// Counts one login attempt of `subject` (an email's blind index, or a client address) in the
/// window `window`, if under `limit`; the counter lives a window and a minute.
pub fn count_login(subject: &str, window: i64, window_seconds: i64, limit: u32) -> Update {
    Update::new(table::login_window(&digest(subject), window))
        .add(ACCOUNT, 1)
        .expire(Some((window + 1) * window_seconds + 60))
        .when(under(ACCOUNT, limit))
}
