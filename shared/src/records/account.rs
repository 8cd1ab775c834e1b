//! The account item: the tenant's own details (name and email sealed), its state, its
//! keywords, its retention policy and the privacy policy version it accepted.

use super::{
    corrupt, from_millis, lease, opt_millis, string_list, strings, to_millis, RecordError, Sealer,
};
use crate::domain::{
    Account, AccountId, AccountState, BusinessName, Email, Keywords, Region, RetentionChanges,
    RetentionPolicy, Timestamp,
};
use crate::ports::{Condition, Cursor, Item, Query, StoreError, Update, Value, Write};
use crate::table;

const ENTITY: &str = "account";
/// Sealed fields of an account item.
pub const SEALED: u64 = 2;

pub fn to_item(s: &Sealer, a: &Account, policy_version: &str) -> Result<Item, RecordError> {
    let key = table::account(&a.id);
    let item = Item::new(key.clone())
        .with_gsi1(table::accounts_index(&a.id))
        // Signing up accepts the policy in force.
        .with("policy_version", Value::S(policy_version.to_owned()))
        .with("policy_accepted_at", Value::N(to_millis(a.created_at)))
        .with(
            "business_name",
            s.seal_str(ENTITY, &key, "business_name", a.business_name.as_str())?,
        )
        .with(
            "email",
            s.seal_str(ENTITY, &key, "email", a.email.as_str())?,
        )
        .with("state", Value::S(a.state.as_str().into()))
        .with("created_at", Value::N(to_millis(a.created_at)))
        .with("updated_at", Value::N(to_millis(a.updated_at)));
    Ok(match a.default_region {
        Some(r) => item.with("default_region", Value::S(r.as_str().into())),
        None => item,
    })
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<Account, RecordError> {
    let (stop_keywords, resume_keywords) = keywords(item)?;
    Ok(Account {
        id: s.tenant().clone(),
        business_name: BusinessName::parse(&s.open(ENTITY, item, "business_name")?)?,
        email: Email::parse(&s.open(ENTITY, item, "email")?)?,
        default_region: item
            .opt_s("default_region")
            .map(Region::parse)
            .transpose()?,
        state: state(item)?,
        stop_keywords,
        resume_keywords,
        created_at: from_millis(item.n("created_at")?)?,
        updated_at: from_millis(item.n("updated_at")?)?,
    })
}

pub fn state(item: &Item) -> Result<AccountState, StoreError> {
    AccountState::parse(item.s("state")?).ok_or_else(|| corrupt("unknown account state"))
}

/// The account's (stop, resume) keywords, read without opening its sealed fields.
pub fn keywords(item: &Item) -> Result<(Keywords, Keywords), StoreError> {
    Ok((
        keywords_of(item, "stop_keywords")?.unwrap_or_else(Keywords::default_stop),
        keywords_of(item, "resume_keywords")?.unwrap_or_else(Keywords::default_resume),
    ))
}

fn keywords_of(item: &Item, name: &str) -> Result<Option<Keywords>, StoreError> {
    if !item.attrs.contains_key(name) {
        return Ok(None);
    }
    Keywords::parse(&strings(item.attrs.get(name)))
        .map(Some)
        .map_err(|e| corrupt(e.0))
}

/// A correction of the account's own details, built field by field.
pub struct Correction<'a> {
    sealer: &'a Sealer,
    update: Update,
}

/// Starts a correction of an existing account, at `at`.
pub fn correct(sealer: &Sealer, at: Timestamp) -> Correction<'_> {
    Correction {
        update: Update::new(table::account(sealer.tenant()))
            .set("updated_at", Value::N(to_millis(at)))
            .when(Condition::Exists),
        sealer,
    }
}

impl Correction<'_> {
    pub fn business_name(mut self, name: &BusinessName) -> Result<Self, RecordError> {
        let key = self.update.key.clone();
        let sealed = self
            .sealer
            .seal_str(ENTITY, &key, "business_name", name.as_str())?;
        self.update = self.update.set("business_name", sealed);
        Ok(self)
    }

    pub fn email(mut self, email: &Email) -> Result<Self, RecordError> {
        let key = self.update.key.clone();
        let sealed = self
            .sealer
            .seal_str(ENTITY, &key, "email", email.as_str())?;
        self.update = self.update.set("email", sealed);
        Ok(self)
    }

    /// `None` clears it.
    pub fn default_region(mut self, region: Option<Region>) -> Self {
        self.update = match region {
            Some(r) => self
                .update
                .set("default_region", Value::S(r.as_str().into())),
            None => self.update.remove("default_region"),
        };
        self
    }

    /// `None` restores the default list.
    pub fn stop_keywords(mut self, k: Option<&Keywords>) -> Self {
        self.update = set_keywords(self.update, "stop_keywords", k);
        self
    }

    /// `None` restores the default list.
    pub fn resume_keywords(mut self, k: Option<&Keywords>) -> Self {
        self.update = set_keywords(self.update, "resume_keywords", k);
        self
    }

    pub fn into_update(self) -> Update {
        self.update
    }
}

fn set_keywords(update: Update, name: &str, k: Option<&Keywords>) -> Update {
    match k {
        Some(k) => update.set(name, string_list(k.iter())),
        None => update.remove(name),
    }
}

/// Fails a transaction unless the account is active (a new API key, say).
pub fn check_active(account: &AccountId) -> Write {
    Write::Check {
        key: table::account(account),
        condition: is_active(),
    }
}

fn is_active() -> Condition {
    Condition::Equals(
        "state".into(),
        Value::S(AccountState::Active.as_str().into()),
    )
}

/// Marks an active account closing, naming the partition of its receipt.
pub fn closing(account: &AccountId, receipt_partition: &str) -> Update {
    Update::new(table::account(account))
        .set("state", Value::S(AccountState::Closing.as_str().into()))
        .set("receipt", Value::S(receipt_partition.to_owned()))
        .when(is_active())
}

/// The erasure's first pass is over: the second may start at `at` (epoch ms).
pub fn first_pass_done(account: &AccountId, at: i64) -> Update {
    Update::new(table::account(account))
        .set(SECOND_PASS_AT, Value::N(at))
        .when(Condition::Exists)
}

const SECOND_PASS_AT: &str = "erasure_second_pass_at";

/// Takes the erasure for one step of `job` until `until_ms`, unless another job's step holds
/// its lease: a second erasure job (retention queues one for any closure it finds) then leaves,
/// rather than erase, and count in the receipt, the same items at the same time.
pub fn take_erasure(account: &AccountId, job: &str, now_ms: i64, until_ms: i64) -> Update {
    lease::take(Update::new(table::account(account)), job, until_ms)
        .when(lease::free_for(job, now_ms))
}

/// Gives the erasure back, before the step queues the next.
pub fn release_erasure(account: &AccountId, job: &str) -> Update {
    lease::give_up(Update::new(table::account(account))).when(lease::held_by(job))
}

/// When the erasure's second pass may start (epoch ms), once the first is over.
pub fn second_pass_at(item: &Item) -> Option<i64> {
    item.opt_n(SECOND_PASS_AT)
}

/// Whether the account takes work: it exists and is not closing.
pub fn is_open(item: &Item) -> bool {
    item.opt_s("state") == Some(AccountState::Active.as_str())
}

/// The partition of the receipt a closing account's erasure fills in.
pub fn receipt_partition(item: &Item) -> Option<&str> {
    item.opt_s("receipt")
}

/// The accounts of every tenant, through the index.
pub fn all() -> Query {
    Query::gsi1(table::ACCOUNTS_INDEX)
}

/// The tenant of an account item (as found through [`all`]).
pub fn id_of(item: &Item) -> Option<AccountId> {
    table::account_of_partition(&item.key.pk)
}

// ---- the privacy policy version accepted ----

/// The version the account accepted and when.
pub fn accepted_policy(item: &Item) -> Result<(Option<String>, Option<Timestamp>), StoreError> {
    Ok((
        item.opt_s("policy_version").map(str::to_owned),
        opt_millis(item, "policy_accepted_at")?,
    ))
}

pub fn accept_policy(account: &AccountId, version: &str, at: Timestamp) -> Update {
    Update::new(table::account(account))
        .set("policy_version", Value::S(version.to_owned()))
        .set("policy_accepted_at", Value::N(to_millis(at)))
        .when(Condition::Exists)
}

// ---- the retention policy ----

pub fn retention(item: Option<&Item>) -> RetentionPolicy {
    let d = RetentionPolicy::default();
    let days = |name: &str, default: u32| {
        item.and_then(|i| i.opt_n(name))
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    RetentionPolicy {
        message_days: days("retention_message_days", d.message_days),
        media_days: days("retention_media_days", d.media_days),
        export_days: days("retention_export_days", d.export_days),
    }
}

/// Sets the policy and marks it to be applied to what is stored by the next retention run.
pub fn set_retention(account: &AccountId, changes: &RetentionChanges) -> Update {
    let mut update = Update::new(table::account(account))
        .set("retention_dirty", Value::Bool(true))
        .remove("retention_cursor")
        .when(Condition::Exists);
    for (name, value) in [
        ("retention_message_days", changes.message_days),
        ("retention_media_days", changes.media_days),
        ("retention_export_days", changes.export_days),
    ] {
        if let Some(v) = value {
            update = update.set(name, Value::N(i64::from(v)));
        }
    }
    update
}

/// Where a changed policy's application to stored messages stands: `None` when there is
/// nothing to apply, else the cursor to go on from (`None` inside: from the start).
pub fn retention_to_apply(item: &Item) -> Result<Option<Option<Cursor>>, StoreError> {
    if item.opt_bool("retention_dirty") != Some(true) {
        return Ok(None);
    }
    Ok(Some(
        item.opt_s("retention_cursor")
            .map(Cursor::decode)
            .transpose()?,
    ))
}

/// The next retention run goes on from `cursor`.
pub fn retention_applied_up_to(account: &AccountId, cursor: &Cursor) -> Update {
    Update::new(table::account(account)).set("retention_cursor", Value::S(cursor.encode()))
}

/// A changed policy now holds for everything stored.
pub fn retention_applied(account: &AccountId) -> Update {
    Update::new(table::account(account))
        .remove("retention_dirty")
        .remove("retention_cursor")
        .when(Condition::Exists)
}
