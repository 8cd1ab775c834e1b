//! Contacts: one per phone (or BSUID) per tenant, personal fields encrypted, found by phone or
//! BSUID through blind-index lookup items, consent changes kept as history.

use std::collections::BTreeMap;

use futures::TryStreamExt;

use super::accounts::Principal;
use super::{App, ServiceError};
use crate::domain::{
    now, AccountId, Attributes, AuditAction, AuditTarget, Bsuid, Consent, ConsentRecord, Contact,
    ContactId, ContactName, OptOut, PhoneNumber, Recorded, Tag, Tags, Timestamp,
};
use crate::ports::{Condition, Cursor, StoreError};
use crate::records::{self, contact};

pub use crate::records::contact::{BSUID, PHONE};

/// What a caller gives to create a contact.
#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub phone: Option<PhoneNumber>,
    pub user_id: Option<Bsuid>,
    pub name: Option<ContactName>,
    /// Meta's, for contacts made from inbound messages.
    pub username: Option<crate::domain::Username>,
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
    /// Meta's, from inbound messages; not taken from callers.
    pub username: Option<Option<crate::domain::Username>>,
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
        let c = Contact {
            id: ContactId::generate(),
            phone: new.phone,
            user_id: new.user_id,
            name: new.name,
            username: new.username,
            tags: new.tags,
            attributes: new.attributes,
            consent,
            opt_out: None,
            created_at: at,
            updated_at: at,
        };
        let sealer = self.sealer(account, contact::SEALED + 2).await?;
        let lookups = contact::lookup_keys(&sealer, &c);
        let mut writes = contact::create_writes(&sealer, &c, lookups, None)?;
        writes.push(crate::ports::Write::Update(contact::tally(account, 1)));
        match self.items.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                return Err(self.existing_conflict(&sealer, &c).await?)
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account_id = %account, contact_id = %c.id, "contact created");
        self.raise_contact_created(account, &c).await?;
        Ok(c)
    }

    pub async fn contact(
        &self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<Contact, ServiceError> {
        self.found_sealed(
            account,
            &crate::table::contact(account, id),
            contact::SEALED,
            contact::from_item,
        )
        .await
    }

    /// Several contacts by id in one read, in the order asked; `None` where none is.
    pub async fn contacts_by_id(
        &self,
        account: &AccountId,
        ids: &[ContactId],
    ) -> Result<Vec<Option<Contact>>, ServiceError> {
        let keys: Vec<_> = ids
            .iter()
            .map(|id| crate::table::contact(account, id))
            .collect();
        let items = self.items.batch_get(&keys).await?;
        let sealer = self
            .sealer(account, ids.len() as u64 * contact::SEALED)
            .await?;
        Ok(items
            .iter()
            .map(|i| {
                i.as_ref()
                    .map(|i| contact::from_item(&sealer, i))
                    .transpose()
            })
            .collect::<Result<_, _>>()?)
    }

    /// Contacts in id (creation) order, filtered. A page may be shorter than `limit` when the
    /// filter is selective; follow `next` until it is `None`.
    pub async fn contacts(
        &self,
        account: &AccountId,
        filter: &ContactFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Contact>, Option<Cursor>), ServiceError> {
        let mut conditions = Vec::new();
        if let Some(tag) = &filter.tag {
            conditions.push(contact::tagged(tag));
        }
        if let Some(opted_in) = filter.opted_in {
            conditions.push(contact::opted_in(opted_in));
        }
        let filter = (!conditions.is_empty()).then_some(Condition::And(conditions));
        let query = contact::all(account).after(cursor).filter(filter);
        let page = records::fill(&*self.items, query, limit, MAX_SCANNED_PER_PAGE).await?;
        let sealer = self
            .sealer(account, page.items.len() as u64 * contact::SEALED)
            .await?;
        let contacts = page
            .items
            .iter()
            .map(|i| contact::from_item(&sealer, i))
            .collect::<Result<_, _>>()?;
        Ok((contacts, page.next))
    }

    /// Reads a phone number as the tenant writes them: international with `+`, else in the
    /// account's default region (read only then). The inner result is the caller's input.
    pub async fn read_phone(
        &self,
        account: &AccountId,
        raw: &str,
    ) -> Result<Result<PhoneNumber, crate::domain::Invalid>, ServiceError> {
        let region = match raw.trim_start().starts_with('+') {
            true => None,
            false => self.account(account).await?.default_region,
        };
        Ok(PhoneNumber::parse(raw, region))
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
        let sealer = self.sealer(account, 1).await?;
        let Some(lookup) = self
            .items
            .get(&contact::lookup_key(&sealer, kind, value))
            .await?
        else {
            return Ok(None);
        };
        let id = contact::looked_up(&lookup)?;
        match self.contact(account, &id).await {
            Ok(c) => Ok(Some(c)),
            Err(ServiceError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Corrects a contact at its owner's request (audited).
    pub async fn correct_contact(
        &self,
        by: &Principal,
        id: &ContactId,
        changes: ContactChanges,
    ) -> Result<Contact, ServiceError> {
        let contact = self.update_contact(&by.account_id, id, changes).await?;
        self.audit(
            &by.account_id,
            &by.actor,
            AuditAction::ContactCorrected,
            Some(AuditTarget::new("contact", id)),
        )
        .await?;
        Ok(contact)
    }

    /// Changes a contact (corrections, opt-outs, what an inbound message teaches).
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
        if let Some(username) = changes.username {
            next.username = username;
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
        self.replace_contact(account, &current, &next).await?;
        tracing::info!(account_id = %account, contact_id = %id, "contact updated");
        self.raise_consent_change(account, &current, &next).await?;
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

    /// Erases the contact, its lookup entries, its consent history and every trace of it
    /// (audited).
    pub async fn delete_contact(
        &self,
        by: &Principal,
        id: &ContactId,
    ) -> Result<DeletionReceipt, ServiceError> {
        let account = &by.account_id;
        let current = self.contact(account, id).await?;
        let sealer = self.sealer(account, 2).await?;
        let writes = contact::delete_writes(&sealer, &current);
        let lookups = writes.len() as u64 - 2;
        self.items.transact(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => ServiceError::NotFound,
            e => e.into(),
        })?;
        let mut receipt = DeletionReceipt {
            contacts: 1,
            lookup_entries: lookups,
            // The latest consent record went with the contact's own item.
            consent_records: current
                .consent
                .as_ref()
                .is_some_and(|c| c.recorded.is_some()) as u64,
            ..Default::default()
        };
        let mut records = records::items(&*self.items, contact::consent_records(account, id));
        while let Some(item) = records.try_next().await? {
            self.items.delete(&item.key, None).await?;
            receipt.consent_records += 1;
        }
        self.erase_contact_traces(account, id, &mut receipt).await?;
        tracing::info!(account_id = %account, contact_id = %id, messages = receipt.messages, media = receipt.media, "contact deleted");
        self.audit(
            account,
            &by.actor,
            AuditAction::ContactDeleted,
            Some(AuditTarget::new("contact", id)),
        )
        .await?;
        Ok(receipt)
    }

    /// The contact's consent history, oldest first.
    pub async fn consent_history(
        &self,
        account: &AccountId,
        c: &Contact,
    ) -> Result<Vec<ConsentRecord>, ServiceError> {
        let mut out: Vec<ConsentRecord> = records::items(
            &*self.items,
            contact::consent_records(account, &c.id).limit(200),
        )
        .map_err(ServiceError::from)
        .and_then(|item| async move { Ok(contact::consent_from_item(&item)?) })
        .try_collect()
        .await?;
        out.extend(c.consent.as_ref().and_then(ConsentRecord::of));
        Ok(out)
    }

    /// Writes `next` over `current` (same id), failing with [`ServiceError::ContactChanged`]
    /// if someone else wrote the contact in between.
    async fn replace_contact(
        &self,
        account: &AccountId,
        current: &Contact,
        next: &Contact,
    ) -> Result<(), ServiceError> {
        let sealer = self.sealer(account, contact::SEALED + 4).await?;
        let writes = contact::replace_writes(&sealer, current, next, None)?;
        match self.items.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index: Some(0) }) => {
                Err(ServiceError::ContactChanged)
            }
            Err(StoreError::ConditionFailed { .. }) => {
                Err(self.existing_conflict(&sealer, next).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The 409 for a contact whose phone or BSUID another contact holds.
    async fn existing_conflict(
        &self,
        sealer: &records::Sealer,
        c: &Contact,
    ) -> Result<ServiceError, ServiceError> {
        for key in contact::lookup_keys(sealer, c) {
            if let Some(lookup) = self.items.get(&key).await? {
                let existing = contact::looked_up(&lookup)?;
                if existing != c.id {
                    return Ok(ServiceError::ContactExists {
                        existing_id: existing,
                    });
                }
            }
        }
        Ok(ServiceError::ContactChanged)
    }
}
