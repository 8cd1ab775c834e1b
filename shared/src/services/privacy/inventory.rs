//! The right of access: what is held for a business, counted kind by kind, where it is kept,
//! for how long, and under which policy version.

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::{App, ServiceError};
use super::policy::PolicyStatus;
use crate::domain::AccountId;
use crate::ports::{Cursor, Query, Value};
use crate::table;

/// Where a deployment keeps its data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StorageLocation {
    /// `aws` or `local`.
    pub kind: String,
    /// The DynamoDB table, or the SQLite file.
    pub table: String,
    /// The S3 bucket, or the blob directory.
    pub bucket: String,
    pub region: Option<String>,
}

/// How long each kind of data is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetentionView {
    pub message_days: u32,
    pub media_days: u32,
    pub dead_letter_days: u32,
    pub export_days: u32,
    pub notice_days: u32,
}

/// Messages held, by direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    pub inbound: u64,
    pub outbound: u64,
}

/// What is held, kind by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Holdings {
    pub contacts: u64,
    pub consent_records: u64,
    pub messages: MessageCounts,
    pub media: u64,
    pub conversations: u64,
    pub broadcasts: u64,
    pub imports: u64,
    pub numbers: u64,
    pub api_keys: u64,
    pub usage_months: u64,
    pub exports: u64,
    pub notices: u64,
    pub audit_events: u64,
    /// Kinds not listed above (lookups, windows, markers), by kind.
    pub other: BTreeMap<String, u64>,
}

/// A privacy request not finished yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenRequest {
    /// `export`.
    pub kind: String,
    pub id: String,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub account_id: String,
    pub held: Holdings,
    pub open_requests: Vec<OpenRequest>,
    pub retention: RetentionView,
    pub storage: StorageLocation,
    pub policy: PolicyStatus,
}

impl App {
    /// Counts everything in the tenant's partition (one pass; large tenants take a while).
    pub async fn inventory(&self, account: &AccountId) -> Result<Inventory, ServiceError> {
        let mut held = Holdings::default();
        let mut open_requests = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .limit(1000)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                let kind = item.key.sk.split('#').next().unwrap_or_default();
                match kind {
                    "CONTACT" => held.contacts += 1,
                    "CONSENT" => held.consent_records += 1,
                    "MESSAGE" => match item.attrs.get("direction") {
                        Some(Value::S(d)) if d == "inbound" => held.messages.inbound += 1,
                        _ => held.messages.outbound += 1,
                    },
                    "MEDIA" => held.media += 1,
                    "CONVERSATION" => held.conversations += 1,
                    "BROADCAST" => held.broadcasts += 1,
                    "IMPORT" => held.imports += 1,
                    "NUMBER" => held.numbers += 1,
                    "APIKEY" => held.api_keys += 1,
                    "USAGE" => held.usage_months += 1,
                    "EXPORT" => {
                        held.exports += 1;
                        match item.opt_s("status") {
                            Some(s) if s != "done" => open_requests.push(OpenRequest {
                                kind: "export".into(),
                                id: item.key.sk.trim_start_matches("EXPORT#").to_owned(),
                                status: s.to_owned(),
                            }),
                            _ => {}
                        }
                    }
                    "NOTICE" => held.notices += 1,
                    "AUDIT" => held.audit_events += 1,
                    other => *held.other.entry(other.to_lowercase()).or_default() += 1,
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let retention = self.retention_policy(account).await?;
        Ok(Inventory {
            account_id: account.to_string(),
            held,
            open_requests,
            retention: RetentionView {
                message_days: retention.message_days,
                media_days: retention.media_days,
                dead_letter_days: crate::services::ingest::DEAD_LETTER_DAYS as u32,
                export_days: retention.export_days,
                notice_days: crate::services::ingest::NOTICE_DAYS as u32,
            },
            storage: self.location.clone(),
            policy: self.policy_status(account).await?,
        })
    }
}
