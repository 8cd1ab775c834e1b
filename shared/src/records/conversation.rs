//! A contact's conversation: its last message (a sealed preview), unread count and the last
//! inbound message, which opens the service window. The item sits in GSI1 under one of the
//! tenant's inbox shards (from its contact), ordered by its last message, and only ever moves
//! forward: each change is conditional on the message id (ULIDs sort by message time). The
//! inbox reads the shards merged: no index partition takes every message's move.

use super::{from_millis, to_millis, RecordError, Sealer};
use crate::domain::{
    AccountId, ContactId, Conversation, LastMessage, Message, PhoneNumberId, UserId, Window,
    SERVICE_WINDOW,
};
use crate::ports::{Condition, Item, Key, Query, Update, Value};
use crate::table;

const ENTITY: &str = "conversation";
/// Sealed fields of a conversation item: the preview.
pub const SEALED: u64 = 1;
/// Characters of a message kept (sealed) as the conversation's preview.
const PREVIEW_CHARS: usize = 100;
/// Index partitions the inbox is spread over: at 1,000 messages a second each way, each
/// moving its conversation (2 index writes), 250 writes a second a partition.
const INBOX_SHARDS: u8 = 16;

/// Makes `message` the conversation's last message, unless a later one is already; the
/// conversation expires with it (`expires_at`, epoch seconds): it holds that message's preview.
pub fn last_message(
    s: &Sealer,
    message: &Message,
    preview: Option<&str>,
    expires_at: i64,
) -> Result<Update, RecordError> {
    let key = table::conversation(s.tenant(), &message.contact_id);
    let id = Value::S(message.id.to_string());
    let update = Update::new(key.clone())
        .set("contact_id", Value::S(message.contact_id.to_string()))
        .set("last_id", id.clone())
        .set("last_inbound", Value::Bool(message.body.is_inbound()))
        .set("last_type", Value::S(message.body.kind().into()))
        .set("last_at", Value::N(to_millis(message.created_at)))
        .expire(Some(expires_at))
        .index(Some(Key::new(
            inbox_shard(s.tenant(), &message.contact_id),
            message.id.to_string(),
        )))
        .when(newer_than(&id, "last_id"));
    Ok(
        match preview.map(|p| p.chars().take(PREVIEW_CHARS).collect::<String>()) {
            Some(p) if !p.is_empty() => {
                update.set("preview", s.seal_str(ENTITY, &key, "preview", &p)?)
            }
            _ => update.remove("preview"),
        },
    )
}

/// Makes an inbound `message` (with its wamid) the one a read receipt and the service window
/// go by, unless a later one is already.
pub fn last_inbound(account: &AccountId, message: &Message, wamid: &str) -> Update {
    let id = Value::S(message.id.to_string());
    last_message_inbound(
        Update::new(table::conversation(account, &message.contact_id)),
        message,
        wamid,
    )
    .when(newer_than(&id, "inbound_id"))
}

/// [`last_message`] of an inbound `message` that also makes it the last inbound one, in the
/// same write: a message newer than the conversation's last is newer than its last inbound
/// (which is never after the last). When its condition fails, [`last_inbound`] alone may hold.
pub fn last_message_inbound(last: Update, message: &Message, wamid: &str) -> Update {
    last.set("inbound_id", Value::S(message.id.to_string()))
        .set("inbound_wamid", Value::S(wamid.to_owned()))
        .set("inbound_number", Value::S(message.number.to_string()))
        .set("inbound_at", Value::N(to_millis(message.created_at)))
}

/// One more unread message; written with the inbound message itself.
pub fn unread_increment(account: &AccountId, contact: &ContactId) -> Update {
    Update::new(table::conversation(account, contact)).add("unread", 1)
}

/// No unread messages.
pub fn mark_read(account: &AccountId, contact: &ContactId, at_ms: i64) -> Update {
    Update::new(table::conversation(account, contact))
        .set("unread", Value::N(0))
        .set("read_at", Value::N(at_ms))
        .when(Condition::Exists)
}

/// The item has no `attr` yet, or an older id in it.
fn newer_than(id: &Value, attr: &str) -> Condition {
    Condition::Or(vec![
        Condition::NotExists,
        Condition::AttributeNotExists(attr.into()),
        Condition::LessThan(attr.into(), id.clone()),
    ])
}

/// Every conversation item of the account, expired ones included.
pub fn stored(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account))
        .begins_with(table::CONVERSATION_PREFIX)
        .including_expired()
}

/// Whether the conversation's last message was made before `cutoff_ms`: none of its messages
/// is within the policy any more.
pub fn last_before(item: &Item, cutoff_ms: i64) -> bool {
    item.opt_n("last_at").is_some_and(|at| at < cutoff_ms)
}

pub fn key(account: &AccountId, contact: &ContactId) -> Key {
    table::conversation(account, contact)
}

/// Whether an item at a conversation's key is one (an unread count alone is not).
pub fn exists(item: &Item) -> bool {
    item.attrs.contains_key("last_id")
}

/// The last inbound message's wamid and the number it came to: what a read receipt names.
pub fn last_inbound_of(item: &Item) -> Result<Option<(String, PhoneNumberId)>, RecordError> {
    match (item.opt_s("inbound_wamid"), item.opt_s("inbound_number")) {
        (Some(w), Some(n)) => Ok(Some((w.to_owned(), PhoneNumberId::parse(n)?))),
        _ => Ok(None),
    }
}

fn inbox_shard(account: &AccountId, contact: &ContactId) -> String {
    let shard = super::shard_of(&contact.to_string(), INBOX_SHARDS);
    table::conversations_shard(account, shard)
}

/// The index partitions of the tenant's conversations by their last message, each read for a
/// page of `page` (merge them with [`super::newest_across`]): the shards, and the partition
/// conversations that have not moved since the inbox was spread are still in.
pub fn by_last_message(account: &AccountId, page: u32) -> Vec<Query> {
    let share = super::shard_share(page, INBOX_SHARDS);
    (0..INBOX_SHARDS)
        .map(|n| Query::gsi1(table::conversations_shard(account, n)).limit(share))
        .chain([Query::gsi1(table::conversations(account)).limit(page)])
        .collect()
}

/// How the inbox's cursors name a place: the last message id of the page's last conversation
/// (as the inbox's index did before it was spread, so its cursors still page).
pub fn places(account: &AccountId) -> super::Places {
    super::Places {
        partition: table::conversations(account),
        prefix: "",
    }
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<Conversation, RecordError> {
    let window = match (item.opt_s("inbound_number"), item.opt_n("inbound_at")) {
        (Some(n), Some(at)) => Some(Window {
            number: PhoneNumberId::parse(n)?,
            open_until: from_millis(at)? + SERVICE_WINDOW,
        }),
        _ => None,
    };
    Ok(Conversation {
        contact_id: item.s("contact_id")?.parse()?,
        last_message: LastMessage {
            id: item.s("last_id")?.parse()?,
            inbound: matches!(item.attrs.get("last_inbound"), Some(Value::Bool(true))),
            kind: item.s("last_type")?.to_owned(),
            at: from_millis(item.n("last_at")?)?,
            preview: s.open_optional(ENTITY, item, "preview")?,
        },
        unread: super::count(item, "unread"),
        window,
        assignee: item.opt_s("assignee").map(str::parse).transpose()?,
    })
}

/// Assigns the conversation to a user, or to nobody.
pub fn assign(account: &AccountId, contact: &ContactId, user: Option<&UserId>) -> Update {
    let update = Update::new(table::conversation(account, contact)).when(Condition::Exists);
    match user {
        Some(u) => update.set("assignee", Value::S(u.to_string())),
        None => update.remove("assignee"),
    }
}

/// Which of the tenant's conversations a list shows.
pub enum Filter<'a> {
    All,
    AssignedTo(&'a UserId),
    Unassigned,
}

impl Filter<'_> {
    pub fn condition(&self) -> Option<Condition> {
        match self {
            Filter::All => None,
            Filter::AssignedTo(u) => Some(Condition::Equals(
                "assignee".into(),
                Value::S(u.to_string()),
            )),
            Filter::Unassigned => Some(Condition::AttributeNotExists("assignee".into())),
        }
    }
}
