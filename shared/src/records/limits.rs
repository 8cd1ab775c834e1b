//! Fixed-window request counters: one item per tenant per second (counting the account's
//! requests and each key's; spread over a few items when the account's limit is high), one
//! per client address per hour for signups. One conditional update a request, no read: the
//! count goes up only while under the limits.

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

/// Requests one item of a second's window takes before the window spreads over more: DynamoDB
/// writes an item at most 1,000 times a second, and a refused request's write counts too.
const REQUESTS_PER_SHARD: u32 = 500;

/// The items a second's window of an account spreads over: one up to 500 requests a second
/// (exact counts), then one more per 500, each counting its share of the limits.
pub fn window_shards(per_account: u32) -> u8 {
    per_account.div_ceil(REQUESTS_PER_SHARD).clamp(1, 16) as u8
}

/// A limit's share in one of `shards` items (rounded up: at most `shards - 1` over in all).
fn share(limit: u32, shards: u8) -> u32 {
    limit.div_ceil(u32::from(shards.max(1)))
}

/// Counts one request of `key` in the window `second`'s item `shard` (of `shards`), if the
/// account and the key are both under their shares of the limits there.
pub fn count_request(
    account: &AccountId,
    key: &ApiKeyId,
    (second, shard, shards): (i64, u8, u8),
    per_account: u32,
    per_key: u32,
) -> Update {
    let k = key_attr(key);
    Update::new(request_window(account, second, shard))
        .add(ACCOUNT, 1)
        .add(&k, 1)
        .expire(Some(second + 60))
        .when(Condition::And(vec![
            under(ACCOUNT, share(per_account, shards)),
            under(&k, share(per_key, shards)),
        ]))
}

/// One item of the window's counters, read to tell which limit a refused request hit.
pub fn request_window(account: &AccountId, second: i64, shard: u8) -> crate::ports::Key {
    table::request_window(&digest(&account.to_string()), second, shard)
}

/// Whether the account's count in one of a window's `shards` items reached its share of
/// `limit` (else the key's did).
pub fn account_full(item: Option<&Item>, limit: u32, shards: u8) -> bool {
    item.and_then(|i| i.opt_n(ACCOUNT))
        .is_some_and(|n| n >= i64::from(share(limit, shards)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Applies `update` as the store would: only when its condition holds.
    fn admit(items: &mut HashMap<crate::ports::Key, Item>, update: &Update) -> bool {
        let current = items.get(&update.key).cloned();
        if !update
            .condition
            .as_ref()
            .is_none_or(|c| c.holds(current.as_ref()))
        {
            return false;
        }
        items.insert(update.key.clone(), update.apply(current).unwrap());
        true
    }

    /// Up to 500 requests a second a window is one item and its counts are exact; above, each
    /// of its items counts a share of the limits, and together they let the limit through.
    #[test]
    fn a_high_limits_window_spreads_over_items_that_share_it() {
        assert_eq!(window_shards(300), 1);
        assert_eq!(window_shards(500), 1);
        assert_eq!(window_shards(1_000), 2);
        assert_eq!(window_shards(1_200), 3);
        assert_eq!(window_shards(100_000), 16);

        let account = AccountId::generate();
        let key = ApiKeyId::generate();
        let (per_account, per_key) = (1_200, 900);
        let shards = window_shards(per_account);
        let mut items = HashMap::new();
        let mut admitted = 0;
        for n in 0..2_000u32 {
            let shard = (n % u32::from(shards)) as u8;
            let update = count_request(&account, &key, (7, shard, shards), per_account, per_key);
            admitted += u32::from(admit(&mut items, &update));
        }
        // The key's share is 300 an item: its limit, the lower, is the one hit.
        assert_eq!(admitted, per_key);
        assert_eq!(items.len(), usize::from(shards));
        let full = items.get(&request_window(&account, 7, 0));
        assert!(!account_full(full, per_account, shards));
        // Another key fills the rest of the account's share (400 an item, 300 taken): then
        // the account is full there.
        let other = ApiKeyId::generate();
        for _ in 0..100 {
            let update = count_request(&account, &other, (7, 0, shards), per_account, per_key);
            assert!(admit(&mut items, &update));
        }
        let update = count_request(&account, &other, (7, 0, shards), per_account, per_key);
        assert!(!admit(&mut items, &update));
        let full = items.get(&request_window(&account, 7, 0));
        assert!(account_full(full, per_account, shards));
        // Another second is another window.
        let update = count_request(&account, &key, (8, 0, shards), per_account, per_key);
        assert!(admit(&mut items, &update));
    }
}
