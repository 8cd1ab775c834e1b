//! Usage per account and calendar month (UTC): our own counters (messages queued, template
//! messages, sent, broadcasts) and Meta's, from the `pricing` of status webhooks — each wamid
//! counted once however often its statuses come — with an estimated Meta cost from the rate
//! table. Our counters and Meta's are atomic counters spread over shards of the month and of
//! each day (`records::usage`).

use futures::TryStreamExt;

use super::super::{App, ServiceError};
use crate::domain::{now, AccountId, PhoneNumber, PhoneNumberId, Priced, Timestamp, Usage};
use crate::ports::StoreError;
use crate::records::{self, usage};
use crate::webhook::StatusUpdate;

/// How long a metered wamid is remembered (Meta retries a webhook for 7 days).
const METERED_DAYS: i64 = 60;

impl App {
    /// Template messages queued in `month`: what the plan's allowance counts.
    pub(crate) async fn templates_used(
        &self,
        account: &AccountId,
        month: &str,
    ) -> Result<u64, ServiceError> {
        let own: Vec<_> = records::items(&*self.items, usage::own_counters(account, month))
            .try_collect()
            .await?;
        Ok(usage::templates(&own))
    }

    /// Counts a status's pricing once per wamid.
    pub(crate) async fn meter_status(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        status: &StatusUpdate,
    ) -> Result<(), ServiceError> {
        let Some(pricing) = &status.pricing else {
            return Ok(());
        };
        // Meta prices both `sent` and `delivered`: a read of the marker is far cheaper than the
        // second transaction it saves (a cancelled transaction still costs its write units).
        if self
            .items
            .get(&usage::metered(&status.wamid))
            .await?
            .is_some()
        {
            return Ok(());
        }
        let category = pricing
            .get("category")
            .and_then(|v| v.as_str())
            .filter(|c| !c.is_empty() && c.len() <= 40 && !c.contains('#'))
            .unwrap_or("unknown");
        let billable = pricing
            .get("billable")
            .and_then(|v| v.as_bool())
            .unwrap_or_else(|| pricing.get("type").and_then(|v| v.as_str()) == Some("regular"));
        let at = Timestamp::from_unix_timestamp(status.timestamp).unwrap_or_else(|_| now());
        let cost_micros = match billable {
            true => {
                let market = status
                    .recipient_id
                    .as_deref()
                    .and_then(|r| PhoneNumber::from_meta(r).ok())
                    .and_then(|p| p.region())
                    .map(|r| r.as_str().to_owned());
                self.billing_config
                    .meta_rates
                    .as_ref()
                    .and_then(|t| t.rate(market.as_deref(), category))
            }
            false => None,
        };
        let priced = Priced {
            category: category.to_owned(),
            billable,
            day: format!("{:02}", at.day()),
            number: number.to_string(),
            cost_micros,
        };
        let expires_at = now().unix_timestamp() + METERED_DAYS * 86_400;
        let writes = usage::meter_writes(
            account,
            &crate::domain::month_of(at),
            &status.wamid,
            &priced,
            expires_at,
        );
        match self.items.transact(writes).await {
            Ok(()) | Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Records Meta's `VOLUME_BASED_PRICING_TIER_UPDATE` (an `account_update`) in the usage
    /// of its effective month.
    pub(crate) async fn apply_volume_tier(
        &self,
        account: &AccountId,
        value: &serde_json::Value,
    ) -> Result<(), ServiceError> {
        let info = &value["volume_tier_info"];
        let text = |k: &str| info.get(k).and_then(serde_json::Value::as_str);
        let (Some(month), Some(category), Some(region), Some(tier)) = (
            text("effective_month").and_then(crate::domain::parse_month),
            text("pricing_category"),
            text("region"),
            text("tier"),
        ) else {
            return Ok(());
        };
        if let Some(update) = usage::volume_tier(account, &month, category, region, tier) {
            self.items.update(update).await?;
        }
        Ok(())
    }

    /// The usage of a month (`YYYY-MM`).
    pub async fn usage(&self, account: &AccountId, month: &str) -> Result<Usage, ServiceError> {
        let mut out = Usage {
            period: month.to_owned(),
            currency: self
                .billing_config
                .meta_rates
                .as_ref()
                .map(|r| r.currency.clone()),
            ..Default::default()
        };
        let mut items = records::items(&*self.items, usage::month(account, month));
        while let Some(item) = items.try_next().await? {
            usage::read_into(&mut out, &item)?;
        }
        Ok(out)
    }
}
