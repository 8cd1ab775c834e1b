//! Privacy policy versions: the current one comes from configuration; each account records
//! the version it accepted (signing up accepts the current one). While an account has not
//! accepted the current version it has a notice about it, made the first time its notices
//! are read — so every account gets one, however many accounts there are, without a fan-out.

use serde::Serialize;

use super::super::accounts::Principal;
use super::super::{App, ServiceError};
use crate::domain::{now, AccountId, AuditAction, AuditTarget, Notice, Timestamp};
use crate::ports::{Condition, StoreError};
use crate::records::{account, notice};

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
        let item = self.found(&crate::table::account(account)).await?;
        let (accepted_version, accepted_at) = account::accepted_policy(&item)?;
        Ok(PolicyStatus {
            current_version: self.policy.version.clone(),
            accepted_version,
            accepted_at,
        })
    }

    /// Records that the account accepts `version`, which must be the current one (audited).
    pub async fn accept_policy(
        &self,
        by: &Principal,
        version: &str,
    ) -> Result<PolicyStatus, ServiceError> {
        by.require(crate::domain::Permission::ManageAccount)?;
        if version != self.policy.version {
            return Err(ServiceError::invalid(
                "version",
                &format!("the current policy version is {}", self.policy.version),
            ));
        }
        let id = &by.account_id;
        self.items
            .update(account::accept_policy(id, version, now()))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        match self
            .items
            .update(notice::read(id, &policy_notice_id(version), now()))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account_id = %id, version, "privacy policy accepted");
        self.audit(
            id,
            &by.actor,
            AuditAction::PolicyAccepted,
            Some(AuditTarget::new("policy", version)),
        )
        .await?;
        self.policy_status(id).await
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
        let n = Notice {
            id: policy_notice_id(&status.current_version),
            field: POLICY_NOTICE_FIELD.into(),
            event: Some("new_version".into()),
            number: None,
            payload: serde_json::json!({
                "version": status.current_version,
                "accepted_version": status.accepted_version,
                "accept_with": "POST /v1/privacy/accept",
            }),
            received_at: now(),
            read_at: None,
        };
        let sealer = self.sealer(account, notice::SEALED).await?;
        let item = notice::to_item(&sealer, &n, None)?;
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
            .update(notice::read(account, id, now()))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        Ok(())
    }
}
