//! Media objects: the record of a file received or uploaded (the file itself is sealed in the
//! blob store, `media/{account}/{id}`), and its short-lived download links by token hash.

use super::{from_millis, RecordError, Sealer};
use crate::domain::{AccountId, Media, MediaId, MediaKind, MediaState, PhoneNumberId, Timestamp};
use crate::ports::{BlobKey, Condition, Item, Key, Query, Update, Value};
use crate::table;

const ENTITY: &str = "media";
/// Sealed fields of a media record: none; its file is sealed apart (one field operation).
pub const SEALED_FILE: u64 = 1;

pub fn to_item(account: &AccountId, m: &Media) -> Item {
    let mut item = Item::new(table::media(account, &m.id))
        .with("kind", Value::S(m.kind.as_str().into()))
        .with("inbound", Value::Bool(m.inbound))
        .with("number", Value::S(m.number.to_string()))
        .with("state", Value::S(m.state.as_str().into()))
        .with("created_at", Value::N(super::to_millis(m.created_at)));
    if let Some(mime) = &m.mime_type {
        item = item.with("mime_type", Value::S(mime.clone()));
    }
    if let Some(size) = m.size {
        item = item.with("size", Value::N(size as i64));
    }
    if let Some(sha) = &m.sha256 {
        item = item.with("sha256", Value::S(sha.clone()));
    }
    if let Some(f) = &m.failure {
        item = item.with("failure", Value::S(f.clone()));
    }
    item
}

pub fn from_item(item: &Item) -> Result<Media, RecordError> {
    Ok(Media {
        id: id_of(item)?,
        kind: MediaKind::parse(item.s("kind")?)?,
        inbound: item.opt_bool("inbound").unwrap_or(false),
        number: PhoneNumberId::parse(item.s("number")?)?,
        state: MediaState::parse(item.s("state")?).ok_or_else(|| super::corrupt("media state"))?,
        mime_type: item.opt_s("mime_type").map(str::to_owned),
        size: item.opt_n("size").map(|n| n.max(0) as u64),
        sha256: item.opt_s("sha256").map(str::to_owned),
        failure: item.opt_s("failure").map(str::to_owned),
        created_at: from_millis(item.n("created_at")?)?,
    })
}

pub fn id_of(item: &Item) -> Result<MediaId, RecordError> {
    Ok(MediaId::parse(super::after_prefix(
        item,
        table::MEDIA_PREFIX,
    )?)?)
}

pub fn key(account: &AccountId, id: &MediaId) -> Key {
    table::media(account, id)
}

/// The account's media, in id order.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::MEDIA_PREFIX)
}

/// Whether a media record was made before `cutoff_ms` (epoch ms).
pub fn made_before(item: &Item, cutoff_ms: i64) -> bool {
    item.opt_n("created_at").is_some_and(|c| c < cutoff_ms)
}

/// Where its sealed file is kept.
pub fn file_key(account: &AccountId, id: &MediaId) -> Result<BlobKey, crate::ports::BlobError> {
    BlobKey::parse(&format!("media/{account}/{id}"))
}

/// The file, sealed for its record.
pub fn seal_file(s: &Sealer, id: &MediaId, file: &[u8]) -> Result<Vec<u8>, RecordError> {
    s.seal_bytes(ENTITY, &table::media(s.tenant(), id), "file", file)
}

pub fn open_file(s: &Sealer, id: &MediaId, sealed: &[u8]) -> Result<Vec<u8>, RecordError> {
    s.open_bytes(ENTITY, &table::media(s.tenant(), id), "file", sealed)
}

/// A fetched (or failed) file's outcome, on a record that must exist.
pub fn stored(
    account: &AccountId,
    id: &MediaId,
    mime_type: &str,
    size: u64,
    sha256: &str,
) -> Update {
    Update::new(table::media(account, id))
        .set("state", Value::S(MediaState::Stored.as_str().into()))
        .set("mime_type", Value::S(mime_type.chars().take(200).collect()))
        .set("size", Value::N(size as i64))
        .set("sha256", Value::S(sha256.to_owned()))
        .when(Condition::Exists)
}

pub fn failed(account: &AccountId, id: &MediaId, reason: &str) -> Update {
    Update::new(table::media(account, id))
        .set("state", Value::S(MediaState::Failed.as_str().into()))
        .set("failure", Value::S(reason.to_owned()))
        .when(Condition::Exists)
}

// ---- download links ----

/// A download link's item, by the SHA-256 of its token; it expires with the link.
pub fn link_item(
    account: &AccountId,
    id: &MediaId,
    token_hash: &str,
    expires_at: Timestamp,
) -> Item {
    Item::new(table::media_link(token_hash))
        .with("account_id", Value::S(account.to_string()))
        .with("media_id", Value::S(id.to_string()))
        .expiring_at(expires_at.unix_timestamp())
}

/// Minting a link for a stored media: the media must exist; the link, and its note in the
/// tenant's partition (so erasing the media erases it), both expire with the link.
pub fn link_writes(
    account: &AccountId,
    id: &MediaId,
    token_hash: &str,
    expires_at: Timestamp,
) -> Vec<crate::ports::Write> {
    use crate::ports::Write;
    let note = Item::new(table::media_link_note(account, id, token_hash))
        .expiring_at(expires_at.unix_timestamp());
    vec![
        Write::Check {
            key: table::media(account, id),
            condition: Condition::Exists,
        },
        Write::put(link_item(account, id, token_hash, expires_at)),
        Write::put(note),
    ]
}

/// The notes of a media's links (expired ones too: the sweeper lags).
pub fn link_notes(account: &AccountId, id: &MediaId) -> crate::ports::Query {
    crate::ports::Query::partition(table::account_partition(account))
        .begins_with(format!("{}{id}#", table::MEDIA_LINK_NOTE_PREFIX))
        .including_expired()
}

/// The link a note stands for.
pub fn noted_link(note: &Item) -> Option<Key> {
    let rest = note.key.sk.strip_prefix(table::MEDIA_LINK_NOTE_PREFIX)?;
    let (_, hash) = rest.rsplit_once('#')?;
    Some(table::media_link(hash))
}

pub fn link(token_hash: &str) -> Key {
    table::media_link(token_hash)
}

/// The media a link item opens.
pub fn linked(link: &Item) -> Result<(AccountId, MediaId), RecordError> {
    Ok((
        link.s("account_id")?.parse()?,
        MediaId::parse(link.s("media_id")?)?,
    ))
}

/// The link items a media record names (records from before links were noted one by one).
pub fn links_of(item: &Item) -> Vec<Key> {
    super::strings(item.attrs.get("links"))
        .into_iter()
        .map(table::media_link)
        .collect()
}
