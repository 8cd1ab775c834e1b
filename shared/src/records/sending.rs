//! The small items that pace and gate sending: each number's token bucket, the last send to
//! each (number, contact) pair, and each pair's 24-hour service window.

use crate::domain::{AccountId, ContactId, PhoneNumberId};
use crate::ports::{Condition, Item, Key, Value};
use crate::table;

// ---- the number's token bucket ----

pub fn bucket(number: &PhoneNumberId) -> Key {
    table::send_rate(number)
}

/// Tokens (in thousandths) and when they were counted (epoch ms), if the bucket exists.
pub fn bucket_state(item: &Item) -> (Option<i64>, Option<i64>) {
    (item.opt_n("milli_tokens"), item.opt_n("at"))
}

/// The bucket after taking tokens, written only if nobody else took any since it was read
/// (`read`: the item as read).
pub fn bucket_item(
    number: &PhoneNumberId,
    milli_tokens: i64,
    at_ms: i64,
    read: Option<&Item>,
) -> (Item, Condition) {
    let item = Item::new(table::send_rate(number))
        .with("milli_tokens", Value::N(milli_tokens))
        .with("at", Value::N(at_ms));
    let condition = match read {
        Some(c) => match c.opt_n("at") {
            Some(at) => Condition::Equals("at".into(), Value::N(at)),
            None => Condition::Exists,
        },
        None => Condition::NotExists,
    };
    (item, condition)
}

// ---- the pair's last send ----

pub fn pair(number: &PhoneNumberId, contact: &ContactId) -> Key {
    table::pair(number, contact)
}

/// Reserves the pair's slot at `now_ms`, if its last send was at least `interval_ms` ago.
pub fn pair_slot(
    number: &PhoneNumberId,
    contact: &ContactId,
    now_ms: i64,
    interval_ms: i64,
) -> (Item, Condition) {
    let item = Item::new(table::pair(number, contact))
        .with("last_ms", Value::N(now_ms))
        .expiring_at(now_ms / 1000 + interval_ms / 1000 + 60);
    let free = Condition::Or(vec![
        Condition::NotExists,
        Condition::LessThan("last_ms".into(), Value::N(now_ms - interval_ms + 1)),
    ]);
    (item, free)
}

pub fn last_send_ms(item: &Item) -> Option<i64> {
    item.opt_n("last_ms")
}

// ---- the service window ----

pub fn window(account: &AccountId, number: &PhoneNumberId, contact: &ContactId) -> Key {
    table::window(account, number, contact)
}

/// Opens (or extends) the window until `until_ms`, unless it is open longer already.
pub fn window_until(
    account: &AccountId,
    number: &PhoneNumberId,
    contact: &ContactId,
    until_ms: i64,
) -> (Item, Condition) {
    let item = Item::new(table::window(account, number, contact))
        .with("open_until", Value::N(until_ms))
        .expiring_at(until_ms / 1000 + 1);
    let later = Condition::Or(vec![
        Condition::NotExists,
        Condition::LessThan("open_until".into(), Value::N(until_ms)),
    ]);
    (item, later)
}

pub fn open_until_ms(item: &Item) -> Option<i64> {
    item.opt_n("open_until")
}
