//! Retention: how long a tenant's messages, media and exports are kept. Messages carry the
//! policy as an expiry (TTL) from the moment they are written; a run (daily on AWS, from the
//! runner's clock or `whatatalk-local retention` locally) deletes what has expired and TTL has
//! not removed yet (TTL is lazy), re-applies a changed policy to messages already written, and
//! removes expired media. Work per run is bounded; a run that stops early resumes next time.

use futures::TryStreamExt;
use serde::Serialize;

use super::super::{App, Job, ServiceError};
use crate::domain::{
    AccountId, AccountState, MessageId, RetentionChanges, RetentionPolicy, Timestamp,
};
use crate::ports::StoreError;
use crate::records::{self, account, conversation, export, media, message, to_millis};

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub accounts: u64,
    pub messages_deleted: u64,
    pub media_deleted: u64,
    pub exports_deleted: u64,
    pub conversations_deleted: u64,
    /// Events raised for webhook endpoints, and their deliveries, past the message policy.
    pub events_deleted: u64,
    pub expiries_updated: u64,
    /// Unreadable webhook payloads past their 30 days, payload and record.
    pub dead_letters_deleted: u64,
    /// Whether every account was finished within the run's budget.
    pub complete: bool,
}

const DAY_MS: i64 = 86_400_000;
/// How long a warm function applies a remembered retention policy to new messages.
const RECENT_POLICY_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl App {
    pub async fn retention_policy(
        &self,
        account: &AccountId,
    ) -> Result<RetentionPolicy, ServiceError> {
        let item = self.items.get(&crate::table::account(account)).await?;
        Ok(account::retention(item.as_ref()))
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
        let item = self
            .items
            .update(account::set_retention(account, &changes))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        self.retention.forget(&account.to_string());
        Ok(account::retention(Some(&item)))
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
        let mut accounts = records::items(&*self.items, account::all().limit(100));
        while let Some(item) = accounts.try_next().await? {
            let Some(id) = account::id_of(&item) else {
                continue;
            };
            report.accounts += 1;
            if !self
                .retain_account(&id, now, &mut left, &mut report)
                .await?
            {
                report.complete = false;
                tracing::info!(?report, "retention run stopped at its budget");
                return Ok(report);
            }
        }
        tracing::info!(?report, "retention run done");
        Ok(report)
    }

    /// Applies the policy to one account; `false` if the budget ran out first.
    async fn retain_account(
        &self,
        id: &AccountId,
        now: Timestamp,
        left: &mut u64,
        report: &mut RetentionReport,
    ) -> Result<bool, ServiceError> {
        let Some(item) = self.items.get(&crate::table::account(id)).await? else {
            return Ok(true);
        };
        // A closure whose erasure job was lost: queue it again (the job is idempotent).
        if account::state(&item)? == AccountState::Closing {
            self.enqueue(&Job::EraseAccount {
                account_id: id.clone(),
            })
            .await?;
            return Ok(true);
        }
        // The daily run is also the schedule of the template sync (sends and Meta's webhooks
        // keep the copy current in between).
        self.enqueue(&Job::SyncTemplates {
            account_id: id.clone(),
        })
        .await?;
        let policy = account::retention(Some(&item));
        let now_ms = to_millis(now);
        // Messages older than the policy: their ids sort by time, so they are a key range.
        let before = MessageId::first_at(now_ms - i64::from(policy.message_days) * DAY_MS);
        for query in message::made_before(id, &before) {
            loop {
                // Expired ones too: a message the table's sweeper has not removed yet still has
                // its lookup to take with it.
                let page = self
                    .items
                    .query(query.clone().including_expired().limit(100))
                    .await?;
                if page.items.is_empty() {
                    break;
                }
                for m in &page.items {
                    if *left == 0 {
                        return Ok(false);
                    }
                    *left -= 1;
                    if let Some(w) = message::wamid_of(m) {
                        self.erase_wamid(id, w).await?;
                    }
                    if let Some(content) = message::content_key(m) {
                        self.items.delete(&content, None).await?;
                    }
                    self.items.delete(&m.key, None).await?;
                    report.messages_deleted += 1;
                }
            }
        }
        // Events and their deliveries live as long as messages: those older are removed
        // here rather than left to the table's sweeper (deliveries of a deleted endpoint are).
        let events_before = now - time::Duration::days(i64::from(policy.message_days));
        let mut sweeps = vec![crate::records::endpoint::events_before(id, events_before)];
        let mut endpoints = records::items(&*self.items, crate::records::endpoint::all(id));
        while let Some(e) = endpoints.try_next().await? {
            if let Some(endpoint) = crate::records::endpoint::id_of(&e) {
                sweeps.push(crate::records::endpoint::deliveries_before(
                    id,
                    &endpoint,
                    events_before,
                ));
            }
        }
        for sweep in sweeps {
            loop {
                let page = self.items.query(sweep.clone().limit(100)).await?;
                if page.items.is_empty() {
                    break;
                }
                for item in &page.items {
                    if *left == 0 {
                        return Ok(false);
                    }
                    *left -= 1;
                    self.items.delete(&item.key, None).await?;
                    report.events_deleted += 1;
                }
            }
        }
        // A changed policy: every remaining message gets the new expiry.
        // A conversation whose last message is past the policy holds only what was removed
        // (its preview, the last inbound wamid).
        let cutoff = now_ms - i64::from(policy.message_days) * DAY_MS;
        let mut conversations = records::items(&*self.items, conversation::stored(id).limit(100));
        while let Some(c) = conversations.try_next().await? {
            if !conversation::last_before(&c, cutoff) {
                continue;
            }
            if *left == 0 {
                return Ok(false);
            }
            *left -= 1;
            self.items.delete(&c.key, None).await?;
            report.conversations_deleted += 1;
        }
        if let Some(from) = account::retention_to_apply(&item)? {
            // Partition by partition; a run that stopped goes on in the one its cursor names.
            let queries = message::everywhere(id);
            let resume = from.and_then(|c| {
                let at = queries.iter().position(|q| q.partition == c.last.pk)?;
                Some((at, c))
            });
            let (start, mut from) = match resume {
                Some((at, c)) => (at, Some(c)),
                None => (0, None),
            };
            for query in queries.into_iter().skip(start) {
                let mut pages = records::pages(&*self.items, query.limit(100).after(from.take()));
                while let Some(page) = pages.try_next().await? {
                    for m in &page.items {
                        let Some(update) = message::expire_after(m, policy.message_days) else {
                            continue;
                        };
                        match self.items.update(update).await {
                            Ok(changed) => {
                                // Its content kept apart and its lookup expire with it.
                                if let Some(at) = message::expiry_of(&changed) {
                                    let lookup = message::wamid_of(m)
                                        .map(|w| message::lookup_expires(w, at));
                                    for update in [message::content_expires(m, at), lookup]
                                        .into_iter()
                                        .flatten()
                                    {
                                        match self.items.update(update).await {
                                            Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                                            Err(e) => return Err(e.into()),
                                        }
                                    }
                                }
                            }
                            Err(StoreError::ConditionFailed { .. }) => {}
                            Err(e) => return Err(e.into()),
                        }
                        report.expiries_updated += 1;
                    }
                    *left = left.saturating_sub(page.items.len() as u64);
                    if let (Some(c), 0) = (&page.next, *left) {
                        // Resume here next run.
                        self.items
                            .update(account::retention_applied_up_to(id, c))
                            .await?;
                        return Ok(false);
                    }
                }
            }
            self.items.update(account::retention_applied(id)).await?;
        }
        // Media older than the media policy.
        // Exports past the account's export_days: their files go with their records (the
        // bucket's own expiry is only the 7-day backstop).
        let mut exports = records::items(&*self.items, export::all(id).limit(100));
        while let Some(e) = exports.try_next().await? {
            let Some(export_id) = export::expired(&e, now.unix_timestamp()) else {
                continue;
            };
            if *left == 0 {
                return Ok(false);
            }
            *left -= 1;
            let file =
                export::file_key(id, &export_id).map_err(|e| ServiceError::Blob(e.to_string()))?;
            self.blobs
                .delete(&file)
                .await
                .map_err(|e| ServiceError::Blob(e.to_string()))?;
            self.items.delete(&e.key, None).await?;
            report.exports_deleted += 1;
        }
        let media_cutoff = now_ms - i64::from(policy.media_days) * DAY_MS;
        let mut all_media = records::items(&*self.items, media::all(id).limit(100));
        while let Some(m) = all_media.try_next().await? {
            if !media::made_before(&m, media_cutoff) {
                continue;
            }
            if *left == 0 {
                return Ok(false);
            }
            *left -= 1;
            if let Ok(media_id) = media::id_of(&m) {
                if self.erase_media(id, &media_id).await? {
                    report.media_deleted += 1;
                }
            }
        }
        Ok(true)
    }
}
