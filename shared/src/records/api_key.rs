//! API keys: a record in the tenant's partition (name, prefix, hash; never the key) and a
//! lookup by the key's hash, which authentication reads and revocation deletes.

use super::{from_millis, id_after, opt_millis, to_millis, RecordError};
use crate::domain::{AccountId, ApiKey, ApiKeyId, ApiKeyName, Timestamp};
use crate::ports::{Condition, Item, Key, Query, Update, Value, Write};
use crate::table;

/// The record and the lookup of a new key, each written only if absent.
pub fn new_writes(account: &AccountId, key: &ApiKey, hash_hex: &str) -> Vec<Write> {
    let record = Item::new(table::api_key(account, &key.id))
        .with("name", Value::S(key.name.as_str().into()))
        .with("prefix", Value::S(key.prefix.clone()))
        .with("hash", Value::S(hash_hex.to_owned()))
        .with("created_at", Value::N(to_millis(key.created_at)));
    let lookup = Item::new(table::api_key_lookup(hash_hex))
        .with("account_id", Value::S(account.to_string()))
        .with("key_id", Value::S(key.id.to_string()));
    vec![Write::put_new(record), Write::put_new(lookup)]
}

pub fn from_item(item: &Item) -> Result<ApiKey, RecordError> {
    Ok(ApiKey {
        id: id_after(item, table::API_KEY_PREFIX)?,
        name: ApiKeyName::parse(item.s("name")?)?,
        prefix: item.s("prefix")?.to_owned(),
        created_at: from_millis(item.n("created_at")?)?,
        revoked_at: opt_millis(item, "revoked_at")?,
    })
}

/// The account's keys, in id order.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::API_KEY_PREFIX)
}

/// The lookup item of a key, by the key's hash.
pub fn lookup(hash_hex: &str) -> Key {
    table::api_key_lookup(hash_hex)
}

/// Whose key a lookup item is: the tenant and the key's id.
pub fn owner(lookup: &Item) -> Result<(AccountId, ApiKeyId), RecordError> {
    Ok((
        lookup.s("account_id")?.parse()?,
        lookup.s("key_id")?.parse()?,
    ))
}

/// Revokes the key a record describes: its lookup goes (the key stops working at once) and
/// the record is marked, unless it was already.
pub fn revoke(record: &Item, at: Timestamp) -> Result<Vec<Write>, RecordError> {
    Ok(vec![
        Write::Delete {
            key: table::api_key_lookup(record.s("hash")?),
            condition: None,
        },
        Write::Update(
            Update::new(record.key.clone())
                .set("revoked_at", Value::N(to_millis(at)))
                .when(Condition::AttributeNotExists("revoked_at".into())),
        ),
    ])
}

/// What a key record points to outside the partition: its lookup.
pub fn lookup_of(record: &Item) -> Option<Key> {
    record.opt_s("hash").map(table::api_key_lookup)
}
