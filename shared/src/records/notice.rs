//! Notices: Meta's WABA-level news (template status, account and quality updates, webhook
//! errors) and our own (a new privacy policy), their content sealed.

use super::{from_json, from_millis, opt_millis, to_millis, RecordError, Sealer};
use crate::domain::{AccountId, Notice, PhoneNumberId, Timestamp};
use crate::ports::{Condition, Item, Query, Update, Value};
use crate::table;

const ENTITY: &str = "notice";
/// Sealed fields of a notice: its payload.
pub const SEALED: u64 = 1;

/// A notice's item; `expires_at` (epoch seconds) for Meta's, none for ours.
pub fn to_item(s: &Sealer, n: &Notice, expires_at: Option<i64>) -> Result<Item, RecordError> {
    let key = table::notice(s.tenant(), &n.id);
    let mut item = Item::new(key.clone())
        .with("field", Value::S(n.field.clone()))
        .with(
            "payload",
            s.seal_str(ENTITY, &key, "payload", &n.payload.to_string())?,
        )
        .with("received_at", Value::N(to_millis(n.received_at)));
    if let Some(e) = &n.event {
        item = item.with("event", Value::S(e.clone()));
    }
    if let Some(number) = &n.number {
        item = item.with("number", Value::S(number.to_string()));
    }
    if let Some(at) = n.read_at {
        item = item.with("read_at", Value::N(to_millis(at)));
    }
    Ok(match expires_at {
        Some(t) => item.expiring_at(t),
        None => item,
    })
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<Notice, RecordError> {
    Ok(Notice {
        id: item
            .key
            .sk
            .trim_start_matches(table::NOTICE_PREFIX)
            .to_owned(),
        field: item.s("field")?.to_owned(),
        event: item.opt_s("event").map(str::to_owned),
        number: item.opt_s("number").map(PhoneNumberId::parse).transpose()?,
        payload: from_json(&s.open(ENTITY, item, "payload")?)?,
        received_at: from_millis(item.n("received_at")?)?,
        read_at: opt_millis(item, "read_at")?,
    })
}

/// The account's notices, oldest first.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::NOTICE_PREFIX)
}

/// Marks a notice read, if it exists.
pub fn read(account: &AccountId, id: &str, at: Timestamp) -> Update {
    Update::new(table::notice(account, id))
        .set("read_at", Value::N(to_millis(at)))
        .when(Condition::Exists)
}
