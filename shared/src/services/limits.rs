//! Admission: each API request counts against its account's and its key's rate, each signup
//! against its client address's, so that one tenant's burst never takes another's share.

use futures::TryStreamExt;

use super::accounts::Principal;
use super::{App, ServiceError};
use crate::domain::{now, AccountId, Actor, ImportId, RateLimited};
use crate::ports::{Item, Query, StoreError};
use crate::records::{self, limits};

impl App {
    /// Counts one request of `caller`, or refuses it for the rest of the second.
    pub async fn admit_request(&self, caller: &Principal) -> Result<(), ServiceError> {
        let Actor::ApiKey(key) = &caller.actor else {
            return Ok(());
        };
        let at = now();
        let second = at.unix_timestamp();
        let l = self.api_limits;
        let shards = limits::window_shards(l.per_account);
        // A random item of the window, then (when spread) the next one: a request is refused
        // only when both are full, so an uneven spread does not refuse below the limit.
        let first = rand::random::<u8>() % shards;
        let tries = [first, (first + 1) % shards];
        let mut refused = first;
        for shard in &tries[..usize::from(shards).min(2)] {
            let window = (second, *shard, shards);
            let update =
                limits::count_request(&caller.account_id, key, window, l.per_account, l.per_key);
            match self.items.update(update).await {
                Ok(_) => return Ok(()),
                Err(StoreError::ConditionFailed { .. }) => refused = *shard,
                Err(e) => return Err(e.into()),
            }
        }
        let window = self
            .items
            .get(&limits::request_window(&caller.account_id, second, refused))
            .await?;
        let (policy, limit) = match limits::account_full(window.as_ref(), l.per_account, shards) {
            true => ("account", l.per_account),
            false => ("key", l.per_key),
        };
        Err(ServiceError::RateLimited(RateLimited {
            policy,
            limit,
            window_seconds: 1,
            retry_after_ms: 1000 - u64::from(at.millisecond()),
        }))
    }

    /// Counts one signup from `address` (the client's IP as the edge saw it), or refuses it
    /// for the rest of the hour.
    pub async fn admit_signup(&self, address: &str) -> Result<(), ServiceError> {
        let at = now().unix_timestamp();
        let hour = at / 3600;
        let limit = self.api_limits.signups_per_hour;
        match self
            .items
            .update(limits::count_signup(address, hour, limit))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                Err(ServiceError::RateLimited(RateLimited {
                    policy: "signup",
                    limit,
                    window_seconds: 3600,
                    retry_after_ms: ((hour + 1) * 3600 - at).max(1) as u64 * 1000,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How long a queued or running import or export holds its account's single place: past it,
/// one whose job died (in the dead-letter queue) no longer blocks the next.
const IMPORT_PLACE: time::Duration = time::Duration::hours(24);
const EXPORT_PLACE: time::Duration = time::Duration::hours(1);

impl App {
    /// Refuses a second import while one of the account's is queued or running.
    pub(crate) async fn one_import_at_a_time(
        &self,
        account: &AccountId,
        except: &ImportId,
    ) -> Result<(), ServiceError> {
        let query = records::import::all(account);
        let this = crate::table::import(account, except);
        let pending = |item: &Item| match item.key == this {
            true => (false, records::import::pending_since(item).1),
            false => records::import::pending_since(item),
        };
        self.one_at_a_time(query, IMPORT_PLACE, pending, "import")
            .await
    }

    /// Refuses a second export while one of the account's is queued or running.
    pub(crate) async fn one_export_at_a_time(
        &self,
        account: &AccountId,
    ) -> Result<(), ServiceError> {
        let query = records::export::all(account);
        self.one_at_a_time(
            query,
            EXPORT_PLACE,
            records::export::pending_since,
            "export",
        )
        .await
    }

    /// Reads `query` newest first, back to `place` ago, for an item `pending` says is queued
    /// or running (and when it was made).
    async fn one_at_a_time(
        &self,
        query: Query,
        place: time::Duration,
        pending: impl Fn(&Item) -> (bool, i64),
        what: &'static str,
    ) -> Result<(), ServiceError> {
        let since = records::to_millis(now() - place);
        let mut items = records::items(&*self.items, query.backward().limit(25));
        while let Some(item) = items.try_next().await? {
            let (running, created) = pending(&item);
            if created < since {
                break;
            }
            if running {
                return Err(ServiceError::AlreadyRunning(what));
            }
        }
        Ok(())
    }
}
