use std::fmt;

use serde::Serialize;

use super::{ApiKeyId, Timestamp, UserId};

/// What was done: the privacy-relevant actions the audit log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    ApiKeyCreated,
    ApiKeyRevoked,
    AccountCorrected,
    ContactCorrected,
    ContactDeleted,
    NumberCorrected,
    NumberTokenReplaced,
    NumberDisconnected,
    BillingDetailsCorrected,
    PolicyAccepted,
    ExportRequested,
    ExportDownloaded,
    AccountClosureRequested,
    UserLoggedIn,
    UserLoginFailed,
    UserLoggedOut,
    UserInvited,
    UserJoined,
    UserRoleChanged,
    UserRemoved,
    PasswordChanged,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookSecretRotated,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::AccountCorrected => "account_corrected",
            Self::ContactCorrected => "contact_corrected",
            Self::ContactDeleted => "contact_deleted",
            Self::NumberCorrected => "number_corrected",
            Self::NumberTokenReplaced => "number_token_replaced",
            Self::NumberDisconnected => "number_disconnected",
            Self::BillingDetailsCorrected => "billing_details_corrected",
            Self::PolicyAccepted => "policy_accepted",
            Self::ExportRequested => "export_requested",
            Self::ExportDownloaded => "export_downloaded",
            Self::AccountClosureRequested => "account_closure_requested",
            Self::UserLoggedIn => "user_logged_in",
            Self::UserLoginFailed => "user_login_failed",
            Self::UserLoggedOut => "user_logged_out",
            Self::UserInvited => "user_invited",
            Self::UserJoined => "user_joined",
            Self::UserRoleChanged => "user_role_changed",
            Self::UserRemoved => "user_removed",
            Self::PasswordChanged => "password_changed",
            Self::WebhookEndpointCreated => "webhook_endpoint_created",
            Self::WebhookEndpointDeleted => "webhook_endpoint_deleted",
            Self::WebhookSecretRotated => "webhook_secret_rotated",
        }
    }
}

/// Who acted: the credential a request came with, or the service itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    ApiKey(ApiKeyId),
    /// A person signed in to the app.
    User(UserId),
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::ApiKey(id) => id.fmt(f),
            Actor::User(id) => id.fmt(f),
            Actor::System => f.write_str("system"),
        }
    }
}

/// One entry of the audit log. It names who acted and what was acted on by kind and id, never
/// a personal value, so the log itself holds nothing to protect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub action: String,
    /// The API key or user that acted, or `system`.
    pub actor: String,
    /// What was acted on, by kind and id (`contact`, `con_…`).
    pub target: Option<AuditTarget>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditTarget {
    pub kind: String,
    pub id: String,
}

impl AuditTarget {
    pub fn new(kind: &str, id: impl fmt::Display) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.to_string(),
        }
    }
}
