//! Contacts: one per phone (or BSUID) per tenant, personal fields encrypted, found by phone or
//! BSUID through blind-index lookup items, consent changes kept as history.

use std::collections::BTreeMap;

use super::accounts::corrupt;
use super::{from_millis, to_millis, App, ServiceError};
use crate::crypto::{FieldRef, TenantKeys};
use crate::domain::{
    now, AccountId, Attributes, Bsuid, Consent, Contact, ContactId, ContactName, OptOut,
    PhoneNumber, Recorded, Tag, Tags, Timestamp,
};
use crate::ports::{Condition, Cursor, Item, Key, Query, StoreError, Update, Value, Write};
use crate::table;

const ENTITY: &str = "contact";
/// Blind-index kinds: the value spaces of contact lookups.
pub(crate) const PHONE: &str = "phone";
pub(crate) const BSUID: &str = "bsuid";

/// What a caller gives to create a contact.
#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub phone: Option<PhoneNumber>,
    pub user_id: Option<Bsuid>,
    pub name: Option<ContactName>,
    pub tags: Tags,
    pub attributes: Attributes,
    pub consent: Option<ConsentInput>,
}

/// Consent as a caller states it; the server adds when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentInput {
    pub opted_in: bool,
    pub source: Option<String>,
    pub text: Option<String>,
}

impl ConsentInput {
    /// Keeps the recorded time when the terms did not change.
    fn into_consent(self, previous: Option<&Consent>, at: Timestamp) -> Consent {
        let next = Consent {
            opted_in: self.opted_in,
            source: self.source,
            text: self.text,
            opted_in_at: None,
            recorded: None,
        };
        match previous {
            Some(p) if p.same_terms(&next) => p.clone(),
            _ => Consent {
                opted_in_at: next.opted_in.then_some(at),
                recorded: Some(Recorded {
                    at,
                    via: "api".into(),
                }),
                ..next
            },
        }
    }
}

/// A correction: `None` leaves a field as it is; `Some(None)` clears a clearable one.
#[derive(Clone, Debug, Default)]
pub struct ContactChanges {
    pub phone: Option<Option<PhoneNumber>>,
    pub user_id: Option<Option<Bsuid>>,
    pub name: Option<Option<ContactName>>,
    /// Replaces the tags.
    pub tags: Option<Tags>,
    /// Sets (`Some`) or removes (`None`) each named attribute.
    pub attributes: Option<BTreeMap<String, Option<String>>>,
    pub consent: Option<ConsentInput>,
    /// `Some(Some(reason))` records an opt-out now, `Some(None)` lifts it.
    pub opt_out: Option<Option<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    pub tag: Option<Tag>,
    /// `true`: opted in and not opted out (may get business-initiated messages).
    pub opted_in: Option<bool>,
}

/// One change of a contact's consent, kept for as long as the contact: the latest in the
/// contact's own item ([`Consent::recorded`]), the ones it replaced as consent records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    pub opted_in: bool,
    pub source: Option<String>,
    pub text: Option<String>,
    pub recorded_at: Timestamp,
    /// `api`, `import`, or (later) `webhook`.
    pub via: String,
}

/// What a deletion removed, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeletionReceipt {
    pub contacts: u64,
    pub lookup_entries: u64,
    pub consent_records: u64,
    /// Messages both ways, with their wamid lookups and any statuses kept for them.
    pub messages: u64,
    /// Files the contact sent.
    pub media: u64,
    pub conversations: u64,
    /// Service windows and pacing records of the contact, per number.
    pub windows: u64,
    /// Broadcast targets (which broadcast reached the contact).
    pub broadcast_targets: u64,
}

/// Most items a filtered list reads for one page before answering with what it found.
const MAX_SCANNED_PER_PAGE: u32 = 2000;

impl App {
    /// Creates a contact if the plan has room for one more.
    pub async fn create_contact(
        &self,
        account: &AccountId,
        new: NewContact,
    ) -> Result<Contact, ServiceError> {
        self.check_plan_contacts(account, 1).await?;
        self.insert_contact(account, new).await
    }

    /// Creates the contact of someone who wrote to the business: never refused (the message
    /// must be kept), though it counts toward the plan's contacts like any other.
    pub(crate) async fn create_inbound_contact(
        &self,
        account: &AccountId,
        new: NewContact,
    ) -> Result<Contact, ServiceError> {
        self.insert_contact(account, new).await
    }

    async fn insert_contact(
        &self,
        account: &AccountId,
        new: NewContact,
    ) -> Result<Contact, ServiceError> {
        if new.phone.is_none() && new.user_id.is_none() {
            return Err(ServiceError::invalid(
                "phone",
                "a contact needs a phone or a user_id",
            ));
        }
        let at = now();
        let consent = new.consent.map(|c| c.into_consent(None, at));
        let contact = Contact {
            id: ContactId::generate(),
            phone: new.phone,
            user_id: new.user_id,
            name: new.name,
            tags: new.tags,
            attributes: new.attributes,
            consent,
            opt_out: None,
            created_at: at,
            updated_at: at,
        };
        let mut writes = Vec::new();
        for key in self.lookup_keys(account, &contact).await? {
            writes.push(Write::put_new(lookup_item(key, &contact.id)));
        }
        writes.push(Write::put_new(
            self.contact_item(account, &contact, None).await?,
        ));
        writes.push(Write::Update(tally(account, 1)));
        match self.items.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                return Err(self.existing_conflict(account, &contact).await?)
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account_id = %account, contact_id = %contact.id, "contact created");
        Ok(contact)
    }

    pub async fn contact(
        &self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<Contact, ServiceError> {
        let item = self
            .items
            .get(&table::contact(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.contact_from_item(account, &item).await
    }

    /// Contacts in id (creation) order, filtered. A page may be shorter than `limit` when the
    /// filter is selective; follow `next` until it is `None`.
    pub async fn contacts(
        &self,
        account: &AccountId,
        filter: &ContactFilter,
        limit: u32,
        mut cursor: Option<Cursor>,
    ) -> Result<(Vec<Contact>, Option<Cursor>), ServiceError> {
        let mut conditions = Vec::new();
        if let Some(tag) = &filter.tag {
            conditions.push(Condition::Contains(
                "tags".into(),
                Value::S(tag.as_str().into()),
            ));
        }
        if let Some(opted_in) = filter.opted_in {
            conditions.push(Condition::Equals("opted_in".into(), Value::Bool(opted_in)));
        }
        let filter = (!conditions.is_empty()).then_some(Condition::And(conditions));
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            // Never read more than are still wanted: the cursor must not skip a match.
            let want = limit - found.len() as u32;
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with(table::CONTACT_PREFIX)
                        .limit(want)
                        .after(cursor)
                        .filter(filter.clone()),
                )
                .await?;
            scanned += want;
            for item in &page.items {
                found.push(self.contact_from_item(account, item).await?);
            }
            cursor = page.next;
            if cursor.is_none() || found.len() as u32 >= limit || scanned >= MAX_SCANNED_PER_PAGE {
                return Ok((found, cursor));
            }
        }
    }

    pub async fn find_contact_by_phone(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>, ServiceError> {
        self.find_contact(account, PHONE, phone.e164()).await
    }

    pub async fn find_contact_by_user_id(
        &self,
        account: &AccountId,
        user_id: &Bsuid,
    ) -> Result<Option<Contact>, ServiceError> {
        self.find_contact(account, BSUID, user_id.as_str()).await
    }

    async fn find_contact(
        &self,
        account: &AccountId,
        kind: &str,
        value: &str,
    ) -> Result<Option<Contact>, ServiceError> {
        let index = self.keyring.blind_index(account, kind, value).await?;
        let Some(lookup) = self
            .items
            .get(&table::contact_lookup(account, kind, &index))
            .await?
        else {
            return Ok(None);
        };
        let id: ContactId = lookup.s("contact_id")?.parse().map_err(corrupt)?;
        match self.contact(account, &id).await {
            Ok(c) => Ok(Some(c)),
            Err(ServiceError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn update_contact(
        &self,
        account: &AccountId,
        id: &ContactId,
        changes: ContactChanges,
    ) -> Result<Contact, ServiceError> {
        let current = self.contact(account, id).await?;
        let at = now();
        let mut next = current.clone();
        if let Some(phone) = changes.phone {
            next.phone = phone;
        }
        if let Some(user_id) = changes.user_id {
            next.user_id = user_id;
        }
        if next.phone.is_none() && next.user_id.is_none() {
            return Err(ServiceError::invalid(
                "phone",
                "a contact needs a phone or a user_id",
            ));
        }
        if let Some(name) = changes.name {
            next.name = name;
        }
        if let Some(tags) = changes.tags {
            next.tags = tags;
        }
        if let Some(attrs) = &changes.attributes {
            next.attributes = current
                .attributes
                .merge(attrs)
                .map_err(|e| ServiceError::invalid("attributes", &e.0))?;
        }
        if let Some(consent) = changes.consent {
            next.consent = Some(consent.into_consent(current.consent.as_ref(), at));
        }
        match changes.opt_out {
            Some(Some(reason)) => {
                next.opt_out = Some(OptOut {
                    opted_out_at: at,
                    reason,
                })
            }
            Some(None) => next.opt_out = None,
            None => {}
        }
        next.updated_at = at;
        self.replace_contact(account, &current, &next, None).await?;
        tracing::info!(account_id = %account, contact_id = %id, "contact updated");
        Ok(next)
    }

    /// Records the contact's opt-out from marketing messages, unless it already stands.
    pub(crate) async fn opt_out(
        &self,
        account: &AccountId,
        id: &ContactId,
        reason: &str,
    ) -> Result<(), ServiceError> {
        self.set_opt_out(account, id, Some(reason)).await
    }

    /// Lifts the contact's opt-out, if it has one.
    pub(crate) async fn lift_opt_out(
        &self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<(), ServiceError> {
        self.set_opt_out(account, id, None).await
    }

    async fn set_opt_out(
        &self,
        account: &AccountId,
        id: &ContactId,
        reason: Option<&str>,
    ) -> Result<(), ServiceError> {
        // A concurrent change of the contact is read again rather than overwritten.
        for _ in 0..5 {
            let current = match self.contact(account, id).await {
                Ok(c) => c,
                Err(ServiceError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            if current.opt_out.is_some() == reason.is_some() {
                return Ok(());
            }
            let changes = ContactChanges {
                opt_out: Some(reason.map(str::to_owned)),
                ..Default::default()
            };
            match self.update_contact(account, id, changes).await {
                Ok(_) | Err(ServiceError::NotFound) => return Ok(()),
                Err(ServiceError::ContactChanged) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ServiceError::ContactChanged)
    }

    pub async fn add_tags(
        &self,
        account: &AccountId,
        id: &ContactId,
        tags: Tags,
    ) -> Result<Contact, ServiceError> {
        let current = self.contact(account, id).await?;
        let mut all = current.tags.clone();
        all.extend(tags);
        crate::domain::check_tag_count(&all).map_err(|e| ServiceError::invalid("tags", &e.0))?;
        self.update_contact(
            account,
            id,
            ContactChanges {
                tags: Some(all),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn remove_tags(
        &self,
        account: &AccountId,
        id: &ContactId,
        tags: &Tags,
    ) -> Result<Contact, ServiceError> {
        let current = self.contact(account, id).await?;
        let rest: Tags = current.tags.difference(tags).cloned().collect();
        self.update_contact(
            account,
            id,
            ContactChanges {
                tags: Some(rest),
                ..Default::default()
            },
        )
        .await
    }

    /// Erases the contact, its lookup entries and its consent history.
    pub async fn delete_contact(
        &self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<DeletionReceipt, ServiceError> {
        let current = self.contact(account, id).await?;
        let lookups = self.lookup_keys(account, &current).await?;
        let mut writes = vec![Write::Delete {
            key: table::contact(account, id),
            condition: Some(Condition::Exists),
        }];
        for key in &lookups {
            writes.push(Write::Delete {
                key: key.clone(),
                condition: Some(Condition::Equals(
                    "contact_id".into(),
                    Value::S(id.to_string()),
                )),
            });
        }
        writes.push(Write::Update(tally(account, -1)));
        self.items.transact(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => ServiceError::NotFound,
            e => e.into(),
        })?;
        let mut receipt = DeletionReceipt {
            contacts: 1,
            lookup_entries: lookups.len() as u64,
            // The latest consent record went with the contact's own item.
            consent_records: current
                .consent
                .as_ref()
                .is_some_and(|c| c.recorded.is_some()) as u64,
            ..Default::default()
        };
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with(table::consent_prefix(id))
                        .limit(100),
                )
                .await?;
            for item in &page.items {
                self.items.delete(&item.key, None).await?;
                receipt.consent_records += 1;
            }
            if page.next.is_none() {
                break;
            }
        }
        self.erase_contact_traces(account, id, &mut receipt).await?;
        tracing::info!(account_id = %account, contact_id = %id, messages = receipt.messages, media = receipt.media, "contact deleted");
        Ok(receipt)
    }

    /// The contact's consent history, oldest first.
    pub async fn consent_history(
        &self,
        account: &AccountId,
        contact: &Contact,
    ) -> Result<Vec<ConsentRecord>, ServiceError> {
        let id = &contact.id;
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with(table::consent_prefix(id))
                        .limit(200)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                out.push(ConsentRecord {
                    opted_in: matches!(item.attrs.get("opted_in"), Some(Value::Bool(true))),
                    source: item.opt_s("source").map(str::to_owned),
                    text: item.opt_s("text").map(str::to_owned),
                    recorded_at: from_millis(item.n("recorded_at")?)?,
                    via: item.s("via")?.to_owned(),
                });
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        if let Some(c) = &contact.consent {
            if let Some(r) = &c.recorded {
                out.push(ConsentRecord {
                    opted_in: c.opted_in,
                    source: c.source.clone(),
                    text: c.text.clone(),
                    recorded_at: r.at,
                    via: r.via.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Writes `next` over `current` (same id): moves lookup entries whose value changed,
    /// records a consent change, and fails with [`ServiceError::ContactChanged`] if someone
    /// else wrote the contact in between.
    pub(crate) async fn replace_contact(
        &self,
        account: &AccountId,
        current: &Contact,
        next: &Contact,
        import: Option<&ImportMark>,
    ) -> Result<(), ServiceError> {
        let writes = self.replace_writes(account, current, next, import).await?;
        match self.items.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index: Some(0) }) => {
                Err(ServiceError::ContactChanged)
            }
            Err(StoreError::ConditionFailed { .. }) => {
                Err(self.existing_conflict(account, next).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The writes of [`App::replace_contact`]; the contact's own write comes first.
    pub(crate) async fn replace_writes(
        &self,
        account: &AccountId,
        current: &Contact,
        next: &Contact,
        import: Option<&ImportMark>,
    ) -> Result<Vec<Write>, ServiceError> {
        let mut writes = vec![Write::Put {
            item: self.contact_item(account, next, import).await?,
            condition: Some(Condition::Equals(
                "updated_at".into(),
                Value::N(to_millis(current.updated_at)),
            )),
        }];
        let old: Vec<Key> = self.lookup_keys(account, current).await?;
        let new: Vec<Key> = self.lookup_keys(account, next).await?;
        for key in old.iter().filter(|k| !new.contains(k)) {
            writes.push(Write::Delete {
                key: key.clone(),
                condition: Some(Condition::Equals(
                    "contact_id".into(),
                    Value::S(current.id.to_string()),
                )),
            });
        }
        for key in new.into_iter().filter(|k| !old.contains(k)) {
            writes.push(Write::put_new(lookup_item(key, &next.id)));
        }
        // The contact keeps the latest consent record; one it replaces becomes a record of its own.
        if let Some(previous) = &current.consent {
            let replaced = next
                .consent
                .as_ref()
                .is_none_or(|c| !c.same_terms(previous));
            if let (true, Some(recorded)) = (replaced, &previous.recorded) {
                writes.push(Write::put(consent_item(
                    account, &next.id, previous, recorded,
                )));
            }
        }
        Ok(writes)
    }

    /// The 409 for a contact whose phone or BSUID another contact holds.
    async fn existing_conflict(
        &self,
        account: &AccountId,
        contact: &Contact,
    ) -> Result<ServiceError, ServiceError> {
        for key in self.lookup_keys(account, contact).await? {
            if let Some(lookup) = self.items.get(&key).await? {
                let existing: ContactId = lookup.s("contact_id")?.parse().map_err(corrupt)?;
                if existing != contact.id {
                    return Ok(ServiceError::ContactExists {
                        existing_id: existing,
                    });
                }
            }
        }
        Ok(ServiceError::ContactChanged)
    }

    /// The lookup keys a contact owns: one for its phone, one for its BSUID.
    pub(crate) async fn lookup_keys(
        &self,
        account: &AccountId,
        contact: &Contact,
    ) -> Result<Vec<Key>, ServiceError> {
        let mut keys = Vec::with_capacity(2);
        if let Some(p) = &contact.phone {
            let index = self.keyring.blind_index(account, PHONE, p.e164()).await?;
            keys.push(table::contact_lookup(account, PHONE, &index));
        }
        if let Some(u) = &contact.user_id {
            let index = self.keyring.blind_index(account, BSUID, u.as_str()).await?;
            keys.push(table::contact_lookup(account, BSUID, &index));
        }
        Ok(keys)
    }

    pub(crate) async fn contact_item(
        &self,
        account: &AccountId,
        c: &Contact,
        import: Option<&ImportMark>,
    ) -> Result<Item, ServiceError> {
        let keys = self.keyring.checkout(account, CONTACT_FIELDS).await?;
        contact_item_with(&keys, account, c, import)
    }

    pub(crate) async fn contact_from_item(
        &self,
        account: &AccountId,
        item: &Item,
    ) -> Result<Contact, ServiceError> {
        let id: ContactId = item
            .key
            .sk
            .strip_prefix(table::CONTACT_PREFIX)
            .ok_or_else(|| StoreError::Corrupt("contact sort key".into()))?
            .parse()
            .map_err(corrupt)?;
        let open = |field| self.open_optional(account, ENTITY, item, field);
        let phone = open("phone").await?.map(|p| PhoneNumber::from_meta(&p));
        let user_id = open("user_id").await?.map(|u| Bsuid::parse(&u));
        let name = open("name").await?.map(|n| ContactName::parse(&n));
        let attributes = match open("attributes").await? {
            Some(json) => {
                let map: BTreeMap<String, String> =
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Attributes::parse(map).map_err(corrupt)?
            }
            None => Attributes::default(),
        };
        let tags = match item.attrs.get("tags") {
            Some(Value::L(l)) => l
                .iter()
                .filter_map(|v| match v {
                    Value::S(s) => Tag::parse(s).ok(),
                    _ => None,
                })
                .collect(),
            _ => Tags::new(),
        };
        let consent = match item.attrs.get("consent") {
            Some(Value::M(m)) => Some(Consent {
                opted_in: matches!(m.get("opted_in"), Some(Value::Bool(true))),
                source: match m.get("source") {
                    Some(Value::S(s)) => Some(s.clone()),
                    _ => None,
                },
                text: match m.get("text") {
                    Some(Value::S(s)) => Some(s.clone()),
                    _ => None,
                },
                opted_in_at: match m.get("opted_in_at") {
                    Some(Value::N(n)) => Some(from_millis(*n)?),
                    _ => None,
                },
                recorded: match (m.get("recorded_at"), m.get("via")) {
                    (Some(Value::N(at)), Some(Value::S(via))) => Some(Recorded {
                        at: from_millis(*at)?,
                        via: via.clone(),
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
            id,
            phone: phone.transpose().map_err(corrupt)?,
            user_id: user_id.transpose().map_err(corrupt)?,
            name: name.transpose().map_err(corrupt)?,
            tags,
            attributes,
            consent,
            opt_out,
            created_at: from_millis(item.n("created_at")?)?,
            updated_at: from_millis(item.n("updated_at")?)?,
        })
    }
}

/// Fields a contact item seals: phone, user id, name, attributes.
pub(crate) const CONTACT_FIELDS: u64 = 4;

/// The stored form of a contact, sealed with keys already at hand (bulk work seals on blocking
/// threads without going back to the keyring for every field).
pub(crate) fn contact_item_with(
    keys: &TenantKeys,
    account: &AccountId,
    c: &Contact,
    import: Option<&ImportMark>,
) -> Result<Item, ServiceError> {
    let key = table::contact(account, &c.id);
    let seal = |field: &'static str, value: &str| -> Result<Value, ServiceError> {
        let sealed = keys.seal(
            account,
            FieldRef::new(ENTITY, &key, field),
            value.as_bytes(),
        )?;
        Ok(Value::B(sealed))
    };
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
    if !c.attributes.is_empty() {
        let json = serde_json::to_string(c.attributes.map())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        item = item.with("attributes", seal("attributes", &json)?);
    }
    if let Some(consent) = &c.consent {
        let mut m = BTreeMap::from([("opted_in".to_owned(), Value::Bool(consent.opted_in))]);
        if let Some(s) = &consent.source {
            m.insert("source".into(), Value::S(s.clone()));
        }
        if let Some(t) = &consent.text {
            m.insert("text".into(), Value::S(t.clone()));
        }
        if let Some(at) = consent.opted_in_at {
            m.insert("opted_in_at".into(), Value::N(to_millis(at)));
        }
        if let Some(r) = &consent.recorded {
            m.insert("recorded_at".into(), Value::N(to_millis(r.at)));
            m.insert("via".into(), Value::S(r.via.clone()));
        }
        item = item.with("consent", Value::M(m));
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

/// Which import row last wrote a contact, and how: lets an interrupted import count a row it
/// had already applied exactly as it did the first time.
#[derive(Clone, Debug)]
pub(crate) struct ImportMark {
    pub import_id: String,
    pub row: u64,
    /// `created` or `updated`.
    pub outcome: String,
}

impl ImportMark {
    /// The mark on a stored contact, if an import wrote it.
    pub(crate) fn of(item: &Item) -> Option<Self> {
        Some(Self {
            import_id: item.opt_s("import_id")?.to_owned(),
            row: item.opt_n("import_row")? as u64,
            outcome: item.opt_s("import_outcome")?.to_owned(),
        })
    }
}

/// Moves the account's contact tally by `by` (in the transaction that adds or erases them).
pub(crate) fn tally(account: &AccountId, by: i64) -> Update {
    Update::new(table::contact_tally(account)).add("contacts", by)
}

pub(crate) fn lookup_item(key: Key, id: &ContactId) -> Item {
    Item::new(key).with("contact_id", Value::S(id.to_string()))
}

/// A consent record the contact's latest one replaced.
pub(crate) fn consent_item(
    account: &AccountId,
    id: &ContactId,
    c: &Consent,
    recorded: &Recorded,
) -> Item {
    let mut item = Item::new(table::consent_record(
        account,
        id,
        &ulid::Ulid::new().to_string(),
    ))
    .with("opted_in", Value::Bool(c.opted_in))
    .with("recorded_at", Value::N(to_millis(recorded.at)))
    .with("via", Value::S(recorded.via.clone()));
    if let Some(s) = &c.source {
        item = item.with("source", Value::S(s.clone()));
    }
    if let Some(t) = &c.text {
        item = item.with("text", Value::S(t.clone()));
    }
    item
}
