//! Messages, both ways: the message item (address, content and callback data sealed) in its
//! contact's thread (GSI1), a large outbound message's content in an item of its own, the
//! wamid lookup that routes Meta's statuses to it, and statuses kept aside until the sender
//! has recorded the wamid they name.

use super::{
    corrupt, from_json, from_millis, id_after, json_value, map_n, map_s, to_json, to_millis,
    value_json, MapBuilder, RecordError, Sealer,
};
use crate::domain::{
    AccountId, Body, BroadcastId, ContactId, Message, MessageError, MessageId, MessageStatus,
    PhoneNumberId, StatusChange, Timestamp,
};
use crate::ports::{Condition, Item, Key, Query, SortCondition, Update, Value, Write};
use crate::table;

const ENTITY: &str = "message";
/// Sealed fields of a message item: address, content (and callback data, later).
pub const SEALED: u64 = 3;

/// Sealed content larger than this goes in an item of its own when the message is outbound.
/// An outbound message item is rewritten at least five times (claim, outcome, three
/// statuses) and DynamoDB bills each write by the whole item, per KB begun: the rest of the
/// item stays well under 1 KB (about 700 bytes with its history and Meta's pricing), so a
/// template with parameters and buttons would make every one of those writes two units. An
/// inbound message is written once and keeps its content.
const CONTENT_APART_OVER: usize = 256;

/// A new message's items: the message item, and its content's when that is apart.
pub struct MessageItems {
    pub item: Item,
    pub content: Option<Item>,
}

impl MessageItems {
    /// The writes that store them, in a transaction: the content's first, then the message
    /// item, which must not exist yet.
    pub fn puts(self) -> Vec<Write> {
        self.content
            .map(Write::put)
            .into_iter()
            .chain([Write::put_new(self.item)])
            .collect()
    }
}

/// The items of a message, expiring at `expires_at` (epoch seconds: the tenant's retention).
/// The content is sealed for the message item's key either way, so it opens only as that
/// message's.
pub fn to_items(s: &Sealer, m: &Message, expires_at: i64) -> Result<MessageItems, RecordError> {
    to_items_at(s, m, expires_at, table::message(s.tenant(), &m.id))
}

/// [`to_items`] at `key`: where messages are, or where one stored before the messages were
/// spread over shards is (`table::message_before_shards`, for tests of such messages). Its
/// content kept apart is beside it.
pub fn to_items_at(
    s: &Sealer,
    m: &Message,
    expires_at: i64,
    key: Key,
) -> Result<MessageItems, RecordError> {
    let (direction, content) = match &m.body {
        Body::Outbound(c) => ("outbound", to_json(c)?),
        Body::Inbound { raw, .. } => ("inbound", to_json(raw)?),
    };
    let sealed = s.seal_str(ENTITY, &key, "content", &content)?;
    let apart =
        !m.body.is_inbound() && matches!(&sealed, Value::B(b) if b.len() > CONTENT_APART_OVER);
    let (sealed, content_item) = match apart {
        true => (
            None,
            Some(
                Item::new(table::message_content_of(&key).ok_or_else(|| corrupt("not a message"))?)
                    .with("content", sealed)
                    .expiring_at(expires_at),
            ),
        ),
        false => (Some(sealed), None),
    };
    let mut item = Item::new(key.clone())
        .with_gsi1(Key::new(
            table::thread(s.tenant(), &m.contact_id),
            m.id.to_string(),
        ))
        .with("direction", Value::S(direction.into()))
        .with("number", Value::S(m.number.to_string()))
        .with("contact_id", Value::S(m.contact_id.to_string()))
        .with("address", s.seal_str(ENTITY, &key, "address", &m.address)?)
        .with("type", Value::S(m.body.kind().into()))
        .with("status", status_value(m.status))
        .with("attempts", Value::N(i64::from(m.attempts)))
        .with(
            "history",
            Value::L(m.history.iter().map(history_value).collect()),
        )
        .with("created_at", Value::N(to_millis(m.created_at)))
        .with("updated_at", Value::N(to_millis(m.updated_at)));
    if let Some(c) = sealed {
        item = item.with("content", c);
    }
    if let Some(r) = &m.reply_to {
        item = item.with("reply_to", Value::S(r.clone()));
    }
    if let Some(w) = &m.wamid {
        item = item.with("wamid", Value::S(w.clone()));
    }
    if let Some(b) = &m.broadcast_id {
        item = item.with("broadcast_id", Value::S(b.to_string()));
    }
    if let Some(e) = &m.error {
        item = item.with("error", error_value(e));
    }
    Ok(MessageItems {
        item: item.expiring_at(expires_at),
        content: content_item,
    })
}

/// The item holding a message's content when it is not in the message item itself.
pub fn content_key(item: &Item) -> Option<Key> {
    if item.attrs.contains_key("content") {
        return None;
    }
    table::message_content_of(&item.key)
}

/// A message from its item and, when its content is apart, the content's item.
pub fn from_items(s: &Sealer, item: &Item, apart: Option<&Item>) -> Result<Message, RecordError> {
    let content = match (content_key(item), apart) {
        (None, _) => s.open(ENTITY, item, "content")?,
        (Some(_), Some(c)) => {
            let bytes = s.open_bytes(ENTITY, &item.key, "content", c.b("content")?)?;
            String::from_utf8(bytes).map_err(|_| corrupt("message content"))?
        }
        (Some(_), None) => return Err(corrupt("message without its content").into()),
    };
    let body = match item.opt_s("direction") {
        Some("inbound") => Body::Inbound {
            kind: item.s("type")?.to_owned(),
            raw: from_json(&content)?,
        },
        _ => Body::Outbound(from_json(&content)?),
    };
    let history = match item.attrs.get("history") {
        Some(Value::L(l)) => l.iter().filter_map(history_from_value).collect(),
        _ => Vec::new(),
    };
    Ok(Message {
        id: id_after(item, table::MESSAGE_PREFIX)?,
        number: PhoneNumberId::parse(item.s("number")?)?,
        contact_id: contact_of(item)?,
        address: s.open(ENTITY, item, "address")?,
        body,
        reply_to: item.opt_s("reply_to").map(str::to_owned),
        status: status(item)?,
        wamid: wamid_of(item).map(str::to_owned),
        error: match item.attrs.get("error") {
            Some(Value::M(m)) => Some(MessageError {
                code: map_n(m, "code").unwrap_or(0),
                title: map_s(m, "title").unwrap_or_default(),
                details: map_s(m, "details"),
            }),
            _ => None,
        },
        history,
        broadcast_id: broadcast_of(item)?,
        attempts: item.opt_n("attempts").unwrap_or(0) as u32,
        held_for_quality_assessment: item.opt_bool(HELD).unwrap_or(false),
        pricing: item.attrs.get("pricing").map(value_json),
        created_at: from_millis(item.n("created_at")?)?,
        updated_at: from_millis(item.n("updated_at")?)?,
    })
}

fn status_value(s: MessageStatus) -> Value {
    Value::S(s.as_str().into())
}

fn status_is(s: MessageStatus) -> Condition {
    Condition::Equals("status".into(), status_value(s))
}

pub fn status(item: &Item) -> Result<MessageStatus, RecordError> {
    Ok(MessageStatus::parse(item.s("status")?).ok_or_else(|| corrupt("message status"))?)
}

pub fn contact_of(item: &Item) -> Result<ContactId, RecordError> {
    Ok(item.s("contact_id")?.parse()?)
}

pub fn broadcast_of(item: &Item) -> Result<Option<BroadcastId>, RecordError> {
    Ok(item.opt_s("broadcast_id").map(str::parse).transpose()?)
}

pub fn wamid_of(item: &Item) -> Option<&str> {
    item.opt_s("wamid")
}

/// Inbound (true) or outbound, read without opening the item.
pub fn is_inbound(item: &Item) -> bool {
    item.opt_s("direction") == Some("inbound")
}

/// When a claimed message was claimed (epoch ms; 0 if unknown).
pub fn claimed_at_ms(item: &Item) -> i64 {
    item.opt_n("claimed_at").unwrap_or(0)
}

pub fn history_value(h: &StatusChange) -> Value {
    MapBuilder::new()
        .with("status", status_value(h.status))
        .with("at", Value::N(to_millis(h.at)))
        .with_opt("error_code", h.error_code.map(Value::N))
        .build()
}

fn history_from_value(v: &Value) -> Option<StatusChange> {
    let Value::M(m) = v else { return None };
    Some(StatusChange {
        status: MessageStatus::parse(&map_s(m, "status")?)?,
        at: from_millis(map_n(m, "at")?).ok()?,
        error_code: map_n(m, "error_code"),
    })
}

fn error_value(e: &MessageError) -> Value {
    MapBuilder::new()
        .with("code", Value::N(e.code))
        .with("title", Value::S(e.title.clone()))
        .with_opt("details", e.details.clone().map(Value::S))
        .build()
}

// ---- queries ----

/// Each partition of the account's messages (the one they were in before the shards first,
/// then the shards), each oldest first: for walks over all of them.
pub fn everywhere(account: &AccountId) -> Vec<Query> {
    table::partitions(account)
        .into_iter()
        .map(|p| Query::partition(p).begins_with(table::MESSAGE_PREFIX))
        .collect()
}

/// The partitions of the account's messages, each read for a page of `page` (merge them with
/// [`super::newest_across`]): the shards, and the partition of those stored before.
pub fn newest(account: &AccountId, page: u32) -> Vec<Query> {
    let share = super::shard_share(page, table::MESSAGE_SHARDS);
    let before = table::account_partition(account);
    everywhere(account)
        .into_iter()
        .map(|q| match q.partition == before {
            true => q.limit(page),
            false => q.limit(share),
        })
        .collect()
}

/// Where a message of `account`'s is, and where one stored before the shards is.
pub fn keys(account: &AccountId, id: &MessageId) -> [Key; 2] {
    [
        table::message(account, id),
        table::message_before_shards(account, id),
    ]
}

/// How lists of the account's messages name a place in their cursors: the message's sort
/// key, the same in every shard (and the cursors of lists from before the shards).
pub fn places(account: &AccountId) -> super::Places {
    super::Places {
        partition: table::account_partition(account),
        prefix: table::MESSAGE_PREFIX,
    }
}

/// Messages of a status, as the API lists them: `failed` includes those canceled with their
/// broadcast (v1 shows those as failed).
pub fn with_status(status: MessageStatus) -> Condition {
    match status {
        MessageStatus::Failed => Condition::Or(vec![
            status_is(MessageStatus::Failed),
            status_is(MessageStatus::Canceled),
        ]),
        s => status_is(s),
    }
}

/// A contact's messages, both ways, in time order (the thread index).
pub fn thread(account: &AccountId, contact: &ContactId) -> Query {
    Query::gsi1(table::thread(account, contact))
}

/// The account's messages made before `before` (ids sort by time), one query a partition.
pub fn made_before(account: &AccountId, before: &MessageId) -> Vec<Query> {
    let below = format!("{}{before}", table::MESSAGE_PREFIX);
    table::partitions(account)
        .into_iter()
        .map(|p| {
            let range = SortCondition::Between(table::MESSAGE_PREFIX.to_owned(), below.clone());
            Query::partition(p).sort(range)
        })
        .collect()
}

/// A message's new expiry, from its creation and `days` of retention; `None` for an item
/// without a creation time.
pub fn expire_after(item: &Item, days: u32) -> Option<Update> {
    let created = item.opt_n("created_at")?;
    let expiry = (created + i64::from(days) * 86_400_000) / 1000;
    Some(
        Update::new(item.key.clone())
            .expire(Some(expiry))
            .when(Condition::Exists),
    )
}

/// The same new expiry for a message's content kept apart, if it is (see [`content_key`]).
pub fn content_expires(item: &Item, expires_at: i64) -> Option<Update> {
    Some(
        Update::new(content_key(item)?)
            .expire(Some(expires_at))
            .when(Condition::Exists),
    )
}

// ---- the wamid lookup and statuses that wait for it ----

/// The wamid → message lookup, expiring with its message (`expires_at`, epoch seconds), so
/// that the table's own expiry removes both even if no retention run reaches them.
pub fn lookup_item(account: &AccountId, wamid: &str, id: &MessageId, expires_at: i64) -> Item {
    Item::new(table::wamid(wamid))
        .with("account_id", Value::S(account.to_string()))
        .with("message_id", Value::S(id.to_string()))
        .expiring_at(expires_at)
}

/// A new expiry for a wamid's lookup, as its message's changed.
pub fn lookup_expires(wamid: &str, expires_at: i64) -> Update {
    Update::new(table::wamid(wamid))
        .expire(Some(expires_at))
        .when(Condition::Exists)
}

/// The expiry a message item carries (epoch seconds), if any.
pub fn expiry_of(item: &Item) -> Option<i64> {
    item.expires_at
}

pub fn lookup(wamid: &str) -> Key {
    table::wamid(wamid)
}

/// The account a wamid lookup (or anything else in a wamid's partition) belongs to.
pub fn owner_of(item: &Item) -> Option<&str> {
    item.opt_s("account_id")
}

/// The message a wamid lookup names.
pub fn looked_up(lookup: &Item) -> Result<MessageId, RecordError> {
    Ok(lookup.s("message_id")?.parse()?)
}

/// Everything kept under a wamid: its lookup, waiting statuses, the usage marker (expired
/// ones too: the table's sweeper may not have removed them yet).
pub fn under_wamid(wamid: &str) -> Query {
    Query::partition(table::wamid_partition(wamid)).including_expired()
}

/// Statuses kept for `wamid` until its message's record has it.
pub fn pending_statuses(wamid: &str) -> Query {
    Query::partition(table::wamid_partition(wamid)).begins_with(table::PENDING_STATUS_PREFIX)
}

/// A status kept (sealed: it may carry the recipient) until its message is known.
pub fn pending_item(
    s: &Sealer,
    wamid: &str,
    kind: MessageStatus,
    status_json: &str,
    expires_at: i64,
) -> Result<Item, RecordError> {
    let key = table::pending_status(wamid, kind.as_str());
    Ok(Item::new(key.clone())
        .with("account_id", Value::S(s.tenant().to_string()))
        .with("status", s.seal_str(ENTITY, &key, "status", status_json)?)
        .expiring_at(expires_at))
}

/// A kept status's JSON, opened.
pub fn pending_status(s: &Sealer, item: &Item) -> Result<String, RecordError> {
    s.open(ENTITY, item, "status")
}

// ---- what the sender writes ----

fn in_flight() -> Condition {
    Condition::Or(vec![
        status_is(MessageStatus::Sending),
        status_is(MessageStatus::Queued),
    ])
}

/// Claims the queued message at `message` for sending (queued → sending), one attempt more.
pub fn claim(message: &Key, at: Timestamp) -> Update {
    Update::new(message.clone())
        .set("status", status_value(MessageStatus::Sending))
        .set("claimed_at", Value::N(to_millis(at)))
        .set("updated_at", Value::N(to_millis(at)))
        .append(
            "history",
            history_value(&StatusChange {
                status: MessageStatus::Sending,
                at,
                error_code: None,
            }),
        )
        .add("attempts", 1)
        .when(status_is(MessageStatus::Queued))
}

/// Gives a claimed message back to the queue: the send did not happen (`code`: why).
pub fn release(message: &Key, at: Timestamp, code: Option<i64>) -> Update {
    Update::new(message.clone())
        .set("status", status_value(MessageStatus::Queued))
        .remove("claimed_at")
        .append(
            "history",
            history_value(&StatusChange {
                status: MessageStatus::Queued,
                at,
                error_code: code,
            }),
        )
        .when(status_is(MessageStatus::Sending))
}

/// Records the outcome of a message still in flight (queued or sending): its status, and
/// the wamid Meta gave it or the error that ended it.
/// Set on a message Meta holds for a paced template's quality assessment.
const HELD: &str = "held_for_quality_assessment";

pub fn outcome(
    message: &Key,
    status: MessageStatus,
    at: Timestamp,
    wamid: Option<&str>,
    error: Option<&MessageError>,
    held: bool,
) -> Update {
    let mut update = Update::new(message.clone())
        .set("status", status_value(status))
        .set("updated_at", Value::N(to_millis(at)))
        .remove("claimed_at")
        .append(
            "history",
            history_value(&StatusChange {
                status,
                at,
                error_code: error.map(|e| e.code),
            }),
        )
        .when(in_flight());
    if let Some(e) = error {
        update = update.set("error", error_value(e));
    }
    if let Some(w) = wamid {
        update = update.set("wamid", Value::S(w.to_owned()));
    }
    if held {
        update = update.set(HELD, Value::Bool(true));
    }
    update
}

/// Records the wamid of a message whose statuses overtook its outcome: Meta's statuses, routed
/// by the lookup the sender writes first, moved it past `sending`, so the outcome's condition
/// refused it. The wamid is still the sender's to record, once.
pub fn overtaken(message: &Key, at: Timestamp, wamid: &str, held: bool) -> Update {
    let update = Update::new(message.clone())
        .set("wamid", Value::S(wamid.to_owned()))
        .set("updated_at", Value::N(to_millis(at)))
        .remove("claimed_at")
        .when(Condition::AttributeNotExists("wamid".into()));
    match held {
        true => update.set(HELD, Value::Bool(true)),
        false => update,
    }
}

// ---- what a status webhook writes ----

/// Whether this (wamid, status) was recorded before.
pub fn has_seen(item: &Item, kind: MessageStatus) -> bool {
    item.attrs.contains_key(&seen(kind))
}

fn seen(kind: MessageStatus) -> String {
    format!("seen_{}", kind.as_str())
}

/// Whether the message's history already has an entry of this status (the sender records
/// `sent` itself; Meta's `sent` adds pricing, not a second entry).
pub fn in_history(item: &Item, kind: MessageStatus) -> bool {
    match item.attrs.get("history") {
        Some(Value::L(l)) => l
            .iter()
            .filter_map(history_from_value)
            .any(|h| h.status == kind),
        _ => false,
    }
}

/// What one status webhook says of a message.
pub struct StatusReport<'a> {
    pub kind: MessageStatus,
    /// Meta's timestamp (epoch seconds).
    pub timestamp: i64,
    pub error: Option<&'a MessageError>,
    pub pricing: Option<&'a serde_json::Value>,
    pub conversation: Option<&'a serde_json::Value>,
    pub callback_data: Option<&'a str>,
}

/// Records a status once, written only if the message is still as it was read (`item`):
/// history, pricing, errors, and the status itself when it ranks above the current one.
pub fn record_status(
    s: &Sealer,
    item: &Item,
    report: &StatusReport<'_>,
    now: Timestamp,
) -> Result<Update, RecordError> {
    let current = status(item)?;
    let seen = seen(report.kind);
    let mut update = Update::new(item.key.clone())
        .set(&seen, Value::N(report.timestamp))
        .set("updated_at", Value::N(to_millis(now)))
        .when(Condition::And(vec![
            Condition::AttributeNotExists(seen.clone()),
            status_is(current),
        ]));
    if !in_history(item, report.kind) {
        update = update.append(
            "history",
            history_value(&StatusChange {
                status: report.kind,
                at: from_millis(report.timestamp * 1000)?,
                error_code: report.error.map(|e| e.code),
            }),
        );
    }
    if report.kind.rank() > current.rank() {
        update = update.set("status", status_value(report.kind));
    }
    if let Some(e) = report.error {
        update = update.set("error", error_value(e));
    }
    if let Some(p) = report.pricing {
        update = update.set("pricing", json_value(p));
    }
    if let Some(c) = report.conversation {
        update = update.set("conversation", json_value(c));
    }
    if let Some(data) = report.callback_data {
        update = update.set(
            "callback_data",
            s.seal_str(ENTITY, &item.key, "callback_data", data)?,
        );
    }
    Ok(update)
}
