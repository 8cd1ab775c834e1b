//! Account closure: the account `closing`, its numbers stopped and unrouted and its API keys
//! revoked at once; then an erasure job deletes every item and object of the tenant in
//! resumable batches, twice: a first pass at once, and a second after [`SETTLE`], when nothing
//! begun before the closure can still write (every job step, send batch and webhook checks the
//! account or its number first, and none outlives the longest function timeout). Only then is
//! the tenant's wrapped data key destroyed (crypto-shredding: a sealed value copied anywhere no
//! longer opens), leaving a receipt without personal data — the account id, times and counts by
//! kind — retrievable once with the token handed out at the request.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::TryStreamExt;
use sha2::{Digest, Sha256};

use super::super::accounts::Principal;
use super::super::{App, Job, JobOutcome, ServiceError};
use crate::domain::{now, AccountId, AuditAction, ClosureReceipt};
use crate::ports::{Item, StoreError};
use crate::records::{
    self, account, api_key, billing, closure, media, message, number, user, Kind,
};
use crate::table;

/// Items erased per step before the job checks its deadline.
const BATCH: u32 = 200;
/// How long an unread receipt is kept.
const RECEIPT_DAYS: i64 = 90;
/// The wait between the erasure's passes on AWS: the longest function timeout (retention's 900
/// s; jobs 300 s, sender 30 s, webhook and API 10 s) and the 30 s route cache, with a margin.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(960);
/// How long a step without a deadline holds the erasure (the longest function timeout).
const MAX_STEP: std::time::Duration = std::time::Duration::from_secs(900);
/// SQS delays a message at most this long: longer waits are chained.
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(900);
/// Blob prefixes that hold a tenant's objects: `{prefix}/{account}/…`.
const BLOB_PREFIXES: [&str; 3] = ["media", "imports", "exports"];

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl App {
    /// Starts closing the account: every API key stops working now; the erasure runs as a job.
    /// Returns the receipt token (shown once). Audited first: the entry is erased with the
    /// rest, but a closure that fails half-way leaves it.
    pub async fn close_account(
        &self,
        by: &Principal,
        confirm: &str,
    ) -> Result<String, ServiceError> {
        by.require(crate::domain::Permission::CloseAccount)?;
        if confirm != "DELETE" {
            return Err(ServiceError::invalid(
                "confirm",
                "must be \"DELETE\" to close the account and erase its data",
            ));
        }
        let id = &by.account_id;
        self.audit(id, &by.actor, AuditAction::AccountClosureRequested, None)
            .await?;
        let token = crate::crypto::random::token_hex();
        let receipt = closure::key(&token_hash(&token));
        // Closing first, so nothing new is accepted from here on.
        self.items
            .update(account::closing(id, &receipt.pk))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        let expires_at = now().unix_timestamp() + RECEIPT_DAYS * 86_400;
        self.items
            .put(
                closure::new_item(&token_hash(&token), id, now(), expires_at),
                None,
            )
            .await?;
        self.stop_numbers(id).await?;
        self.revoke_all_api_keys(id).await?;
        self.enqueue(&Job::EraseAccount {
            account_id: id.clone(),
        })
        .await?;
        tracing::info!(account_id = %id, "account closure requested");
        Ok(token)
    }

    /// Every number stops sending and its webhooks (and its WABA's) stop reaching the tenant.
    async fn stop_numbers(&self, id: &AccountId) -> Result<(), ServiceError> {
        let mut numbers = records::items(&*self.items, number::all(id).limit(100));
        while let Some(item) = numbers.try_next().await? {
            let Some((n, routes, _)) = number::outside(&item) else {
                continue;
            };
            self.stop_sending(id, &n, 0, "The account is closing")
                .await?;
            self.erase_routes(id, &routes).await?;
            self.forget_routes(&n, None);
        }
        Ok(())
    }

    /// Deletes the routes that still send to this tenant.
    async fn erase_routes(
        &self,
        id: &AccountId,
        routes: &[crate::ports::Key],
    ) -> Result<(), ServiceError> {
        for route in routes {
            if self
                .items
                .get(route)
                .await?
                .is_some_and(|r| number::routes_to(&r, id))
            {
                self.items.delete(route, None).await?;
            }
        }
        Ok(())
    }

    async fn revoke_all_api_keys(&self, id: &AccountId) -> Result<(), ServiceError> {
        let mut keys = records::items(&*self.items, api_key::all(id).limit(1000));
        while let Some(record) = keys.try_next().await? {
            if api_key::from_item(&record)?.revoked_at.is_none() {
                self.items
                    .transact(api_key::revoke(&record, now())?)
                    .await?;
            }
        }
        Ok(())
    }

    /// The erasure job: batches of the tenant's items, each with what it points to outside
    /// the partition, and the bucket's objects; once now and once more after the settle time;
    /// then the data key and the account record. Numbers stay until the second pass, so that
    /// what a send begun before the closure writes outside the partition is found from them.
    pub(crate) async fn run_erasure(
        &self,
        id: &AccountId,
        job: &str,
        deadline: Option<Instant>,
    ) -> Result<JobOutcome, ServiceError> {
        let Some(record) = self.items.get(&table::account(id)).await? else {
            return Ok(JobOutcome::Done);
        };
        let receipt = account::receipt_partition(&record).map(closure::key_at);
        let second = match account::second_pass_at(&record) {
            None => false,
            Some(at) => {
                let wait = at - crate::records::to_millis(now());
                if wait > 0 {
                    return self.erase_later(id, wait).await;
                }
                true
            }
        };
        let now_ms = crate::records::to_millis(now());
        let until = now_ms
            + deadline
                .map_or(MAX_STEP, |d| d.saturating_duration_since(Instant::now()))
                .as_millis() as i64;
        match self
            .items
            .update(account::take_erasure(id, job, now_ms, until))
            .await
        {
            Ok(_) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                tracing::info!(account_id = %id, "erasure step already running; this job leaves it");
                return Ok(JobOutcome::Done);
            }
            Err(e) => return Err(e.into()),
        }
        if !self
            .erase_items(id, receipt.as_ref(), second, deadline)
            .await?
        {
            self.release_erasure(id, job).await?;
            self.enqueue(&Job::EraseAccount {
                account_id: id.clone(),
            })
            .await?;
            return Ok(JobOutcome::Continued);
        }
        // Webhook content kept for operators that named this tenant.
        let letters = self.erase_dead_letters(id).await?;
        if let (Some(r), true) = (&receipt, letters > 0) {
            let counts = BTreeMap::from([("dead_letter".to_owned(), letters as i64)]);
            self.items.update(closure::deleted(r, &counts)).await?;
        }
        // Objects: everything under the tenant's prefixes.
        let mut objects = 0;
        for prefix in BLOB_PREFIXES {
            objects += self
                .blobs
                .delete_prefix(&format!("{prefix}/{id}/"))
                .await
                .map_err(|e| ServiceError::Blob(e.to_string()))?;
        }
        if let Some(r) = &receipt {
            self.items.update(closure::objects(r, objects)).await?;
        }
        if !second {
            let settle = self.closure_settle.as_millis() as i64;
            let at = crate::records::to_millis(now()) + settle;
            self.items.update(account::first_pass_done(id, at)).await?;
            self.release_erasure(id, job).await?;
            tracing::info!(account_id = %id, objects, "account erased once; again after the settle time");
            return self.erase_later(id, settle).await;
        }
        // Crypto-shredding: without its wrapped key, no sealed value of the tenant opens again.
        self.items.delete(&table::data_key(id), None).await?;
        self.keyring.forget(id);
        self.items.delete(&table::account(id), None).await?;
        if let Some(r) = &receipt {
            self.items.update(closure::closed(r, now())).await?;
        }
        tracing::info!(account_id = %id, "account erased");
        Ok(JobOutcome::Done)
    }

    async fn release_erasure(&self, id: &AccountId, job: &str) -> Result<(), ServiceError> {
        match self.items.update(account::release_erasure(id, job)).await {
            // Held past its lease and taken by another job, which goes on.
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Queues the erasure again in `wait_ms` (chained when longer than a queue delay).
    async fn erase_later(&self, id: &AccountId, wait_ms: i64) -> Result<JobOutcome, ServiceError> {
        let delay = std::time::Duration::from_millis(wait_ms.max(0) as u64).min(MAX_DELAY);
        let body = serde_json::to_string(&Job::EraseAccount {
            account_id: id.clone(),
        })
        .map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.job_queue
            .send(crate::ports::OutgoingMessage::new(body).delayed(delay))
            .await
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        Ok(JobOutcome::Continued)
    }

    /// Deletes the tenant's items but the account and its data key (and, on the first pass,
    /// its numbers), batch by batch; `false` if the deadline came first.
    async fn erase_items(
        &self,
        id: &AccountId,
        receipt: Option<&crate::ports::Key>,
        second: bool,
        deadline: Option<Instant>,
    ) -> Result<bool, ServiceError> {
        // Expired items too: DynamoDB's sweeper may not have removed them yet.
        let queries = records::partitions(id, |q| q.including_expired().limit(BATCH + 2));
        let mut pages = records::pages_across(&*self.items, queries);
        while let Some(page) = pages.try_next().await? {
            if deadline.is_some_and(|d| Instant::now() + std::time::Duration::from_secs(30) > d) {
                return Ok(false);
            }
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
            for item in &page.items {
                match Kind::of(item) {
                    Kind::Account | Kind::DataKey => continue,
                    Kind::Number if !second => continue,
                    _ => {}
                }
                self.erase_outside(id, item).await?;
                self.items.delete(&item.key, None).await?;
                *counts.entry(Kind::name(item)).or_default() += 1;
            }
            if let (Some(r), false) = (receipt, counts.is_empty()) {
                self.items.update(closure::deleted(r, &counts)).await?;
            }
        }
        Ok(true)
    }

    /// What an item of the tenant points to outside its partition.
    async fn erase_outside(&self, id: &AccountId, item: &Item) -> Result<(), ServiceError> {
        match Kind::of(item) {
            Kind::Message => {
                if let Some(w) = message::wamid_of(item) {
                    self.erase_wamid(id, w).await?;
                }
            }
            Kind::Number => {
                if let Some((n, routes, bucket)) = number::outside(item) {
                    self.erase_routes(id, &routes).await?;
                    self.items.delete(&bucket, None).await?;
                    self.forget_routes(&n, None);
                }
            }
            // Its file and its download links.
            Kind::Media => {
                if let Ok(m) = media::id_of(item) {
                    self.erase_media(id, &m).await?;
                }
            }
            Kind::ApiKey => {
                if let Some(lookup) = api_key::lookup_of(item) {
                    self.items.delete(&lookup, None).await?;
                }
            }
            Kind::User => {
                if let Some(lookup) = user::lookup_of(item) {
                    self.items.delete(&lookup, None).await?;
                }
            }
            Kind::Billing => {
                if let Some(link) = billing::customer_of(item) {
                    self.items.delete(&link, None).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The receipt behind a token. Once the erasure is done it is handed out once, then gone.
    pub async fn closure_receipt(&self, token: &str) -> Result<ClosureReceipt, ServiceError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::NotFound);
        }
        let key = closure::key(&token_hash(token));
        let item = self.found(&key).await?;
        let receipt = closure::from_item(&item)?;
        if receipt.state == "closed" {
            self.items.delete(&key, None).await?;
        }
        Ok(receipt)
    }
}
