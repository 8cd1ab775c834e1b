//! How each thing is stored: per entity, its item codec (domain value ⇄ [`Item`]), the
//! queries that list it, and the updates that change it. Keys come from [`crate::table`];
//! services call these and never name an attribute, a key or a sort-key prefix themselves.
//!
//! Sealed fields go through a [`Sealer`]: the tenant's keys checked out once for an item or a
//! page, so codecs are plain functions. Paging is [`list`] (one page, decoded), [`pages`] and
//! [`items`] (every page or item as a stream), [`pages_across`] (every page of several
//! partitions in turn), [`fill`] (a page of a selective filter) and [`fill_across`] (a page of
//! a list spread over partitions, merged newest first by [`newest_across`]): services never
//! follow a cursor by hand.
//!
//! A new stored entity: its type in `domain/`, its keys in `table.rs`, a module here with
//! `to_item`/`from_item` (and its queries and updates), its use cases in `services/`.

pub mod account;
pub mod api_key;
pub mod audit;
pub mod billing;
pub mod broadcast;
pub mod closure;
pub mod contact;
pub mod conversation;
pub mod dead_letter;
pub mod endpoint;
pub mod export;
pub mod import;
pub mod inventory;
pub mod lease;
pub mod limits;
pub mod media;
pub mod message;
pub mod note;
pub mod notice;
pub mod number;
pub mod sending;
pub mod template;
pub mod usage;
pub mod user;

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::crypto::{CryptoError, FieldRef, TenantKeys};
use crate::domain::{AccountId, Invalid, Timestamp};
use crate::ports::{
    Condition, Cursor, Index, Item, ItemStore, Key, Page, Query, SortCondition, StoreError, Value,
};

/// A stored item that does not decode, or a field that does not seal or open.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<Invalid> for RecordError {
    /// A stored value that no longer parses is a bug or tampering, never a caller's fault.
    fn from(e: Invalid) -> Self {
        RecordError::Store(StoreError::Corrupt(e.0))
    }
}

/// What an item of a tenant's partition is, by its sort key: for walks over a whole
/// partition (export, inventory, erasure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Account,
    DataKey,
    ApiKey,
    Number,
    Contact,
    ContactLookup,
    Consent,
    Import,
    Message,
    MessageContent,
    Conversation,
    Notice,
    Media,
    Billing,
    Usage,
    Audit,
    Broadcast,
    BroadcastDefinition,
    BroadcastCounts,
    BroadcastTarget,
    Export,
    Inventory,
    Template,
    User,
    Session,
    Invitation,
    Note,
    /// Anything else (windows, tallies, event markers): counted by its name.
    Other,
}

impl Kind {
    pub fn of(item: &Item) -> Kind {
        use crate::table as t;
        let sk = item.key.sk.as_str();
        let prefixed = [
            (t::API_KEY_PREFIX, Kind::ApiKey),
            (t::NUMBER_PREFIX, Kind::Number),
            (t::CONTACT_PREFIX, Kind::Contact),
            (t::CONTACT_LOOKUP_PREFIX, Kind::ContactLookup),
            (t::CONSENT_PREFIX, Kind::Consent),
            (t::IMPORT_PREFIX, Kind::Import),
            (t::MESSAGE_PREFIX, Kind::Message),
            (t::MESSAGE_CONTENT_PREFIX, Kind::MessageContent),
            (t::CONVERSATION_PREFIX, Kind::Conversation),
            (t::NOTICE_PREFIX, Kind::Notice),
            (t::MEDIA_PREFIX, Kind::Media),
            (t::USAGE_PREFIX, Kind::Usage),
            (t::AUDIT_PREFIX, Kind::Audit),
            (t::BROADCAST_PREFIX, Kind::Broadcast),
            (t::BROADCAST_DEFINITION_PREFIX, Kind::BroadcastDefinition),
            (t::BROADCAST_COUNTS_PREFIX, Kind::BroadcastCounts),
            (t::BROADCAST_TARGET_PREFIX, Kind::BroadcastTarget),
            (t::EXPORT_PREFIX, Kind::Export),
            (t::TEMPLATE_PREFIX, Kind::Template),
            (t::USER_PREFIX, Kind::User),
            (t::SESSION_PREFIX, Kind::Session),
            (t::INVITATION_PREFIX, Kind::Invitation),
            (t::NOTE_PREFIX, Kind::Note),
        ];
        match sk {
            t::ACCOUNT_SK => Kind::Account,
            t::DATA_KEY_SK => Kind::DataKey,
            t::BILLING_SK => Kind::Billing,
            t::INVENTORY_SK => Kind::Inventory,
            _ => prefixed
                .into_iter()
                .find(|(p, _)| sk.starts_with(p))
                .map_or(Kind::Other, |(_, k)| k),
        }
    }

    /// The kind's name in receipts and inventories: its sort key's first part, lower-cased
    /// (`contact`, `contactkey`, `window`, …).
    pub fn name(item: &Item) -> String {
        crate::table::kind(&item.key)
    }
}

/// A stored value that no longer parses.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A tenant's keys, checked out for a known number of field operations: seals and opens the
/// personal fields of that tenant's items. Each field's ciphertext is bound to the tenant, the
/// entity, the item's key and the field's name.
#[derive(Clone)]
pub struct Sealer {
    tenant: AccountId,
    keys: Arc<TenantKeys>,
}

impl Sealer {
    pub fn new(tenant: AccountId, keys: Arc<TenantKeys>) -> Self {
        Self { tenant, keys }
    }

    pub fn tenant(&self) -> &AccountId {
        &self.tenant
    }

    /// The blind index of a value (see [`crate::crypto::Keyring::blind_index`]).
    pub fn blind_index(&self, kind: &str, value: &str) -> String {
        self.keys.blind_index(kind, value)
    }

    pub fn seal(
        &self,
        entity: &'static str,
        key: &Key,
        field: &'static str,
        plaintext: &[u8],
    ) -> Result<Value, RecordError> {
        Ok(Value::B(self.seal_bytes(entity, key, field, plaintext)?))
    }

    /// Seals bytes for `field` of the item at `key`, to keep apart from the item (a file).
    pub fn seal_bytes(
        &self,
        entity: &'static str,
        key: &Key,
        field: &'static str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, RecordError> {
        Ok(self
            .keys
            .seal(&self.tenant, FieldRef::new(entity, key, field), plaintext)?)
    }

    pub fn seal_str(
        &self,
        entity: &'static str,
        key: &Key,
        field: &'static str,
        plaintext: &str,
    ) -> Result<Value, RecordError> {
        self.seal(entity, key, field, plaintext.as_bytes())
    }

    /// Opens the sealed attribute `field` of a stored item.
    pub fn open(
        &self,
        entity: &'static str,
        item: &Item,
        field: &'static str,
    ) -> Result<String, RecordError> {
        let bytes = self.open_bytes(entity, &item.key, field, item.b(field)?)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Decrypt.into())
    }

    /// Opens the sealed attribute `field` of a stored item if it has one.
    pub fn open_optional(
        &self,
        entity: &'static str,
        item: &Item,
        field: &'static str,
    ) -> Result<Option<String>, RecordError> {
        match item.attrs.contains_key(field) {
            true => self.open(entity, item, field).map(Some),
            false => Ok(None),
        }
    }

    /// Opens bytes sealed for `field` of the item at `key` (a file kept apart from its item).
    pub fn open_bytes(
        &self,
        entity: &'static str,
        key: &Key,
        field: &'static str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, RecordError> {
        let plain = self
            .keys
            .open(&self.tenant, FieldRef::new(entity, key, field), sealed)?;
        Ok(plain.to_vec())
    }
}

/// Timestamps are stored as epoch milliseconds.
pub fn to_millis(t: Timestamp) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| corrupt(format!("timestamp {ms} out of range")))
}

/// Epoch seconds, as item expiries and the payment provider's times are kept.
pub fn from_secs(t: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_timestamp(t).map_err(|_| corrupt(format!("timestamp {t} out of range")))
}

pub(crate) fn opt_millis(item: &Item, name: &str) -> Result<Option<Timestamp>, StoreError> {
    item.opt_n(name).map(from_millis).transpose()
}

pub(crate) use crate::table::shard_of;

/// A non-negative counter attribute (0 when absent).
pub(crate) fn count(item: &Item, name: &str) -> u64 {
    item.opt_n(name).unwrap_or(0).max(0) as u64
}

/// A list attribute of strings (others are skipped).
pub(crate) fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::L(l)) => l
            .iter()
            .filter_map(|v| match v {
                Value::S(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn string_list<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    Value::L(values.into_iter().map(|s| Value::S(s.to_owned())).collect())
}

/// The part of a sort key after its prefix.
pub(crate) fn after_prefix<'a>(item: &'a Item, prefix: &str) -> Result<&'a str, StoreError> {
    item.key
        .sk
        .strip_prefix(prefix)
        .ok_or_else(|| corrupt(format!("sort key without {prefix}")))
}

/// The id in a sort key after its prefix.
pub(crate) fn id_after<T>(item: &Item, prefix: &str) -> Result<T, RecordError>
where
    T: std::str::FromStr<Err = Invalid>,
{
    Ok(after_prefix(item, prefix)?.parse()?)
}

/// Every item of a tenant: each of its partitions (its own, its messages' shards), each in
/// sort-key order, read with `each` (a page size, expired items too).
pub fn partitions(account: &AccountId, each: impl Fn(Query) -> Query) -> Vec<Query> {
    crate::table::partitions(account)
        .into_iter()
        .map(|p| each(Query::partition(p)))
        .collect()
}

/// One page of a query, each item decoded.
pub async fn list<T>(
    store: &dyn ItemStore,
    query: Query,
    mut decode: impl FnMut(&Item) -> Result<T, RecordError>,
) -> Result<(Vec<T>, Option<Cursor>), RecordError> {
    let page = store.query(query).await?;
    let items = page
        .items
        .iter()
        .map(&mut decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, page.next))
}

/// The items `keys` name, read in batches, by key: what other items keep apart (a message's
/// content, a broadcast's definition). Missing ones are left out.
pub async fn companions(
    store: &dyn ItemStore,
    keys: impl IntoIterator<Item = Key>,
) -> Result<std::collections::HashMap<Key, Item>, StoreError> {
    let keys: Vec<Key> = keys.into_iter().collect();
    let mut found = std::collections::HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(crate::ports::item_store::MAX_BATCH_GET) {
        for item in store.batch_get(chunk).await?.into_iter().flatten() {
            found.insert(item.key.clone(), item);
        }
    }
    Ok(found)
}

/// Every page of each query in turn.
pub fn pages_across(
    store: &dyn ItemStore,
    queries: Vec<Query>,
) -> BoxStream<'_, Result<Page, StoreError>> {
    stream::iter(queries)
        .map(move |q| pages(store, q))
        .flatten()
        .boxed()
}

/// Every page of a query, in order, as the store returns them.
pub fn pages(store: &dyn ItemStore, query: Query) -> BoxStream<'_, Result<Page, StoreError>> {
    stream::try_unfold(Some(query), move |query| async move {
        let Some(query) = query else {
            return Ok(None);
        };
        let page = store.query(query.clone()).await?;
        let next = page.next.clone().map(|c| query.after(Some(c)));
        Ok(Some((page, next)))
    })
    .boxed()
}

/// Every item a query finds, page after page.
pub fn items(store: &dyn ItemStore, query: Query) -> BoxStream<'_, Result<Item, StoreError>> {
    pages(store, query)
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

/// A page of up to `limit` items that pass the query's filter, reading on past pages where
/// the filter drops items, but at most `max_scanned` items: a selective filter answers with a
/// shorter page and a cursor rather than reading the whole partition in one request.
pub async fn fill(
    store: &dyn ItemStore,
    query: Query,
    limit: u32,
    max_scanned: u32,
) -> Result<Page, StoreError> {
    let mut found = Vec::new();
    let mut scanned = 0;
    let mut cursor = query.cursor.clone();
    loop {
        // Never read more than are still wanted: the cursor must not skip a match.
        let want = limit - found.len() as u32;
        let page = store.query(query.clone().limit(want).after(cursor)).await?;
        scanned += want;
        found.extend(page.items);
        cursor = page.next;
        if cursor.is_none() || found.len() as u32 >= limit || scanned >= max_scanned {
            return Ok(Page {
                items: found,
                next: cursor,
            });
        }
    }
}

/// One page, newest first, of a list spread over several partitions (shards of one order):
/// up to `limit` items whose sort keys (index sort keys for index queries) are below `below`,
/// merged across `queries`, each with its sort key, and the sort key the next page starts
/// below. Index partitions are read keys only, table partitions whole; each as many as its
/// query's own limit (a share of the page for shards of a spread list, a page for one that
/// may hold all of it), and an item is taken
/// only when no partition still unread could hold a newer one: a page may be shorter than
/// `limit` and go on. Sort keys must be unique across the partitions (a message id is).
pub async fn newest_across(
    store: &dyn ItemStore,
    queries: Vec<Query>,
    limit: u32,
    below: Option<&str>,
) -> Result<(Vec<(String, Item)>, Option<String>), StoreError> {
    fn place(item: &Item, index: Index) -> &str {
        match (index, &item.gsi1) {
            (Index::Gsi1, Some(g)) => &g.sk,
            _ => &item.key.sk,
        }
    }
    let reads = queries.into_iter().map(|q| {
        let index = q.index;
        let q = match (below, &q.sort) {
            (None, _) => q,
            // Within the prefix, down to `below`: its own item may be read again (and is
            // dropped), so one more is read, or a read of one would never get past it.
            (Some(b), SortCondition::BeginsWith(p)) => {
                let range = SortCondition::Between(p.clone(), b.to_owned());
                let limit = (q.limit + 1).min(crate::ports::item_store::MAX_PAGE_SIZE);
                q.sort(range).limit(limit)
            }
            (Some(b), _) => q.sort(SortCondition::LessThan(b.to_owned())),
        };
        // An index query reads keys only (else the adapter fetches every item it finds); a
        // table query bills the items it reads whole either way, so it keeps them.
        let q = match index {
            Index::Gsi1 => q.keys_only(),
            Index::Table => q,
        };
        async move {
            let page = store.query(q.backward()).await?;
            Ok::<_, StoreError>((index, page))
        }
    });
    let pages = futures::future::try_join_all(reads).await?;
    // The newest place a partition with more stopped at: below it, some are unread.
    let mut unread_below: Option<String> = None;
    let mut found = Vec::new();
    for (index, page) in pages {
        // Where the partition's read stopped (expired items are read and dropped, so this
        // may be below its last item, or stand for none).
        let stopped = page.next.map(|c| match (index, c.last_gsi1) {
            (Index::Gsi1, Some(g)) => g.sk,
            _ => c.last.sk,
        });
        if let Some(s) = stopped {
            if unread_below.as_deref().is_none_or(|u| s.as_str() > u) {
                unread_below = Some(s);
            }
        }
        found.extend(
            page.items
                .into_iter()
                .map(|i| (place(&i, index).to_owned(), i))
                .filter(|(p, _)| below.is_none_or(|b| p.as_str() < b)),
        );
    }
    found.sort_by(|a, b| b.0.cmp(&a.0));
    if let Some(u) = &unread_below {
        found.retain(|(p, _)| p >= u);
    }
    let next = match found.len() > limit as usize {
        true => {
            found.truncate(limit as usize);
            found.last().map(|(p, _)| p.clone())
        }
        // Everything at or above where a partition stopped is in the page.
        false => unread_below,
    };
    Ok((found, next))
}

/// A page of a list spread over partitions, its items read whole: [`newest_across`] again
/// from where it stopped until `limit` items meet `filter` or `max_scanned` keys were read.
/// `partitions` gives the queries for a read of so many; `places` reads and makes the list's
/// cursors (another list's is refused). A filtered list reads rounds of
/// [`FILTER_ROUND`] and its page ends at its last match (the next starts below it, so none is
/// skipped). Items gone between the index and the read (erased) are skipped.
pub async fn fill_across(
    store: &dyn ItemStore,
    partitions: impl Fn(u32) -> Vec<Query>,
    places: &Places,
    limit: u32,
    cursor: Option<Cursor>,
    filter: Option<&Condition>,
    max_scanned: u32,
) -> Result<(Vec<Item>, Option<Cursor>), StoreError> {
    let mut below = cursor
        .map(|c| places.place_of(&c).ok_or(StoreError::InvalidCursor))
        .transpose()?;
    let mut found = Vec::new();
    let mut scanned = 0;
    loop {
        let want = match filter {
            Some(_) => FILTER_ROUND.min(max_scanned - scanned),
            None => limit - found.len() as u32,
        };
        let (keys, next) = newest_across(store, partitions(want), want, below.as_deref()).await?;
        scanned += want;
        // Those read as keys only (from an index) are read whole now, in batches.
        let unread = keys.iter().filter(|(_, i)| i.attrs.is_empty());
        let mut read = companions(store, unread.map(|(_, i)| i.key.clone())).await?;
        let mut keys = keys.into_iter().peekable();
        while let Some((place, item)) = keys.next() {
            let item = match item.attrs.is_empty() {
                true => match read.remove(&item.key) {
                    Some(whole) => whole,
                    None => continue,
                },
                false => item,
            };
            if filter.is_none_or(|c| c.holds(Some(&item))) {
                found.push(item);
                if found.len() as u32 >= limit {
                    let more = keys.peek().is_some() || next.is_some();
                    return Ok((found, more.then(|| places.cursor_at(&place))));
                }
            }
        }
        below = next;
        if below.is_none() || scanned >= max_scanned {
            return Ok((found, below.map(|b| places.cursor_at(&b))));
        }
    }
}

/// How the cursors of a list spread over partitions name a place in its order (a sort key):
/// under one partition of the list, so that no other list's cursor passes for one of its.
pub struct Places {
    pub partition: String,
    /// What every place of the list begins with.
    pub prefix: &'static str,
}

impl Places {
    pub fn cursor_at(&self, place: &str) -> Cursor {
        let at = Key::new(self.partition.clone(), place);
        Cursor {
            last: at.clone(),
            last_gsi1: Some(at),
        }
    }

    /// The place a cursor of this list names: in its index keys when it has them, else in its
    /// table key (so the pages a list handed out before it was spread still page on).
    pub fn place_of(&self, cursor: &Cursor) -> Option<String> {
        let at = cursor.last_gsi1.as_ref().unwrap_or(&cursor.last);
        (at.pk == self.partition && at.sk.starts_with(self.prefix)).then(|| at.sk.clone())
    }
}

/// Keys a filtered page of a spread list reads at a time.
pub const FILTER_ROUND: u32 = 250;

/// How many of a page's items a query of one of `shards` shards reads: twice its share, and a
/// few more (the merge takes an item only above every shard's last, so a read of just its
/// share would cut most pages short).
pub fn shard_share(page: u32, shards: u8) -> u32 {
    (page * 2).div_ceil(u32::from(shards.max(1))) + 2
}

/// Builds the map of a `Value::M`.
pub(crate) struct MapBuilder(std::collections::BTreeMap<String, Value>);

impl MapBuilder {
    pub(crate) fn new() -> Self {
        Self(Default::default())
    }

    pub(crate) fn with(mut self, k: &str, v: Value) -> Self {
        self.0.insert(k.to_owned(), v);
        self
    }

    pub(crate) fn with_opt(self, k: &str, v: Option<Value>) -> Self {
        match v {
            Some(v) => self.with(k, v),
            None => self,
        }
    }

    pub(crate) fn build(self) -> Value {
        Value::M(self.0)
    }
}

pub(crate) fn map_s(m: &std::collections::BTreeMap<String, Value>, k: &str) -> Option<String> {
    match m.get(k) {
        Some(Value::S(s)) => Some(s.clone()),
        _ => None,
    }
}

pub(crate) fn map_n(m: &std::collections::BTreeMap<String, Value>, k: &str) -> Option<i64> {
    match m.get(k) {
        Some(Value::N(n)) => Some(*n),
        _ => None,
    }
}

/// A JSON value from Meta (pricing, conversation) as a stored value.
pub(crate) fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n.as_i64().map_or_else(|| Value::S(n.to_string()), Value::N),
        J::String(s) => Value::S(s.clone()),
        J::Array(a) => Value::L(a.iter().map(json_value).collect()),
        J::Object(o) => Value::M(o.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()),
    }
}

/// A stored value back as JSON.
pub(crate) fn value_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null | Value::B(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::N(n) => J::from(*n),
        Value::S(s) => J::String(s.clone()),
        Value::L(l) => J::Array(l.iter().map(value_json).collect()),
        Value::M(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), value_json(v))).collect()),
    }
}

/// JSON text kept in an attribute.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(corrupt)
}
