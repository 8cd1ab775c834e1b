//! Retention: how long a tenant's messages, media and exports are kept. Messages carry the
//! policy as an expiry (TTL) from the moment they are written; a run (daily on AWS, from the
//! runner's clock or `whatatalk-local retention` locally) deletes what has expired and TTL has
//! not removed yet (TTL is lazy), re-applies a changed policy to messages already written, and
//! removes expired media. Work per run is bounded; a run that stops early resumes next time.

use serde::Serialize;

use super::super::{App, ServiceError};
use crate::domain::{AccountId, Invalid, MessageId, Timestamp};
use crate::ports::{Condition, Cursor, Item, Query, SortCondition, Update, Value};
use crate::table;

/// A tenant's retention policy, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    pub message_days: u32,
    pub media_days: u32,
    pub export_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            message_days: 365,
            media_days: 90,
            export_days: 7,
        }
    }
}

/// A change of the policy; `None` keeps a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionChanges {
    pub message_days: Option<u32>,
    pub media_days: Option<u32>,
    pub export_days: Option<u32>,
}

impl RetentionChanges {
    /// Bounds: messages and media 1 to 3,650 days, exports 1 to 7 (the bucket's lifecycle
    /// removes export files after 7 days whatever the policy).
    pub fn check(&self) -> Result<(), (&'static str, Invalid)> {
        for (field, value, max) in [
            ("retention.message_days", self.message_days, 3650),
            ("retention.media_days", self.media_days, 3650),
            ("retention.export_days", self.export_days, 7),
        ] {
            if let Some(v) = value {
                if v == 0 || v > max {
                    return Err((field, Invalid::new(format!("must be 1 to {max} days"))));
                }
            }
        }
        Ok(())
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub accounts: u64,
    pub messages_deleted: u64,
    pub media_deleted: u64,
    pub expiries_updated: u64,
    /// Unreadable webhook payloads past their 30 days, payload and record.
    pub dead_letters_deleted: u64,
    /// Whether every account was finished within the run's budget.
    pub complete: bool,
}

/// The index listing accounts for the run.
pub const ACCOUNTS_INDEX: &str = "ACCOUNTS";
const DAY_MS: i64 = 86_400_000;
/// How long a warm function applies a remembered retention policy to new messages.
const RECENT_POLICY_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl App {
    pub async fn retention_policy(
        &self,
        account: &AccountId,
    ) -> Result<RetentionPolicy, ServiceError> {
        let item = self.items.get(&table::account(account)).await?;
        Ok(policy_of(item.as_ref()))
    }

    /// The policy as message writes apply it: every message written reads it, so a warm
    /// function remembers it for a minute. A change reaches other instances' new messages
    /// within that minute, and the retention run re-applies it to everything stored anyway.
    async fn recent_retention_policy(
        &self,
        account: &AccountId,
    ) -> Result<RetentionPolicy, ServiceError> {
        let key = account.to_string();
        if let Some(policy) = self.retention.get(&key, |_| RECENT_POLICY_TTL) {
            return Ok(policy);
        }
        let policy = self.retention_policy(account).await?;
        self.retention.put(&key, policy);
        Ok(policy)
    }

    /// Sets the policy; the next run applies it to what is already stored.
    pub async fn set_retention(
        &self,
        account: &AccountId,
        changes: RetentionChanges,
    ) -> Result<RetentionPolicy, ServiceError> {
        changes
            .check()
            .map_err(|(f, e)| ServiceError::invalid(f, &e.0))?;
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
        let item = self.items.update(update).await.map_err(|e| match e {
            crate::ports::StoreError::ConditionFailed { .. } => ServiceError::NotFound,
            e => e.into(),
        })?;
        self.retention.forget(&account.to_string());
        Ok(policy_of(Some(&item)))
    }

    /// The expiry (epoch seconds) of a message of `account` made at `created`: the policy's
    /// days from its time, or from now if it reaches us later than that (a delayed webhook).
    pub(crate) async fn message_expiry(
        &self,
        account: &AccountId,
        created: Timestamp,
    ) -> Result<i64, ServiceError> {
        let days = self.recent_retention_policy(account).await?.message_days;
        let from = created
            .unix_timestamp()
            .max(crate::domain::now().unix_timestamp());
        Ok(from + i64::from(days) * 86_400)
    }

    /// One retention run over every account, as of `now`, touching at most `budget` items.
    pub async fn run_retention(
        &self,
        now: Timestamp,
        budget: u64,
    ) -> Result<RetentionReport, ServiceError> {
        let mut report = RetentionReport {
            complete: true,
            ..Default::default()
        };
        let mut left = budget;
        let (deleted, done) = self.expire_dead_letters(now, &mut left).await?;
        report.dead_letters_deleted = deleted;
        if !done {
            report.complete = false;
            tracing::info!(?report, "retention run stopped at its budget");
            return Ok(report);
        }
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(Query::gsi1(ACCOUNTS_INDEX).limit(100).after(cursor))
                .await?;
            for item in &page.items {
                let Some(account) = item
                    .key
                    .pk
                    .strip_prefix("ACCOUNT#")
                    .and_then(|a| a.parse::<AccountId>().ok())
                else {
                    continue;
                };
                report.accounts += 1;
                if !self
                    .retain_account(&account, now, &mut left, &mut report)
                    .await?
                {
                    report.complete = false;
                    tracing::info!(?report, "retention run stopped at its budget");
                    return Ok(report);
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        tracing::info!(?report, "retention run done");
        Ok(report)
    }

    /// Applies the policy to one account; `false` if the budget ran out first.
    async fn retain_account(
        &self,
        account: &AccountId,
        now: Timestamp,
        left: &mut u64,
        report: &mut RetentionReport,
    ) -> Result<bool, ServiceError> {
        let Some(item) = self.items.get(&table::account(account)).await? else {
            return Ok(true);
        };
        // A closure whose erasure job was lost: queue it again (the job is idempotent).
        if item.opt_s("state") == Some("closing") {
            self.enqueue(&super::super::Job::EraseAccount {
                account_id: account.clone(),
            })
            .await?;
            return Ok(true);
        }
        let policy = policy_of(Some(&item));
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        // Messages older than the policy: their ids sort by time, so they are a key range.
        let cutoff = now_ms - i64::from(policy.message_days) * DAY_MS;
        let before = MessageId::first_at(cutoff);
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .sort(SortCondition::Between(
                            table::MESSAGE_PREFIX.to_owned(),
                            table::message(account, &before).sk,
                        ))
                        .limit(100),
                )
                .await?;
            if page.items.is_empty() {
                break;
            }
            for m in &page.items {
                if *left == 0 {
                    return Ok(false);
                }
                *left -= 1;
                if let Some(w) = m.opt_s("wamid") {
                    self.erase_wamid(account, w).await?;
                }
                self.items.delete(&m.key, None).await?;
                report.messages_deleted += 1;
            }
        }
        // A changed policy: every remaining message gets the new expiry.
        if item.opt_bool("retention_dirty") == Some(true) {
            let mut cursor = item
                .opt_s("retention_cursor")
                .map(Cursor::decode)
                .transpose()?;
            loop {
                let page = self
                    .items
                    .query(
                        Query::partition(table::account_partition(account))
                            .begins_with(table::MESSAGE_PREFIX)
                            .limit(100)
                            .after(cursor.clone()),
                    )
                    .await?;
                for m in &page.items {
                    let Some(created) = m.opt_n("created_at") else {
                        continue;
                    };
                    let expiry = (created + i64::from(policy.message_days) * DAY_MS) / 1000;
                    self.items
                        .update(
                            Update::new(m.key.clone())
                                .expire(Some(expiry))
                                .when(Condition::Exists),
                        )
                        .await
                        .or_else(|e| match e {
                            crate::ports::StoreError::ConditionFailed { .. } => Ok(m.clone()),
                            e => Err(e),
                        })?;
                    report.expiries_updated += 1;
                }
                *left = left.saturating_sub(page.items.len() as u64);
                match page.next {
                    Some(c) if *left == 0 => {
                        // Resume here next run.
                        self.items
                            .update(
                                Update::new(table::account(account))
                                    .set("retention_cursor", Value::S(c.encode())),
                            )
                            .await?;
                        return Ok(false);
                    }
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            self.items
                .update(
                    Update::new(table::account(account))
                        .remove("retention_dirty")
                        .remove("retention_cursor")
                        .when(Condition::Exists),
                )
                .await?;
        }
        // Media older than the media policy.
        let media_cutoff = now_ms - i64::from(policy.media_days) * DAY_MS;
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with(table::MEDIA_PREFIX)
                        .limit(100)
                        .after(cursor),
                )
                .await?;
            for m in &page.items {
                if m.opt_n("created_at").is_some_and(|c| c < media_cutoff) {
                    if *left == 0 {
                        return Ok(false);
                    }
                    *left -= 1;
                    if let Some(id) = m
                        .key
                        .sk
                        .strip_prefix(table::MEDIA_PREFIX)
                        .and_then(|i| crate::domain::MediaId::parse(i).ok())
                    {
                        if self.erase_media(account, &id).await? {
                            report.media_deleted += 1;
                        }
                    }
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(true)
    }
}

fn policy_of(item: Option<&Item>) -> RetentionPolicy {
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
