//! The item store: one table with DynamoDB semantics.
//!
//! Every item has a partition key `pk` and a sort key `sk`, may take part in one global
//! secondary index (`gsi1pk`/`gsi1sk`, eventually consistent on AWS), and may carry an expiry
//! (`ttl`, epoch seconds). An expired item is gone for every read and every condition, whether
//! or not the backend has physically removed it yet (DynamoDB's TTL sweeper lags by hours).

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Attribute names the store uses itself; items may not use them in [`Item::attrs`].
pub const RESERVED_ATTRIBUTES: [&str; 5] = ["pk", "sk", "gsi1pk", "gsi1sk", "ttl"];

/// Most items one [`ItemStore::transact`] call may write (DynamoDB's limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// Most keys one [`ItemStore::batch_get`] call takes (adapters split them as the backend needs).
pub const MAX_BATCH_GET: usize = 1000;

/// Most items one [`Query`] page may hold.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// An attribute value: the subset of DynamoDB's types the core uses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Value {
    S(String),
    N(i64),
    #[serde(with = "b64")]
    B(Vec<u8>),
    Bool(bool),
    L(Vec<Value>),
    M(BTreeMap<String, Value>),
    Null,
}

pub type Attrs = BTreeMap<String, Value>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    /// The item's keys in the global secondary index, if it takes part in it.
    pub gsi1: Option<Key>,
    /// Epoch seconds after which the item no longer exists for readers.
    pub expires_at: Option<i64>,
    pub attrs: Attrs,
}

impl Item {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            gsi1: None,
            expires_at: None,
            attrs: Attrs::new(),
        }
    }

    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.attrs.insert(name.to_owned(), value);
        self
    }

    pub fn with_gsi1(mut self, key: Key) -> Self {
        self.gsi1 = Some(key);
        self
    }

    pub fn expiring_at(mut self, epoch_seconds: i64) -> Self {
        self.expires_at = Some(epoch_seconds);
        self
    }

    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }

    pub fn s(&self, name: &str) -> Result<&str, StoreError> {
        match self.attrs.get(name) {
            Some(Value::S(s)) => Ok(s),
            _ => Err(self.missing(name, "S")),
        }
    }

    pub fn opt_s(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Value::S(s)) => Some(s),
            _ => None,
        }
    }

    pub fn n(&self, name: &str) -> Result<i64, StoreError> {
        match self.attrs.get(name) {
            Some(Value::N(n)) => Ok(*n),
            _ => Err(self.missing(name, "N")),
        }
    }

    pub fn opt_n(&self, name: &str) -> Option<i64> {
        match self.attrs.get(name) {
            Some(Value::N(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        match self.attrs.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn b(&self, name: &str) -> Result<&[u8], StoreError> {
        match self.attrs.get(name) {
            Some(Value::B(b)) => Ok(b),
            _ => Err(self.missing(name, "B")),
        }
    }

    pub fn opt_b(&self, name: &str) -> Option<&[u8]> {
        match self.attrs.get(name) {
            Some(Value::B(b)) => Some(b),
            _ => None,
        }
    }

    fn missing(&self, name: &str, kind: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "item {}/{} has no {kind} attribute `{name}`",
            self.key.pk, self.key.sk
        ))
    }

    /// Rejects items the store cannot hold: reserved attribute names, empty keys.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.key.pk.is_empty() || self.key.sk.is_empty() {
            return Err(StoreError::Invalid("empty key".into()));
        }
        if let Some(g) = &self.gsi1 {
            if g.pk.is_empty() || g.sk.is_empty() {
                return Err(StoreError::Invalid("empty gsi1 key".into()));
            }
        }
        if let Some(name) = self.attrs.keys().find(|n| is_reserved(n)) {
            return Err(StoreError::Invalid(format!(
                "attribute `{name}` is reserved"
            )));
        }
        Ok(())
    }
}

pub fn is_reserved(name: &str) -> bool {
    RESERVED_ATTRIBUTES.contains(&name)
}

/// A condition on the item currently stored at a key. An expired item counts as absent.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// No live item at the key.
    NotExists,
    /// A live item at the key.
    Exists,
    /// The item exists and the attribute equals the value.
    Equals(String, Value),
    /// The item exists and the attribute is less than the value (same type only).
    LessThan(String, Value),
    /// The item exists and lacks the attribute.
    AttributeNotExists(String),
    /// The item exists and the list attribute holds the value.
    Contains(String, Value),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    /// Evaluates the condition against the live item (if any) at the key. Backends without
    /// native conditions (SQLite) use this; the DynamoDB adapter translates instead.
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match self {
            Condition::NotExists => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::Equals(name, v) => current.and_then(|i| i.attrs.get(name)) == Some(v),
            Condition::LessThan(name, v) => current
                .and_then(|i| i.attrs.get(name))
                .is_some_and(|cur| same_type(cur, v) && cur < v),
            Condition::AttributeNotExists(name) => {
                current.is_some_and(|i| !i.attrs.contains_key(name))
            }
            Condition::Contains(name, v) => {
                matches!(current.and_then(|i| i.attrs.get(name)), Some(Value::L(l)) if l.contains(v))
            }
            Condition::And(cs) => cs.iter().all(|c| c.holds(current)),
            Condition::Or(cs) => cs.iter().any(|c| c.holds(current)),
        }
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// One change of an [`Update`].
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Set(String, Value),
    Remove(String),
    /// Atomic counter: adds to a numeric attribute, starting from 0 if absent.
    Add(String, i64),
    /// Appends to a list attribute, starting from an empty list if absent.
    Append(String, Value),
    /// Sets (`Some`) or clears (`None`) the expiry.
    Expire(Option<i64>),
    /// Moves the item in (`Some`) or out of (`None`) the secondary index.
    Index(Option<Key>),
}

/// An update of one item; like DynamoDB's UpdateItem it creates the item when absent unless
/// the condition says otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub key: Key,
    pub changes: Vec<Change>,
    pub condition: Option<Condition>,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            changes: Vec::new(),
            condition: None,
        }
    }

    pub fn set(mut self, name: &str, value: Value) -> Self {
        self.changes.push(Change::Set(name.to_owned(), value));
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.changes.push(Change::Remove(name.to_owned()));
        self
    }

    pub fn add(mut self, name: &str, by: i64) -> Self {
        self.changes.push(Change::Add(name.to_owned(), by));
        self
    }

    pub fn append(mut self, name: &str, value: Value) -> Self {
        self.changes.push(Change::Append(name.to_owned(), value));
        self
    }

    pub fn expire(mut self, at: Option<i64>) -> Self {
        self.changes.push(Change::Expire(at));
        self
    }

    pub fn index(mut self, key: Option<Key>) -> Self {
        self.changes.push(Change::Index(key));
        self
    }

    pub fn when(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }

    pub fn check(&self) -> Result<(), StoreError> {
        if self.changes.is_empty() {
            return Err(StoreError::Invalid("update without changes".into()));
        }
        for c in &self.changes {
            match c {
                Change::Set(n, _)
                | Change::Remove(n)
                | Change::Add(n, _)
                | Change::Append(n, _)
                    if is_reserved(n) =>
                {
                    return Err(StoreError::Invalid(format!("attribute `{n}` is reserved")));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies the changes to the current item (or a fresh one); the local adapter's UpdateItem.
    pub fn apply(&self, current: Option<Item>) -> Result<Item, StoreError> {
        let mut item = current.unwrap_or_else(|| Item::new(self.key.clone()));
        for change in &self.changes {
            match change {
                Change::Set(n, v) => {
                    item.attrs.insert(n.clone(), v.clone());
                }
                Change::Remove(n) => {
                    item.attrs.remove(n);
                }
                Change::Add(n, by) => {
                    let cur = match item.attrs.get(n) {
                        None => 0,
                        Some(Value::N(x)) => *x,
                        Some(_) => {
                            return Err(StoreError::Invalid(format!("`{n}` is not a number")))
                        }
                    };
                    item.attrs.insert(n.clone(), Value::N(cur + by));
                }
                Change::Append(n, v) => match item.attrs.entry(n.clone()) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(Value::L(vec![v.clone()]));
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => match e.get_mut() {
                        Value::L(l) => l.push(v.clone()),
                        _ => return Err(StoreError::Invalid(format!("`{n}` is not a list"))),
                    },
                },
                Change::Expire(at) => item.expires_at = *at,
                Change::Index(key) => item.gsi1 = key.clone(),
            }
        }
        Ok(item)
    }
}

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    Update(Update),
    /// Writes nothing; the transaction fails unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    pub fn put(item: Item) -> Self {
        Write::Put {
            item,
            condition: None,
        }
    }

    pub fn put_new(item: Item) -> Self {
        Write::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Delete { key, .. } | Write::Check { key, .. } => key,
            Write::Update(u) => &u.key,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Index {
    /// The table itself: strongly consistent.
    #[default]
    Table,
    /// The global secondary index on `gsi1pk`/`gsi1sk`: eventually consistent on AWS.
    Gsi1,
}

/// A condition on the sort key of a query.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SortCondition {
    #[default]
    Any,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    GreaterThan(String),
    LessThan(String),
}

impl SortCondition {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SortCondition::Any => true,
            SortCondition::BeginsWith(p) => sk.starts_with(p.as_str()),
            SortCondition::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            SortCondition::GreaterThan(a) => sk > a.as_str(),
            SortCondition::LessThan(b) => sk < b.as_str(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub sort: SortCondition,
    /// Ascending sort key when true.
    pub forward: bool,
    /// Items read (up to `limit`), then those failing the filter dropped, as DynamoDB's
    /// FilterExpression does: a page may hold fewer items than `limit` and still have a cursor.
    pub limit: u32,
    pub cursor: Option<Cursor>,
    pub filter: Option<Condition>,
    /// Also items whose `ttl` has passed but that are still stored (DynamoDB's sweeper lags
    /// by up to days): for erasing everything, not for reading.
    pub include_expired: bool,
    /// Each item's keys (table and index) only, none of its attributes: what a query merged
    /// with others needs to pick a page before reading it (an index query otherwise reads
    /// every item it finds whole).
    pub keys_only: bool,
}

impl Query {
    pub fn partition(partition: impl Into<String>) -> Self {
        Self {
            index: Index::Table,
            partition: partition.into(),
            sort: SortCondition::Any,
            forward: true,
            limit: 100,
            cursor: None,
            filter: None,
            include_expired: false,
            keys_only: false,
        }
    }

    pub fn gsi1(partition: impl Into<String>) -> Self {
        Self {
            index: Index::Gsi1,
            ..Self::partition(partition)
        }
    }

    pub fn begins_with(mut self, prefix: impl Into<String>) -> Self {
        self.sort = SortCondition::BeginsWith(prefix.into());
        self
    }

    pub fn sort(mut self, sort: SortCondition) -> Self {
        self.sort = sort;
        self
    }

    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    pub fn filter(mut self, filter: Option<Condition>) -> Self {
        self.filter = filter;
        self
    }

    pub fn including_expired(mut self) -> Self {
        self.include_expired = true;
        self
    }

    pub fn keys_only(mut self) -> Self {
        self.keys_only = true;
        self
    }

    /// The time an item's `ttl` is compared with: none has passed when expired items count.
    pub fn live_after(&self, now: i64) -> i64 {
        if self.include_expired {
            i64::MIN
        } else {
            now
        }
    }

    pub fn check(&self) -> Result<(), StoreError> {
        if self.partition.is_empty() {
            return Err(StoreError::Invalid("empty partition".into()));
        }
        if self.include_expired && self.index != Index::Table {
            return Err(StoreError::Invalid(
                "expired items are found on the table, not through an index".into(),
            ));
        }
        if self.keys_only && self.filter.is_some() {
            return Err(StoreError::Invalid(
                "a keys-only query has no attributes to filter on".into(),
            ));
        }
        if self.limit == 0 || self.limit > MAX_PAGE_SIZE {
            return Err(StoreError::Invalid(format!(
                "limit must be within 1..={MAX_PAGE_SIZE}"
            )));
        }
        Ok(())
    }
}

/// Where the next page starts: the keys of the last item returned. Opaque to callers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub last: Key,
    /// The last item's index keys, for index queries.
    #[serde(rename = "g", skip_serializing_if = "Option::is_none", default)]
    pub last_gsi1: Option<Key>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(s: &str) -> Result<Self, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| StoreError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
    }

    /// A cursor is only valid for the partition (and index) it came from.
    pub fn check_for(&self, query: &Query) -> Result<(), StoreError> {
        let ok = match query.index {
            Index::Table => self.last.pk == query.partition && self.last_gsi1.is_none(),
            Index::Gsi1 => self
                .last_gsi1
                .as_ref()
                .is_some_and(|g| g.pk == query.partition),
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::InvalidCursor)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold; for transactions, `index` names the write.
    #[error("condition failed (write {index:?})")]
    ConditionFailed { index: Option<usize> },
    /// A transaction collided with another one on the same items; retry.
    #[error("transaction conflict")]
    Conflict,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("throttled by the store")]
    Throttled,
    #[error("stored item is not what the code expects: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, StoreError::ConditionFailed { .. })
    }
}

#[async_trait]
pub trait ItemStore: Send + Sync {
    /// A strongly consistent read of one live item.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Returns the item as it is after the update.
    async fn update(&self, update: Update) -> Result<Item, StoreError>;

    /// Returns the live item that was deleted, if any.
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError>;

    async fn query(&self, query: Query) -> Result<Page, StoreError>;

    /// Strongly consistent reads of up to [`MAX_BATCH_GET`] keys; the answer is in key order,
    /// `None` where no live item is.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// All writes or none, each with its own condition; at most
    /// [`ItemStore::max_transaction_writes`], no two on the same key.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// How many writes one transaction may hold: DynamoDB's 100 unless a backend takes more
    /// (bulk work such as imports packs its writes up to this).
    fn max_transaction_writes(&self) -> usize {
        MAX_TRANSACTION_WRITES
    }
}

/// Checks what every adapter must reject before touching the backend.
pub fn check_transaction(writes: &[Write], max: usize) -> Result<(), StoreError> {
    if writes.is_empty() || writes.len() > max {
        return Err(StoreError::Invalid(format!(
            "a transaction takes 1..={max} writes"
        )));
    }
    let mut keys: Vec<&Key> = writes.iter().map(Write::key).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::Invalid(
            "two writes on the same key in one transaction".into(),
        ));
    }
    for w in writes {
        match w {
            Write::Put { item, .. } => item.check()?,
            Write::Update(u) => u.check()?,
            _ => {}
        }
    }
    Ok(())
}

pub fn check_batch_get(keys: &[Key]) -> Result<(), StoreError> {
    if keys.len() > MAX_BATCH_GET {
        return Err(StoreError::Invalid(format!(
            "batch_get takes at most {MAX_BATCH_GET} keys"
        )));
    }
    Ok(())
}

pub fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            last: Key::new("A", "B#1"),
            last_gsi1: None,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(matches!(
            Cursor::decode("not a cursor!"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn cursor_from_another_partition_is_refused() {
        let c = Cursor {
            last: Key::new("TENANT#a", "X"),
            last_gsi1: None,
        };
        assert!(c.check_for(&Query::partition("TENANT#a")).is_ok());
        assert!(c.check_for(&Query::partition("TENANT#b")).is_err());
        assert!(c.check_for(&Query::gsi1("TENANT#a")).is_err());
    }

    #[test]
    fn conditions_evaluate_like_dynamodb() {
        let item = Item::new(Key::new("p", "s")).with("n", Value::N(3));
        assert!(Condition::Exists.holds(Some(&item)));
        assert!(!Condition::NotExists.holds(Some(&item)));
        assert!(Condition::LessThan("n".into(), Value::N(4)).holds(Some(&item)));
        assert!(!Condition::LessThan("n".into(), Value::S("4".into())).holds(Some(&item)));
        assert!(!Condition::LessThan("missing".into(), Value::N(4)).holds(Some(&item)));
        assert!(Condition::AttributeNotExists("x".into()).holds(Some(&item)));
        assert!(!Condition::AttributeNotExists("x".into()).holds(None));
        let either = Condition::Or(vec![
            Condition::NotExists,
            Condition::Equals("n".into(), Value::N(3)),
        ]);
        assert!(either.holds(None) && either.holds(Some(&item)));
    }

    #[test]
    fn reserved_names_are_refused() {
        let item = Item::new(Key::new("p", "s")).with("ttl", Value::N(1));
        assert!(item.check().is_err());
        assert!(Update::new(Key::new("p", "s"))
            .set("pk", Value::N(1))
            .check()
            .is_err());
    }
}
