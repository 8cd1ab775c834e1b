//! Privacy policy versions: the current one comes from configuration; each account records
//! the version it accepted (signing up accepts the current one). While an account has not
//! accepted the current version it has a notice about it, made the first time its notices
//! are read — so every account gets one, however many accounts there are, without a fan-out.

use serde::Serialize;

use super::super::{from_millis, to_millis, App, ServiceError};
use crate::domain::{now, AccountId, Timestamp};
use crate::ports::{Condition, Item, StoreError, Update, Value};
use crate::table;

/// The policy version in force unless `WHATATALK_POLICY_VERSION` says otherwise.
pub const DEFAULT_POLICY_VERSION: &str = "2026-11-01";

/// The privacy policy in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    pub version: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            version: DEFAULT_POLICY_VERSION.into(),
        }
    }
}

impl PolicyConfig {
    /// `WHATATALK_POLICY_VERSION` (a date or any label of 1 to 40 characters), else the default.
    pub fn from_env() -> Self {
        std::env::var("WHATATALK_POLICY_VERSION")
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 40)
            .map(|version| Self { version })
            .unwrap_or_default()
    }
}

/// Which version an account accepted, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyStatus {
    pub current_version: String,
    pub accepted_version: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<Timestamp>,
}

/// The notice field of policy notices.
pub const POLICY_NOTICE_FIELD: &str = "privacy_policy";

fn policy_notice_id(version: &str) -> String {
    // Sorts after every ULID: the newest-first list shows it on top.
    format!("policy-{version}")
}

impl App {
    pub async fn policy_status(&self, account: &AccountId) -> Result<PolicyStatus, ServiceError> {
        let item = self
            .items
            .get(&table::account(account))
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(PolicyStatus {
            current_version: self.policy.version.clone(),
            accepted_version: item.opt_s("policy_version").map(str::to_owned),
            accepted_at: item
                .opt_n("policy_accepted_at")
                .map(from_millis)
                .transpose()?,
        })
    }

    /// Records that the account accepts `version`, which must be the current one.
    pub async fn accept_policy(
        &self,
        account: &AccountId,
        version: &str,
    ) -> Result<PolicyStatus, ServiceError> {
        if version != self.policy.version {
            return Err(ServiceError::invalid(
                "version",
                &format!("the current policy version is {}", self.policy.version),
            ));
        }
        self.items
            .update(
                Update::new(table::account(account))
                    .set("policy_version", Value::S(version.to_owned()))
                    .set("policy_accepted_at", Value::N(to_millis(now())))
                    .when(Condition::Exists),
            )
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        let notice = table::notice(account, &policy_notice_id(version));
        match self
            .items
            .update(
                Update::new(notice)
                    .set("read_at", Value::N(to_millis(now())))
                    .when(Condition::Exists),
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account_id = %account, version, "privacy policy accepted");
        self.policy_status(account).await
    }

    /// Makes the notice of the current policy version if the account has not accepted it.
    pub(crate) async fn ensure_policy_notice(
        &self,
        account: &AccountId,
    ) -> Result<(), ServiceError> {
        let status = self.policy_status(account).await?;
        if status.accepted_version.as_deref() == Some(status.current_version.as_str()) {
            return Ok(());
        }
        let key = table::notice(account, &policy_notice_id(&status.current_version));
        let payload = serde_json::json!({
            "version": status.current_version,
            "accepted_version": status.accepted_version,
            "accept_with": "POST /v1/privacy/accept",
        })
        .to_string();
        let item = Item::new(key.clone())
            .with("field", Value::S(POLICY_NOTICE_FIELD.into()))
            .with("event", Value::S("new_version".into()))
            .with(
                "payload",
                self.seal(account, "notice", &key, "payload", &payload)
                    .await?,
            )
            .with("received_at", Value::N(to_millis(now())));
        match self.items.put(item, Some(Condition::NotExists)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a notice read.
    pub async fn read_notice(&self, account: &AccountId, id: &str) -> Result<(), ServiceError> {
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return Err(ServiceError::NotFound);
        }
        self.items
            .update(
                Update::new(table::notice(account, id))
                    .set("read_at", Value::N(to_millis(now())))
                    .when(Condition::Exists),
            )
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        Ok(())
    }
}
