//! Contacts: the contact item (phone, user id, name and attributes sealed), a lookup item per
//! phone or BSUID keyed by its blind index, consent records the contact's latest consent
//! replaced, and the tenant's tally of contacts held.

use std::collections::BTreeMap;

use super::{
    from_json, from_millis, id_after, map_n, map_s, to_json, to_millis, MapBuilder, RecordError,
    Sealer,
};
use crate::domain::{
    AccountId, Attributes, Bsuid, Consent, ConsentRecord, Contact, ContactId, ContactName, OptOut,
    PhoneNumber, Recorded, Tag, Username,
};
use crate::ports::{Condition, Item, Key, Query, Update, Value, Write};
use crate::table;

const ENTITY: &str = "contact";
/// Sealed fields of a contact item: phone, user id, name, username, attributes.
pub const SEALED: u64 = 5;
/// Blind-index kinds: the value spaces of contact lookups.
pub const PHONE: &str = "phone";
pub const BSUID: &str = "bsuid";

/// Which import row last wrote a contact, and how: lets an interrupted import count a row it
/// had already applied exactly as it did the first time.
#[derive(Clone, Debug)]
pub struct ImportMark {
    pub import_id: String,
    pub row: u64,
    /// `created` or `updated`.
    pub outcome: String,
}

impl ImportMark {
    /// The mark on a stored contact, if an import wrote it.
    pub fn of(item: &Item) -> Option<Self> {
        Some(Self {
            import_id: item.opt_s("import_id")?.to_owned(),
            row: item.opt_n("import_row")? as u64,
            outcome: item.opt_s("import_outcome")?.to_owned(),
        })
    }
}

pub fn to_item(s: &Sealer, c: &Contact, import: Option<&ImportMark>) -> Result<Item, RecordError> {
    let key = table::contact(s.tenant(), &c.id);
    let seal = |field: &'static str, value: &str| s.seal_str(ENTITY, &key, field, value);
    let mut item = Item::new(key.clone())
        .with(
            "tags",
            Value::L(c.tags.iter().map(|t| Value::S(t.as_str().into())).collect()),
        )
        .with("opted_in", Value::Bool(c.opted_in()))
        .with("created_at", Value::N(to_millis(c.created_at)))
        .with("updated_at", Value::N(to_millis(c.updated_at)));
    if let Some(p) = &c.phone {
        item = item.with("phone", seal("phone", p.e164())?);
    }
    if let Some(u) = &c.user_id {
        item = item.with("user_id", seal("user_id", u.as_str())?);
    }
    if let Some(n) = &c.name {
        item = item.with("name", seal("name", n.as_str())?);
    }
    if let Some(u) = &c.username {
        item = item.with("username", seal("username", u.as_str())?);
    }
    if !c.attributes.is_empty() {
        item = item.with(
            "attributes",
            seal("attributes", &to_json(c.attributes.map())?)?,
        );
    }
    if let Some(consent) = &c.consent {
        let mut m = MapBuilder::new()
            .with("opted_in", Value::Bool(consent.opted_in))
            .with_opt("source", consent.source.clone().map(Value::S))
            .with_opt("text", consent.text.clone().map(Value::S))
            .with_opt(
                "opted_in_at",
                consent.opted_in_at.map(|at| Value::N(to_millis(at))),
            );
        if let Some(r) = &consent.recorded {
            m = m
                .with("recorded_at", Value::N(to_millis(r.at)))
                .with("via", Value::S(r.via.clone()));
        }
        item = item.with("consent", m.build());
    }
    if let Some(o) = &c.opt_out {
        item = item
            .with("opted_out_at", Value::N(to_millis(o.opted_out_at)))
            .with("opt_out_reason", Value::S(o.reason.clone()));
    }
    if let Some(mark) = import {
        item = item
            .with("import_id", Value::S(mark.import_id.clone()))
            .with("import_row", Value::N(mark.row as i64))
            .with("import_outcome", Value::S(mark.outcome.clone()));
    }
    Ok(item)
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<Contact, RecordError> {
    let open = |field| s.open_optional(ENTITY, item, field);
    let attributes = match open("attributes")? {
        Some(json) => Attributes::parse(from_json::<BTreeMap<String, String>>(&json)?)?,
        None => Attributes::default(),
    };
    let tags = super::strings(item.attrs.get("tags"))
        .into_iter()
        .filter_map(|t| Tag::parse(t).ok())
        .collect();
    let consent = match item.attrs.get("consent") {
        Some(Value::M(m)) => Some(Consent {
            opted_in: matches!(m.get("opted_in"), Some(Value::Bool(true))),
            source: map_s(m, "source"),
            text: map_s(m, "text"),
            opted_in_at: map_n(m, "opted_in_at").map(from_millis).transpose()?,
            recorded: match (map_n(m, "recorded_at"), map_s(m, "via")) {
                (Some(at), Some(via)) => Some(Recorded {
                    at: from_millis(at)?,
                    via,
                }),
                _ => None,
            },
        }),
        _ => None,
    };
    let opt_out = match item.opt_n("opted_out_at") {
        Some(at) => Some(OptOut {
            opted_out_at: from_millis(at)?,
            reason: item.opt_s("opt_out_reason").unwrap_or_default().to_owned(),
        }),
        None => None,
    };
    Ok(Contact {
        id: id_after(item, table::CONTACT_PREFIX)?,
        phone: open("phone")?
            .map(|p| PhoneNumber::from_meta(&p))
            .transpose()?,
        user_id: open("user_id")?.map(|u| Bsuid::parse(&u)).transpose()?,
        name: open("name")?.map(|n| ContactName::parse(&n)).transpose()?,
        username: open("username")?.map(|u| Username::parse(&u)).transpose()?,
        tags,
        attributes,
        consent,
        opt_out,
        created_at: from_millis(item.n("created_at")?)?,
        updated_at: from_millis(item.n("updated_at")?)?,
    })
}

/// The account's contacts in id (creation) order.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::CONTACT_PREFIX)
}

/// Contacts carrying `tag`.
pub fn tagged(tag: &Tag) -> Condition {
    Condition::Contains("tags".into(), Value::S(tag.as_str().into()))
}

/// Contacts that may (`true`) or may not get business-initiated messages.
pub fn opted_in(yes: bool) -> Condition {
    Condition::Equals("opted_in".into(), Value::Bool(yes))
}

/// The lookup key of a phone or BSUID (`kind` is [`PHONE`] or [`BSUID`]).
pub fn lookup_key(s: &Sealer, kind: &str, value: &str) -> Key {
    lookup_key_and_index(s, kind, value).0
}

/// [`lookup_key`] and the blind index in it.
pub fn lookup_key_and_index(s: &Sealer, kind: &str, value: &str) -> (Key, String) {
    let index = s.blind_index(kind, value);
    (table::contact_lookup(s.tenant(), kind, &index), index)
}

/// The lookup keys a contact owns: one for its phone, one for its BSUID.
pub fn lookup_keys(s: &Sealer, c: &Contact) -> Vec<Key> {
    let mut keys = Vec::with_capacity(2);
    if let Some(p) = &c.phone {
        keys.push(lookup_key(s, PHONE, p.e164()));
    }
    if let Some(u) = &c.user_id {
        keys.push(lookup_key(s, BSUID, u.as_str()));
    }
    keys
}

/// The contact a lookup item names.
pub fn looked_up(lookup: &Item) -> Result<ContactId, RecordError> {
    Ok(lookup.s("contact_id")?.parse()?)
}

pub fn lookup_item(key: Key, id: &ContactId) -> Item {
    Item::new(key).with("contact_id", Value::S(id.to_string()))
}

fn names(id: &ContactId) -> Condition {
    Condition::Equals("contact_id".into(), Value::S(id.to_string()))
}

/// Creating a contact: its lookups (`lookups`, from [`lookup_keys`]) and itself, each only if
/// absent; the transaction adds the [`tally`]. A condition failing on a lookup means another
/// contact holds that phone or BSUID.
pub fn create_writes(
    s: &Sealer,
    c: &Contact,
    lookups: Vec<Key>,
    import: Option<&ImportMark>,
) -> Result<Vec<Write>, RecordError> {
    let mut writes: Vec<Write> = lookups
        .into_iter()
        .map(|k| Write::put_new(lookup_item(k, &c.id)))
        .collect();
    writes.push(Write::put_new(to_item(s, c, import)?));
    Ok(writes)
}

/// Writes `next` over `current` (same id): moves lookup entries whose value changed, keeps a
/// consent entry the new one replaces as a record of its own. The contact's own write comes
/// first and holds only if nobody wrote the contact in between.
pub fn replace_writes(
    s: &Sealer,
    current: &Contact,
    next: &Contact,
    import: Option<&ImportMark>,
) -> Result<Vec<Write>, RecordError> {
    let mut writes = vec![Write::Put {
        item: to_item(s, next, import)?,
        condition: Some(Condition::Equals(
            "updated_at".into(),
            Value::N(to_millis(current.updated_at)),
        )),
    }];
    let old = lookup_keys(s, current);
    let new = lookup_keys(s, next);
    for key in old.iter().filter(|k| !new.contains(k)) {
        writes.push(Write::Delete {
            key: key.clone(),
            condition: Some(names(&current.id)),
        });
    }
    for key in new.into_iter().filter(|k| !old.contains(k)) {
        writes.push(Write::put_new(lookup_item(key, &next.id)));
    }
    if let Some(previous) = &current.consent {
        let replaced = next
            .consent
            .as_ref()
            .is_none_or(|c| !c.same_terms(previous));
        if let (true, Some(record)) = (replaced, ConsentRecord::of(previous)) {
            writes.push(Write::put(consent_item(s.tenant(), &next.id, &record)));
        }
    }
    Ok(writes)
}

/// Erasing a contact: itself (it must exist), its lookups (where they still name it), one
/// less in the tally.
pub fn delete_writes(s: &Sealer, c: &Contact) -> Vec<Write> {
    let mut writes = vec![Write::Delete {
        key: table::contact(s.tenant(), &c.id),
        condition: Some(Condition::Exists),
    }];
    for key in lookup_keys(s, c) {
        writes.push(Write::Delete {
            key,
            condition: Some(names(&c.id)),
        });
    }
    writes.push(Write::Update(tally(s.tenant(), -1)));
    writes
}

/// Moves the account's contact tally by `by` (in the transaction that adds or erases them).
pub fn tally(account: &AccountId, by: i64) -> Update {
    Update::new(table::contact_tally(account)).add("contacts", by)
}

/// How many contacts the tally says the account holds.
pub fn tallied(item: Option<&Item>) -> u64 {
    item.and_then(|i| i.opt_n("contacts")).unwrap_or(0).max(0) as u64
}

/// A consent record the contact's latest one replaced.
pub fn consent_item(account: &AccountId, id: &ContactId, r: &ConsentRecord) -> Item {
    let mut item = Item::new(table::consent_record(
        account,
        id,
        &ulid::Ulid::new().to_string(),
    ))
    .with("opted_in", Value::Bool(r.opted_in))
    .with("recorded_at", Value::N(to_millis(r.recorded_at)))
    .with("via", Value::S(r.via.clone()));
    if let Some(s) = &r.source {
        item = item.with("source", Value::S(s.clone()));
    }
    if let Some(t) = &r.text {
        item = item.with("text", Value::S(t.clone()));
    }
    item
}

pub fn consent_from_item(item: &Item) -> Result<ConsentRecord, RecordError> {
    Ok(ConsentRecord {
        opted_in: matches!(item.attrs.get("opted_in"), Some(Value::Bool(true))),
        source: item.opt_s("source").map(str::to_owned),
        text: item.opt_s("text").map(str::to_owned),
        recorded_at: from_millis(item.n("recorded_at")?)?,
        via: item.s("via")?.to_owned(),
    })
}

/// The consent records of a contact, oldest first.
pub fn consent_records(account: &AccountId, id: &ContactId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::consent_prefix(id))
}

/// Whether a contact item holds the latest entry of its consent history.
pub fn holds_consent_record(item: &Item) -> bool {
    matches!(item.attrs.get("consent"), Some(Value::M(c)) if c.contains_key("via"))
}
