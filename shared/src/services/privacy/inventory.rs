//! The right of access: what is held for a business, counted kind by kind, where it is kept,
//! for how long, and under which policy version.
//!
//! Counting reads the tenant's whole partition. A request counts at most
//! [`COUNT_IN_REQUEST`] items; a larger tenant is counted by a job in the background, and the
//! request answers with the last count the job stored (and says a new one is running).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use futures::TryStreamExt;

use super::super::{App, Job, JobOutcome, ServiceError};
use super::policy::PolicyStatus;
use crate::domain::{now, AccountId, Timestamp, DEAD_LETTER_DAYS, NOTICE_DAYS};
use crate::ports::{Item, StoreError};
use crate::records::{self, contact, inventory, message, to_millis, Kind};

/// Most items a request counts itself (a few seconds on DynamoDB); past it, a job counts.
pub const COUNT_IN_REQUEST: u64 = 50_000;
/// A background count not finished after this long is started again.
const RECOUNT_AFTER: Duration = Duration::from_secs(15 * 60);
/// A stored count this recent is answered as it is, without starting another.
const FRESH: Duration = Duration::from_secs(60);

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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    pub inbound: u64,
    pub outbound: u64,
}

/// What is held, kind by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// People who use the app for the account (absent from counts stored before users).
    #[serde(default)]
    pub users: u64,
    /// Internal notes on conversations.
    #[serde(default)]
    pub notes: u64,
    pub usage_months: u64,
    pub exports: u64,
    pub notices: u64,
    pub audit_events: u64,
    /// Kinds not listed above (lookups, windows, markers), by kind.
    pub other: BTreeMap<String, u64>,
}

/// A privacy request not finished yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// `export`.
    pub kind: String,
    pub id: String,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub account_id: String,
    /// `None` until a large tenant's first background count is done.
    pub held: Option<Holdings>,
    pub open_requests: Vec<OpenRequest>,
    /// When `held` and `open_requests` were counted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub counted_at: Option<Timestamp>,
    /// A background count is running; ask again for fresher counts.
    pub counting: bool,
    pub retention: RetentionView,
    pub storage: StorageLocation,
    pub policy: PolicyStatus,
}

/// What a count found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Count {
    held: Holdings,
    open_requests: Vec<OpenRequest>,
    /// Items read: whether the next request may count by itself.
    items: u64,
}

impl App {
    /// The inventory, counted in this request when the tenant holds at most
    /// [`COUNT_IN_REQUEST`] items.
    pub async fn inventory(&self, account: &AccountId) -> Result<Inventory, ServiceError> {
        self.inventory_within(account, COUNT_IN_REQUEST).await
    }

    /// [`App::inventory`] with `budget` items counted in the request at most.
    pub async fn inventory_within(
        &self,
        account: &AccountId,
        budget: u64,
    ) -> Result<Inventory, ServiceError> {
        let stored = self.items.get(&inventory::key(account)).await?;
        let last = match &stored {
            Some(item) => stored_count(item)?,
            None => None,
        };
        // An account whose last count, or the count running now, showed it too large is not
        // read through again in a request.
        let counting_now = stored
            .as_ref()
            .and_then(inventory::counting_since)
            .is_some_and(|t| to_millis(now()) - t < RECOUNT_AFTER.as_millis() as i64);
        let known_large = counting_now || last.as_ref().is_some_and(|(c, _)| c.items > budget);
        let here = match known_large {
            true => None,
            false => self.count_held(account, Some(budget)).await?,
        };
        let (count, counted_at, counting) = match (here, last) {
            (Some(count), _) => (Some(count), Some(now()), false),
            (None, Some((count, at))) if now() - at < FRESH => (Some(count), Some(at), false),
            (None, last) => {
                self.start_count(account, stored.as_ref()).await?;
                match last {
                    Some((count, at)) => (Some(count), Some(at), true),
                    None => (None, None, true),
                }
            }
        };
        let retention = self.retention_policy(account).await?;
        let (held, open_requests) = match count {
            Some(c) => (Some(c.held), c.open_requests),
            None => (None, Vec::new()),
        };
        Ok(Inventory {
            account_id: account.to_string(),
            held,
            open_requests,
            counted_at,
            counting,
            retention: RetentionView {
                message_days: retention.message_days,
                media_days: retention.media_days,
                dead_letter_days: DEAD_LETTER_DAYS as u32,
                export_days: retention.export_days,
                notice_days: NOTICE_DAYS as u32,
            },
            storage: self.location.clone(),
            policy: self.policy_status(account).await?,
        })
    }

    /// Queues a background count unless one started recently.
    async fn start_count(
        &self,
        account: &AccountId,
        stored: Option<&Item>,
    ) -> Result<(), ServiceError> {
        let now_ms = to_millis(now());
        let since = stored.and_then(inventory::counting_since);
        if since.is_some_and(|t| now_ms - t < RECOUNT_AFTER.as_millis() as i64) {
            return Ok(());
        }
        // Only one request of several at once queues the job.
        match self
            .items
            .update(inventory::claim_count(account, since, now_ms))
            .await
        {
            Ok(_) => {
                self.enqueue(&Job::CountInventory {
                    account_id: account.clone(),
                })
                .await
            }
            Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The job: counts the whole partition and stores what it found.
    pub async fn run_inventory_count(
        &self,
        account: &AccountId,
    ) -> Result<JobOutcome, ServiceError> {
        let Some(count) = self.count_held(account, None).await? else {
            return Ok(JobOutcome::Done);
        };
        let json = serde_json::to_string(&count)
            .map_err(|e| ServiceError::Store(StoreError::Corrupt(e.to_string())))?;
        self.items
            .update(inventory::counted(account, json, to_millis(now())))
            .await?;
        Ok(JobOutcome::Done)
    }

    /// Counts the tenant's partition by kind; `None` once more than `budget` items were read.
    async fn count_held(
        &self,
        account: &AccountId,
        budget: Option<u64>,
    ) -> Result<Option<Count>, ServiceError> {
        let mut held = Holdings::default();
        let mut open_requests = Vec::new();
        let mut usage_months = std::collections::BTreeSet::new();
        let mut read = 0u64;
        let mut pages = records::pages_across(
            &*self.items,
            records::partitions(account, |q| q.limit(1000)),
        );
        while let Some(page) = pages.try_next().await? {
            read += page.items.len() as u64;
            if budget.is_some_and(|b| read > b) {
                return Ok(None);
            }
            for item in &page.items {
                match Kind::of(item) {
                    Kind::Contact => {
                        held.contacts += 1;
                        // Its latest consent record is kept in the contact's own item.
                        held.consent_records += contact::holds_consent_record(item) as u64;
                    }
                    Kind::Consent => held.consent_records += 1,
                    Kind::Message => match message::is_inbound(item) {
                        true => held.messages.inbound += 1,
                        false => held.messages.outbound += 1,
                    },
                    // Counted with its message.
                    Kind::MessageContent => {}
                    Kind::Media => held.media += 1,
                    Kind::Conversation => held.conversations += 1,
                    Kind::Broadcast => held.broadcasts += 1,
                    // Counted with its broadcast.
                    Kind::BroadcastDefinition | Kind::BroadcastCounts => {}
                    Kind::Import => held.imports += 1,
                    Kind::Number => held.numbers += 1,
                    Kind::ApiKey => held.api_keys += 1,
                    Kind::User => held.users += 1,
                    Kind::Note => held.notes += 1,
                    // A month is held once, however many items count in it.
                    Kind::Usage => {
                        if let Some(month) = records::usage::month_of_item(item) {
                            if usage_months.insert(month.to_owned()) {
                                held.usage_months += 1;
                            }
                        }
                    }
                    Kind::Export => {
                        held.exports += 1;
                        let e = records::export::from_item(item)?;
                        if e.status != crate::domain::ExportStatus::Done {
                            open_requests.push(OpenRequest {
                                kind: "export".into(),
                                id: e.id.to_string(),
                                status: e.status.as_str().to_owned(),
                            });
                        }
                    }
                    Kind::Notice => held.notices += 1,
                    Kind::Audit => held.audit_events += 1,
                    // The count itself is not something held.
                    Kind::Inventory => {}
                    _ => *held.other.entry(Kind::name(item)).or_default() += 1,
                }
            }
        }
        Ok(Some(Count {
            held,
            open_requests,
            items: read,
        }))
    }
}

/// The count a job stored, and when.
fn stored_count(item: &Item) -> Result<Option<(Count, Timestamp)>, ServiceError> {
    let Some((json, at)) = inventory::count(item)? else {
        return Ok(None);
    };
    let count = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some((count, at)))
}
