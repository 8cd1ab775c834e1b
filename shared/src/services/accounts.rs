//! Accounts (tenants) and their API keys.

use super::{from_millis, to_millis, App, ServiceError};
use crate::domain::{
    now, Account, AccountId, AccountState, ApiKey, ApiKeyId, ApiKeyName, ApiKeySecret,
    BusinessName, Email, Keywords, Region,
};
use crate::ports::{Condition, Cursor, Item, Query, StoreError, Update, Value, Write};
use crate::table;

const ENTITY: &str = "account";

pub struct NewAccount {
    pub business_name: BusinessName,
    pub email: Email,
    pub default_region: Option<Region>,
}

/// A correction of the account's own details; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountChanges {
    pub business_name: Option<BusinessName>,
    pub email: Option<Email>,
    /// `Some(None)` clears it.
    pub default_region: Option<Option<Region>>,
    /// `Some(None)` restores the default list.
    pub stop_keywords: Option<Option<Keywords>>,
    /// `Some(None)` restores the default list.
    pub resume_keywords: Option<Option<Keywords>>,
    /// The retention policy (days); the next retention run applies it to stored data.
    pub retention: Option<super::privacy::retention::RetentionChanges>,
}

/// Who is calling: the tenant and the key it used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: AccountId,
    pub key_id: ApiKeyId,
}

impl App {
    /// Creates the account, its data key and its first API key in one transaction.
    pub async fn signup(
        &self,
        new: NewAccount,
        first_key_name: ApiKeyName,
    ) -> Result<(Account, ApiKey, ApiKeySecret), ServiceError> {
        let id = AccountId::generate();
        let at = now();
        let account = Account {
            id: id.clone(),
            business_name: new.business_name,
            email: new.email,
            default_region: new.default_region,
            state: AccountState::Active,
            stop_keywords: Keywords::default_stop(),
            resume_keywords: Keywords::default_resume(),
            created_at: at,
            updated_at: at,
        };
        let data_key = self.keyring.provision(&id).await?;
        let account_item = self.account_item(&account).await?;
        let (key, secret, key_writes) = self.api_key_writes(&id, first_key_name);
        let mut writes = vec![Write::put_new(data_key), Write::put_new(account_item)];
        writes.extend(key_writes);
        self.items.transact(writes).await?;
        tracing::info!(account_id = %id, "account created");
        Ok((account, key, secret))
    }

    pub async fn account(&self, id: &AccountId) -> Result<Account, ServiceError> {
        let item = self
            .items
            .get(&table::account(id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.account_from_item(id, &item).await
    }

    pub async fn update_account(
        &self,
        id: &AccountId,
        changes: AccountChanges,
    ) -> Result<Account, ServiceError> {
        if let Some(r) = &changes.retention {
            r.check().map_err(|(f, e)| ServiceError::invalid(f, &e.0))?;
        }
        let key = table::account(id);
        let mut update = Update::new(key.clone())
            .set("updated_at", Value::N(to_millis(now())))
            .when(Condition::Exists);
        if let Some(name) = &changes.business_name {
            let sealed = self
                .seal(id, ENTITY, &key, "business_name", name.as_str())
                .await?;
            update = update.set("business_name", sealed);
        }
        if let Some(email) = &changes.email {
            let sealed = self.seal(id, ENTITY, &key, "email", email.as_str()).await?;
            update = update.set("email", sealed);
        }
        match changes.default_region {
            Some(Some(r)) => update = update.set("default_region", Value::S(r.as_str().into())),
            Some(None) => update = update.remove("default_region"),
            None => {}
        }
        for (name, change) in [
            ("stop_keywords", &changes.stop_keywords),
            ("resume_keywords", &changes.resume_keywords),
        ] {
            match change {
                Some(Some(k)) => update = update.set(name, keywords_value(k)),
                Some(None) => update = update.remove(name),
                None => {}
            }
        }
        let item = self
            .items
            .update(update)
            .await
            .map_err(not_found_if_absent)?;
        if let Some(r) = changes.retention {
            self.set_retention(id, r).await?;
        }
        tracing::info!(account_id = %id, "account updated");
        self.account_from_item(id, &item).await
    }

    /// Resolves a bearer token to its tenant with one strongly consistent read.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, ServiceError> {
        let secret = ApiKeySecret::parse(bearer).map_err(|_| ServiceError::Unauthorized)?;
        let lookup = self
            .items
            .get(&table::api_key_lookup(&secret.hash_hex()))
            .await?
            .ok_or(ServiceError::Unauthorized)?;
        let account_id = lookup.s("account_id")?.parse().map_err(corrupt)?;
        let key_id = lookup.s("key_id")?.parse().map_err(corrupt)?;
        Ok(Principal { account_id, key_id })
    }

    pub async fn create_api_key(
        &self,
        account: &AccountId,
        name: ApiKeyName,
    ) -> Result<(ApiKey, ApiKeySecret), ServiceError> {
        let (key, secret, mut writes) = self.api_key_writes(account, name);
        // The account must still be active for a new key to be valid.
        writes.push(Write::Check {
            key: table::account(account),
            condition: Condition::Equals(
                "state".into(),
                Value::S(AccountState::Active.as_str().into()),
            ),
        });
        self.items
            .transact(writes)
            .await
            .map_err(not_found_if_absent)?;
        tracing::info!(account_id = %account, key_id = %key.id, "api key created");
        Ok((key, secret))
    }

    pub async fn api_keys(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<ApiKey>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(account))
                    .begins_with(table::API_KEY_PREFIX)
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let keys = page
            .items
            .iter()
            .map(api_key_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((keys, page.next))
    }

    /// Revokes a key at once: its lookup entry goes, its record stays (marked revoked) so the
    /// owner can see what existed. Revoking a revoked key is a no-op.
    pub async fn revoke_api_key(
        &self,
        account: &AccountId,
        key_id: &ApiKeyId,
    ) -> Result<(), ServiceError> {
        let record_key = table::api_key(account, key_id);
        let record = self
            .items
            .get(&record_key)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let key = api_key_from_item(&record)?;
        if key.revoked_at.is_some() {
            return Ok(());
        }
        let others_active = self
            .active_api_keys(account)
            .await?
            .into_iter()
            .any(|k| k != *key_id);
        if !others_active {
            return Err(ServiceError::LastApiKey);
        }
        let hash = record.s("hash")?.to_owned();
        self.items
            .transact(vec![
                Write::Delete {
                    key: table::api_key_lookup(&hash),
                    condition: None,
                },
                Write::Update(
                    Update::new(record_key)
                        .set("revoked_at", Value::N(to_millis(now())))
                        .when(Condition::AttributeNotExists("revoked_at".into())),
                ),
            ])
            .await
            .or_else(|e| match e {
                // Revoked concurrently: the outcome is the one asked for.
                StoreError::ConditionFailed { .. } => Ok(()),
                e => Err(e),
            })?;
        tracing::info!(account_id = %account, key_id = %key_id, "api key revoked");
        Ok(())
    }

    async fn active_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKeyId>, ServiceError> {
        let mut active = Vec::new();
        let mut cursor = None;
        loop {
            let (keys, next) = self.api_keys(account, 200, cursor).await?;
            active.extend(
                keys.into_iter()
                    .filter(|k| k.revoked_at.is_none())
                    .map(|k| k.id),
            );
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(active),
            }
        }
    }

    /// The record and the lookup entry of a new key; nothing is written yet.
    fn api_key_writes(
        &self,
        account: &AccountId,
        name: ApiKeyName,
    ) -> (ApiKey, ApiKeySecret, Vec<Write>) {
        let secret = ApiKeySecret::generate();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            name,
            prefix: secret.prefix(),
            created_at: now(),
            revoked_at: None,
        };
        let hash = secret.hash_hex();
        let record = Item::new(table::api_key(account, &key.id))
            .with("name", Value::S(key.name.as_str().into()))
            .with("prefix", Value::S(key.prefix.clone()))
            .with("hash", Value::S(hash.clone()))
            .with("created_at", Value::N(to_millis(key.created_at)));
        let lookup = Item::new(table::api_key_lookup(&hash))
            .with("account_id", Value::S(account.to_string()))
            .with("key_id", Value::S(key.id.to_string()));
        (
            key,
            secret,
            vec![Write::put_new(record), Write::put_new(lookup)],
        )
    }

    async fn account_item(&self, account: &Account) -> Result<Item, ServiceError> {
        let key = table::account(&account.id);
        let name = self
            .seal(
                &account.id,
                ENTITY,
                &key,
                "business_name",
                account.business_name.as_str(),
            )
            .await?;
        let email = self
            .seal(&account.id, ENTITY, &key, "email", account.email.as_str())
            .await?;
        let item = Item::new(key)
            .with_gsi1(crate::ports::Key::new(
                super::privacy::retention::ACCOUNTS_INDEX,
                account.id.to_string(),
            ))
            // Signing up accepts the policy in force.
            .with("policy_version", Value::S(self.policy.version.clone()))
            .with(
                "policy_accepted_at",
                Value::N(to_millis(account.created_at)),
            )
            .with("business_name", name)
            .with("email", email)
            .with("state", Value::S(account.state.as_str().into()))
            .with("created_at", Value::N(to_millis(account.created_at)))
            .with("updated_at", Value::N(to_millis(account.updated_at)));
        Ok(match account.default_region {
            Some(r) => item.with("default_region", Value::S(r.as_str().into())),
            None => item,
        })
    }

    async fn account_from_item(
        &self,
        id: &AccountId,
        item: &Item,
    ) -> Result<Account, ServiceError> {
        let name = self.open(id, ENTITY, item, "business_name").await?;
        let email = self.open(id, ENTITY, item, "email").await?;
        Ok(Account {
            id: id.clone(),
            business_name: BusinessName::parse(&name).map_err(corrupt)?,
            email: Email::parse(&email).map_err(corrupt)?,
            default_region: item
                .opt_s("default_region")
                .map(Region::parse)
                .transpose()
                .map_err(corrupt)?,
            state: AccountState::parse(item.s("state")?)
                .ok_or_else(|| StoreError::Corrupt("unknown account state".into()))?,
            stop_keywords: keywords_from(item, "stop_keywords")?
                .unwrap_or_else(Keywords::default_stop),
            resume_keywords: keywords_from(item, "resume_keywords")?
                .unwrap_or_else(Keywords::default_resume),
            created_at: from_millis(item.n("created_at")?)?,
            updated_at: from_millis(item.n("updated_at")?)?,
        })
    }
}

/// The account's (stop, resume) keywords, read without opening its sealed fields.
impl App {
    pub(crate) async fn keywords(
        &self,
        id: &AccountId,
    ) -> Result<(Keywords, Keywords), ServiceError> {
        let item = self
            .items
            .get(&table::account(id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok((
            keywords_from(&item, "stop_keywords")?.unwrap_or_else(Keywords::default_stop),
            keywords_from(&item, "resume_keywords")?.unwrap_or_else(Keywords::default_resume),
        ))
    }
}

fn keywords_value(k: &Keywords) -> Value {
    Value::L(k.iter().map(|w| Value::S(w.to_owned())).collect())
}

fn keywords_from(item: &Item, name: &str) -> Result<Option<Keywords>, StoreError> {
    let Some(Value::L(l)) = item.attrs.get(name) else {
        return Ok(None);
    };
    let words: Vec<&str> = l
        .iter()
        .filter_map(|v| match v {
            Value::S(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    Keywords::parse(&words)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.0))
}

pub(crate) fn api_key_from_item(item: &Item) -> Result<ApiKey, ServiceError> {
    let id = item
        .key
        .sk
        .strip_prefix(table::API_KEY_PREFIX)
        .ok_or_else(|| StoreError::Corrupt("api key sort key".into()))?
        .parse()
        .map_err(corrupt)?;
    Ok(ApiKey {
        id,
        name: ApiKeyName::parse(item.s("name")?).map_err(corrupt)?,
        prefix: item.s("prefix")?.to_owned(),
        created_at: from_millis(item.n("created_at")?)?,
        revoked_at: item.opt_n("revoked_at").map(from_millis).transpose()?,
    })
}

/// A stored value that no longer parses is a bug or tampering, never the caller's fault.
pub(super) fn corrupt(e: crate::domain::Invalid) -> StoreError {
    StoreError::Corrupt(e.0)
}

/// A conditional write on an item that must exist failed: the item is not there (for us).
pub(super) fn not_found_if_absent(e: StoreError) -> ServiceError {
    match e {
        StoreError::ConditionFailed { .. } => ServiceError::NotFound,
        e => ServiceError::Store(e),
    }
}
