//! Accounts (tenants) and their API keys.

use futures::TryStreamExt;

use super::users::{NewUser, SessionCookie, SignedIn};
use super::{App, ServiceError};
use crate::domain::{
    now, Account, AccountId, AccountState, Actor, ApiKey, ApiKeyId, ApiKeyName, ApiKeySecret,
    AuditAction, AuditTarget, BusinessName, Email, Keywords, Password, Permission, Region,
    RetentionChanges, Role, UserName,
};
use crate::ports::{Cursor, StoreError};
use crate::records::{self, account, api_key};

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
    pub retention: Option<RetentionChanges>,
}

/// Who is calling: the tenant, who acts for it (the API key or the signed-in user) and with
/// which role. API keys and the service itself act as the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: AccountId,
    pub actor: Actor,
    pub role: Role,
}

impl Principal {
    /// The service itself acting for the tenant (jobs, tools, tests).
    pub fn system(account_id: AccountId) -> Self {
        Self {
            account_id,
            actor: Actor::System,
            role: Role::Owner,
        }
    }

    /// An integration acting with one of the account's API keys.
    pub fn api_key(account_id: AccountId, key: ApiKeyId) -> Self {
        Self {
            account_id,
            actor: Actor::ApiKey(key),
            role: Role::Owner,
        }
    }

    /// Refuses what the caller's role does not allow (`403 forbidden`).
    pub fn require(&self, what: Permission) -> Result<(), ServiceError> {
        if self.role.may(what) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(what))
        }
    }

    /// The signed-in user, if a person acts.
    pub fn user(&self) -> Option<&crate::domain::UserId> {
        match &self.actor {
            Actor::User(id) => Some(id),
            _ => None,
        }
    }
}

impl App {
    /// Creates the account, its data key and its first API key in one transaction.
    pub async fn signup(
        &self,
        new: NewAccount,
        first_key_name: ApiKeyName,
    ) -> Result<(Account, ApiKey, ApiKeySecret), ServiceError> {
        let id = AccountId::generate();
        let (key, secret, key_writes) = new_api_key(&id, first_key_name);
        let account = self.create_account(id, new, key_writes).await?;
        Ok((account, key, secret))
    }

    /// Creates the account with its owner, who signs in: the app's signup. The email is the
    /// owner's login and the account's contact address.
    pub async fn signup_owner(
        &self,
        new: NewAccount,
        name: UserName,
        password: Password,
    ) -> Result<(Account, SignedIn, SessionCookie), ServiceError> {
        let id = AccountId::generate();
        // The tenant's key first: the owner's fields are sealed with it.
        let data_key = self.keyring.provision(&id).await?;
        let owner = NewUser {
            name,
            email: new.email.clone(),
            password,
        };
        let (user, mut writes) = self.new_user_writes(&id, &owner, Role::Owner).await?;
        writes.push(crate::ports::Write::put_new(data_key));
        let account = self
            .create_account(id, new, writes)
            .await
            .map_err(|e| match e {
                ServiceError::Store(StoreError::ConditionFailed { .. }) => ServiceError::EmailTaken,
                e => e,
            })?;
        let (signed_in, cookie) = self.login_user(&account.id, &user.id, Role::Owner).await?;
        Ok((account, signed_in, cookie))
    }

    /// The account item (and its data key, unless `writes` has it) with `writes`, in one
    /// transaction.
    async fn create_account(
        &self,
        id: AccountId,
        new: NewAccount,
        mut writes: Vec<crate::ports::Write>,
    ) -> Result<Account, ServiceError> {
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
        let data_key = crate::table::data_key(&id);
        if !writes.iter().any(|w| *w.key() == data_key) {
            writes.push(crate::ports::Write::put_new(
                self.keyring.provision(&id).await?,
            ));
        }
        let sealer = self.sealer(&id, account::SEALED).await?;
        let account_item = account::to_item(&sealer, &account, &self.policy.version)?;
        writes.push(crate::ports::Write::put_new(account_item));
        self.items.transact(writes).await?;
        tracing::info!(account_id = %id, "account created");
        Ok(account)
    }

    pub async fn account(&self, id: &AccountId) -> Result<Account, ServiceError> {
        self.found_sealed(
            id,
            &crate::table::account(id),
            account::SEALED,
            account::from_item,
        )
        .await
    }

    /// Corrects the account's own details (audited).
    pub async fn update_account(
        &self,
        by: &Principal,
        changes: AccountChanges,
    ) -> Result<Account, ServiceError> {
        by.require(crate::domain::Permission::ManageAccount)?;
        let id = &by.account_id;
        if let Some(r) = &changes.retention {
            r.check().map_err(|(f, e)| ServiceError::invalid(f, &e.0))?;
        }
        let sealer = self.sealer(id, account::SEALED * 2).await?;
        let mut correction = account::correct(&sealer, now());
        if let Some(name) = &changes.business_name {
            correction = correction.business_name(name)?;
        }
        if let Some(email) = &changes.email {
            correction = correction.email(email)?;
        }
        if let Some(region) = changes.default_region {
            correction = correction.default_region(region);
        }
        if let Some(k) = &changes.stop_keywords {
            correction = correction.stop_keywords(k.as_ref());
        }
        if let Some(k) = &changes.resume_keywords {
            correction = correction.resume_keywords(k.as_ref());
        }
        let item = self
            .items
            .update(correction.into_update())
            .await
            .map_err(not_found_if_absent)?;
        if let Some(r) = changes.retention {
            self.set_retention(id, r).await?;
        }
        tracing::info!(account_id = %id, "account updated");
        self.audit(id, &by.actor, AuditAction::AccountCorrected, None)
            .await?;
        Ok(account::from_item(&sealer, &item)?)
    }

    /// Resolves a bearer token to its tenant with one strongly consistent read.
    /// Whether the account takes work: it exists and is not closing.
    pub async fn account_open(&self, id: &AccountId) -> Result<bool, ServiceError> {
        Ok(self
            .items
            .get(&crate::table::account(id))
            .await?
            .is_some_and(|item| account::is_open(&item)))
    }

    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, ServiceError> {
        let secret = ApiKeySecret::parse(bearer).map_err(|_| ServiceError::Unauthorized)?;
        let lookup = self
            .items
            .get(&api_key::lookup(&secret.hash_hex()))
            .await?
            .ok_or(ServiceError::Unauthorized)?;
        let (account_id, key_id) = api_key::owner(&lookup)?;
        Ok(Principal::api_key(account_id, key_id))
    }

    /// A new API key for the account, while it is active (audited).
    pub async fn create_api_key(
        &self,
        by: &Principal,
        name: ApiKeyName,
    ) -> Result<(ApiKey, ApiKeySecret), ServiceError> {
        by.require(crate::domain::Permission::ManageKeys)?;
        let account = &by.account_id;
        let (key, secret, mut writes) = new_api_key(account, name);
        writes.push(account::check_active(account));
        self.items
            .transact(writes)
            .await
            .map_err(not_found_if_absent)?;
        tracing::info!(account_id = %account, key_id = %key.id, "api key created");
        self.audit(
            account,
            &by.actor,
            AuditAction::ApiKeyCreated,
            Some(AuditTarget::new("api_key", &key.id)),
        )
        .await?;
        Ok((key, secret))
    }

    pub async fn api_keys(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<ApiKey>, Option<Cursor>), ServiceError> {
        Ok(records::list(
            &*self.items,
            api_key::all(account).limit(limit).after(cursor),
            api_key::from_item,
        )
        .await?)
    }

    /// Revokes a key at once: its lookup entry goes, its record stays (marked revoked) so the
    /// owner can see what existed. Revoking a revoked key is a no-op; either way it is audited.
    pub async fn revoke_api_key(
        &self,
        by: &Principal,
        key_id: &ApiKeyId,
    ) -> Result<(), ServiceError> {
        by.require(crate::domain::Permission::ManageKeys)?;
        let account = &by.account_id;
        let record = self.found(&crate::table::api_key(account, key_id)).await?;
        let key = api_key::from_item(&record)?;
        if key.revoked_at.is_none() {
            let others_active = self
                .active_api_keys(account)
                .await?
                .into_iter()
                .any(|k| k != *key_id);
            if !others_active {
                return Err(ServiceError::LastApiKey);
            }
            self.items
                .transact(api_key::revoke(&record, now())?)
                .await
                .or_else(|e| match e {
                    // Revoked concurrently: the outcome is the one asked for.
                    StoreError::ConditionFailed { .. } => Ok(()),
                    e => Err(e),
                })?;
            tracing::info!(account_id = %account, key_id = %key_id, "api key revoked");
        }
        self.audit(
            account,
            &by.actor,
            AuditAction::ApiKeyRevoked,
            Some(AuditTarget::new("api_key", key_id)),
        )
        .await
    }

    async fn active_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKeyId>, ServiceError> {
        let active = records::items(&*self.items, api_key::all(account).limit(200))
            .map_err(ServiceError::from)
            .try_filter_map(|item| async move {
                let key = api_key::from_item(&item)?;
                Ok(key.revoked_at.is_none().then_some(key.id))
            })
            .try_collect()
            .await?;
        Ok(active)
    }

    /// The account's (stop, resume) keywords, read without opening its sealed fields.
    pub(crate) async fn keywords(
        &self,
        id: &AccountId,
    ) -> Result<(Keywords, Keywords), ServiceError> {
        let item = self.found(&crate::table::account(id)).await?;
        Ok(account::keywords(&item)?)
    }
}

/// A new key, and the writes that store it; nothing is written yet.
fn new_api_key(
    account: &AccountId,
    name: ApiKeyName,
) -> (ApiKey, ApiKeySecret, Vec<crate::ports::Write>) {
    let secret = ApiKeySecret::generate();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        name,
        prefix: secret.prefix(),
        created_at: now(),
        revoked_at: None,
    };
    let writes = api_key::new_writes(account, &key, &secret.hash_hex());
    (key, secret, writes)
}

/// A conditional write on an item that must exist failed: the item is not there (for us).
pub(super) fn not_found_if_absent(e: StoreError) -> ServiceError {
    match e {
        StoreError::ConditionFailed { .. } => ServiceError::NotFound,
        e => ServiceError::Store(e),
    }
}
