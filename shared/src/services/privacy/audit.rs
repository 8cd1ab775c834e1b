//! The audit log: privacy-relevant actions of a tenant, append-only. Entries name who acted
//! (an API key id, or the system) and what was acted on by kind and id — never a personal
//! value — so the log itself holds nothing to protect.

use serde::Serialize;

use super::super::{from_millis, to_millis, App, ServiceError};
use crate::domain::{now, AccountId, Timestamp};
use crate::ports::{Cursor, Item, Query, Value};
use crate::table;

/// What was done.
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
        }
    }
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub action: String,
    /// The API key that acted, or `system`.
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

pub const AUDIT_PREFIX: &str = "AUDIT#";

impl App {
    /// Appends an entry. `actor` is an API key id or `system`; `target` a kind and an id.
    pub async fn audit(
        &self,
        account: &AccountId,
        actor: &str,
        action: AuditAction,
        target: Option<(&str, &str)>,
    ) -> Result<(), ServiceError> {
        let id = crate::domain::ordered_ulid().to_string();
        let mut item = Item::new(crate::ports::Key::new(
            table::account_partition(account),
            format!("{AUDIT_PREFIX}{id}"),
        ))
        .with("action", Value::S(action.as_str().into()))
        .with("actor", Value::S(actor.to_owned()))
        .with("at", Value::N(to_millis(now())));
        if let Some((kind, target_id)) = target {
            item = item
                .with("target_kind", Value::S(kind.to_owned()))
                .with("target_id", Value::S(target_id.to_owned()));
        }
        self.items
            .put(item, Some(crate::ports::Condition::NotExists))
            .await?;
        Ok(())
    }

    /// The log, newest first.
    pub async fn audit_log(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<AuditEntry>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(account))
                    .begins_with(AUDIT_PREFIX)
                    .backward()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            out.push(AuditEntry {
                id: item.key.sk.trim_start_matches(AUDIT_PREFIX).to_owned(),
                action: item.s("action")?.to_owned(),
                actor: item.s("actor")?.to_owned(),
                target: item
                    .opt_s("target_kind")
                    .zip(item.opt_s("target_id"))
                    .map(|(k, i)| AuditTarget {
                        kind: k.to_owned(),
                        id: i.to_owned(),
                    }),
                at: from_millis(item.n("at")?)?,
            });
        }
        Ok((out, page.next))
    }
}
