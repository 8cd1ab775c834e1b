//! Internal notes on a conversation: the text sealed, the author's user id, kept as long as
//! the conversation's messages are (`expires_at`).

use super::{from_millis, to_millis, RecordError, Sealer};
use crate::domain::{AccountId, ContactId, Note};
use crate::ports::{Item, Query, Value};
use crate::table;

const ENTITY: &str = "note";
/// Sealed fields of a note: its text.
pub const SEALED: u64 = 1;

pub fn to_item(
    s: &Sealer,
    contact: &ContactId,
    note: &Note,
    expires_at: i64,
) -> Result<Item, RecordError> {
    let key = table::note(s.tenant(), contact, &note.id);
    Ok(Item::new(key.clone())
        .with("text", s.seal_str(ENTITY, &key, "text", &note.text)?)
        .with("author", Value::S(note.author.clone()))
        .with("created_at", Value::N(to_millis(note.created_at)))
        .expiring_at(expires_at))
}

/// The conversation a note item is on.
pub fn contact_of(item: &Item) -> Result<ContactId, RecordError> {
    let rest = item.key.sk.trim_start_matches(table::NOTE_PREFIX);
    Ok(rest.split('#').next().unwrap_or_default().parse()?)
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<Note, RecordError> {
    let id = item.key.sk.rsplit('#').next().unwrap_or_default().parse()?;
    Ok(Note {
        id,
        author: item.s("author")?.to_owned(),
        text: s.open(ENTITY, item, "text")?,
        created_at: from_millis(item.n("created_at")?)?,
    })
}

/// A conversation's notes, oldest first.
pub fn of(account: &AccountId, contact: &ContactId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::notes(contact))
}
