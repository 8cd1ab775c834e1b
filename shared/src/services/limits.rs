//! Admission: each API request counts against its account's and its key's rate, each signup
//! against its client address's, so that one tenant's burst never takes another's share.

use super::accounts::Principal;
use super::{App, ServiceError};
use crate::domain::{now, Actor, RateLimited};
use crate::ports::StoreError;
use crate::records::limits;

impl App {
    /// Counts one request of `caller`, or refuses it for the rest of the second.
    pub async fn admit_request(&self, caller: &Principal) -> Result<(), ServiceError> {
        let Actor::ApiKey(key) = &caller.actor else {
            return Ok(());
        };
        let at = now();
        let second = at.unix_timestamp();
        let l = self.api_limits;
        let update =
            limits::count_request(&caller.account_id, key, second, l.per_account, l.per_key);
        match self.items.update(update).await {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                let window = self
                    .items
                    .get(&limits::request_window(&caller.account_id, second))
                    .await?;
                let (policy, limit) = match limits::account_full(window.as_ref(), l.per_account) {
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
            Err(e) => Err(e.into()),
        }
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
        account: &crate::domain::AccountId,
        except: &crate::domain::ImportId,
    ) -> Result<(), ServiceError> {
        let query = crate::records::import::all(account).backward().limit(25);
        let since = crate::records::to_millis(now() - IMPORT_PLACE);
        let mut imports = crate::records::items(&*self.items, query);
        while let Some(item) = futures::TryStreamExt::try_next(&mut imports).await? {
            let (pending, created) = crate::records::import::pending_since(&item);
            if created < since {
                break;
            }
            let same = item.key == crate::table::import(account, except);
            if pending && !same {
                return Err(ServiceError::AlreadyRunning("import"));
            }
        }
        Ok(())
    }

    /// Refuses a second export while one of the account's is queued or running.
    pub(crate) async fn one_export_at_a_time(
        &self,
        account: &crate::domain::AccountId,
    ) -> Result<(), ServiceError> {
        let query = crate::records::export::all(account).backward().limit(25);
        let since = crate::records::to_millis(now() - EXPORT_PLACE);
        let mut exports = crate::records::items(&*self.items, query);
        while let Some(item) = futures::TryStreamExt::try_next(&mut exports).await? {
            let (pending, created) = crate::records::export::pending_since(&item);
            if created < since {
                break;
            }
            if pending {
                return Err(ServiceError::AlreadyRunning("export"));
            }
        }
        Ok(())
    }
}
