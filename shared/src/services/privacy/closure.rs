//! Account closure: API keys revoked at once and the account `closing`; then an erasure job
//! deletes every item and object of the tenant in resumable batches, destroys the tenant's
//! wrapped data key (crypto-shredding: a sealed value copied anywhere no longer opens) and
//! leaves a receipt without personal data — the account id, times and counts by kind —
//! retrievable once with the token handed out at the request.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::super::{from_millis, to_millis, App, JobOutcome, ServiceError};
use crate::domain::{now, AccountId, AccountState, Timestamp};
use crate::ports::{Condition, Item, Query, StoreError, Update, Value, Write};
use crate::table;

/// Items erased per step before the job checks its deadline.
const BATCH: u32 = 200;
/// How long an unread receipt is kept.
const RECEIPT_DAYS: i64 = 90;
/// Blob prefixes that hold a tenant's objects: `{prefix}/{account}/…`.
const BLOB_PREFIXES: [&str; 3] = ["media", "imports", "exports"];

/// What a closure erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosureReceipt {
    pub account_id: String,
    /// `closing` while the erasure runs, `closed` once it is done.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<Timestamp>,
    /// Items deleted, by kind (`contact`, `message`, …), and `objects` from the bucket.
    pub deleted: BTreeMap<String, u64>,
    /// Whether the tenant's data key was destroyed.
    pub key_destroyed: bool,
}

fn receipt_key(token: &str) -> crate::ports::Key {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    crate::ports::Key::new(format!("RECEIPT#{hash}"), "RECEIPT")
}

impl App {
    /// Starts closing the account: every API key stops working now; the erasure runs as a job.
    /// Returns the receipt token (shown once).
    pub async fn close_account(
        &self,
        account: &AccountId,
        confirm: &str,
    ) -> Result<String, ServiceError> {
        if confirm != "DELETE" {
            return Err(ServiceError::invalid(
                "confirm",
                "must be \"DELETE\" to close the account and erase its data",
            ));
        }
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        // Closing first, so nothing new is accepted from here on.
        self.items
            .update(
                Update::new(table::account(account))
                    .set("state", Value::S(AccountState::Closing.as_str().into()))
                    .set("receipt", Value::S(receipt_key(&token).pk))
                    .when(Condition::Equals(
                        "state".into(),
                        Value::S(AccountState::Active.as_str().into()),
                    )),
            )
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        let receipt = Item::new(receipt_key(&token))
            .with("account_id", Value::S(account.to_string()))
            .with("state", Value::S("closing".into()))
            .with("requested_at", Value::N(to_millis(now())))
            .expiring_at(now().unix_timestamp() + RECEIPT_DAYS * 86_400);
        self.items.put(receipt, None).await?;
        self.revoke_all_api_keys(account).await?;
        self.enqueue(&super::super::Job::EraseAccount {
            account_id: account.clone(),
        })
        .await?;
        tracing::info!(account_id = %account, "account closure requested");
        Ok(token)
    }

    async fn revoke_all_api_keys(&self, account: &AccountId) -> Result<(), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(account))
                    .begins_with(table::API_KEY_PREFIX)
                    .limit(1000),
            )
            .await?;
        for record in page.items {
            if let Some(hash) = record.opt_s("hash") {
                self.items
                    .transact(vec![
                        Write::Delete {
                            key: table::api_key_lookup(hash),
                            condition: None,
                        },
                        Write::Update(
                            Update::new(record.key.clone())
                                .set("revoked_at", Value::N(to_millis(now())))
                                .when(Condition::Exists),
                        ),
                    ])
                    .await?;
            }
        }
        Ok(())
    }

    /// The erasure job: batches of the tenant's items, each with what it points to outside
    /// the partition; then the bucket's objects, the data key and the account record.
    pub(crate) async fn run_erasure(
        &self,
        account: &AccountId,
        deadline: Option<Instant>,
    ) -> Result<JobOutcome, ServiceError> {
        let Some(record) = self.items.get(&table::account(account)).await? else {
            return Ok(JobOutcome::Done);
        };
        let receipt = record
            .opt_s("receipt")
            .map(|pk| crate::ports::Key::new(pk, "RECEIPT"));
        loop {
            if deadline.is_some_and(|d| Instant::now() + std::time::Duration::from_secs(30) > d) {
                self.enqueue(&super::super::Job::EraseAccount {
                    account_id: account.clone(),
                })
                .await?;
                return Ok(JobOutcome::Continued);
            }
            // Expired items too: DynamoDB's sweeper may not have removed them yet.
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .including_expired()
                        .limit(BATCH + 2),
                )
                .await?;
            let rest: Vec<&Item> = page
                .items
                .iter()
                .filter(|i| i.key.sk != "ACCOUNT" && i.key.sk != "DATAKEY")
                .collect();
            if rest.is_empty() {
                break;
            }
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
            for item in rest {
                self.erase_outside(account, item).await?;
                self.items.delete(&item.key, None).await?;
                let kind = item
                    .key
                    .sk
                    .split('#')
                    .next()
                    .unwrap_or_default()
                    .to_lowercase();
                *counts.entry(kind).or_default() += 1;
            }
            if let Some(r) = &receipt {
                let mut update = Update::new(r.clone());
                for (kind, n) in &counts {
                    update = update.add(&format!("deleted_{kind}"), *n);
                }
                self.items.update(update).await?;
            }
        }
        // Objects: everything under the tenant's prefixes.
        let mut objects = 0;
        for prefix in BLOB_PREFIXES {
            objects += self
                .blobs
                .delete_prefix(&format!("{prefix}/{account}/"))
                .await
                .map_err(|e| ServiceError::Blob(e.to_string()))?;
        }
        // Crypto-shredding: without its wrapped key, no sealed value of the tenant opens again.
        self.items.delete(&table::data_key(account), None).await?;
        self.keyring.forget(account);
        self.items.delete(&table::account(account), None).await?;
        if let Some(r) = &receipt {
            self.items
                .update(
                    Update::new(r.clone())
                        .add("deleted_objects", objects as i64)
                        .set("state", Value::S("closed".into()))
                        .set("key_destroyed", Value::Bool(true))
                        .set("finished_at", Value::N(to_millis(now()))),
                )
                .await?;
        }
        tracing::info!(account_id = %account, objects, "account erased");
        Ok(JobOutcome::Done)
    }

    /// What an item of the tenant points to outside its partition.
    async fn erase_outside(&self, account: &AccountId, item: &Item) -> Result<(), ServiceError> {
        let kind = item.key.sk.split('#').next().unwrap_or_default();
        match kind {
            "MESSAGE" => {
                if let Some(w) = item.opt_s("wamid") {
                    self.erase_wamid(account, w).await?;
                }
            }
            "NUMBER" => {
                if let Some(n) = item
                    .key
                    .sk
                    .strip_prefix(table::NUMBER_PREFIX)
                    .and_then(|n| crate::domain::PhoneNumberId::parse(n).ok())
                {
                    let route = table::number_route(&n);
                    let ours = Value::S(account.to_string());
                    if self
                        .items
                        .get(&route)
                        .await?
                        .is_some_and(|r| r.attrs.get("account_id") == Some(&ours))
                    {
                        self.items.delete(&route, None).await?;
                    }
                    self.items.delete(&table::send_rate(&n), None).await?;
                    if let Some(waba) = item.opt_s("waba_id") {
                        let key = table::waba_route(waba);
                        if self
                            .items
                            .get(&key)
                            .await?
                            .is_some_and(|r| r.attrs.get("account_id") == Some(&ours))
                        {
                            self.items.delete(&key, None).await?;
                        }
                    }
                    self.routes.forget(n.as_str());
                }
            }
            "MEDIA" => {
                if let Some(id) = item
                    .key
                    .sk
                    .strip_prefix(table::MEDIA_PREFIX)
                    .and_then(|i| crate::domain::MediaId::parse(i).ok())
                {
                    // Its file and its download links.
                    self.erase_media(account, &id).await?;
                }
            }
            "APIKEY" => {
                if let Some(hash) = item.opt_s("hash") {
                    self.items
                        .delete(&table::api_key_lookup(hash), None)
                        .await?;
                }
            }
            "BILLING" => {
                if let Some(c) = item.opt_s("customer") {
                    self.items.delete(&table::billing_customer(c), None).await?;
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
        let key = receipt_key(token);
        let item = self.items.get(&key).await?.ok_or(ServiceError::NotFound)?;
        let mut deleted = BTreeMap::new();
        for (name, value) in &item.attrs {
            if let (Some(kind), Value::N(n)) = (name.strip_prefix("deleted_"), value) {
                deleted.insert(kind.to_owned(), (*n).max(0) as u64);
            }
        }
        let receipt = ClosureReceipt {
            account_id: item.s("account_id")?.to_owned(),
            state: item.s("state")?.to_owned(),
            requested_at: from_millis(item.n("requested_at")?)?,
            finished_at: item.opt_n("finished_at").map(from_millis).transpose()?,
            deleted,
            key_destroyed: item.opt_bool("key_destroyed").unwrap_or(false),
        };
        if receipt.state == "closed" {
            self.items.delete(&key, None).await?;
        }
        Ok(receipt)
    }
}
