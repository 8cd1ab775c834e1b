//! Usage per account and calendar month (UTC): our own counters (messages queued, template
//! messages, sent, broadcasts) and Meta's, from the `pricing` of status webhooks — each wamid
//! counted once however often its statuses come — with an estimated Meta cost from the rate
//! table. One item per month holds them all as atomic counters.

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::{App, ServiceError};
use crate::domain::{now, AccountId, PhoneNumber, PhoneNumberId, Timestamp};
use crate::ports::{Item, StoreError, Update, Value, Write};
use crate::table;
use crate::webhook::StatusUpdate;

/// How long a metered wamid is remembered (Meta retries a webhook for 7 days).
const METERED_DAYS: i64 = 60;

/// `YYYY-MM` of a time.
pub fn month_of(t: Timestamp) -> String {
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// A month as the API takes it: `YYYY-MM`.
pub fn parse_month(s: &str) -> Option<String> {
    let (y, m) = s.split_once('-')?;
    let ok = y.len() == 4
        && m.len() == 2
        && y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
        && (1..=12).contains(&m.parse::<u8>().ok()?);
    ok.then(|| s.to_owned())
}

/// Our own counters of a month.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OwnUsage {
    pub messages_queued: u64,
    pub template_messages_queued: u64,
    pub messages_sent: u64,
    pub broadcasts: u64,
}

/// Meta's messages of one group, split by whether Meta bills them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MetaCount {
    pub billable: u64,
    pub free: u64,
}

/// A month's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub period: String,
    pub ours: OwnUsage,
    /// Distinct messages Meta priced.
    pub meta_messages: u64,
    pub by_category: BTreeMap<String, MetaCount>,
    pub by_number: BTreeMap<String, BTreeMap<String, MetaCount>>,
    pub by_day: BTreeMap<String, BTreeMap<String, MetaCount>>,
    /// Estimated from the configured rate table, in micro-units of `currency`.
    pub estimated_meta_cost_micros: u64,
    pub currency: Option<String>,
}

/// Names of the counter attributes; `#` separates parts (categories and numbers never hold one).
fn billable_word(billable: bool) -> &'static str {
    if billable {
        "billable"
    } else {
        "free"
    }
}

/// Adds to our own counters of the current month (`queued`, `templates`, `sent`, `broadcasts`).
pub(crate) fn count(account: &AccountId, counters: &[(&str, i64)]) -> Update {
    let mut update = Update::new(table::usage(account, &month_of(now())));
    for (name, by) in counters {
        update = update.add(name, *by);
    }
    update
}

impl App {
    pub(crate) async fn usage_counter(
        &self,
        account: &AccountId,
        month: &str,
        name: &str,
    ) -> Result<u64, ServiceError> {
        Ok(self
            .items
            .get(&table::usage(account, month))
            .await?
            .and_then(|i| i.opt_n(name))
            .unwrap_or(0)
            .max(0) as u64)
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
        let marker_key = table::metered(&status.wamid);
        if self.items.get(&marker_key).await?.is_some() {
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
        let month = month_of(at);
        let day = format!("{:02}", at.day());
        let word = billable_word(billable);
        let mut update = Update::new(table::usage(account, &month))
            .add("meta", 1)
            .add(&format!("cat#{category}#{word}"), 1)
            .add(&format!("num#{number}#{category}#{word}"), 1)
            .add(&format!("day#{day}#{category}#{word}"), 1);
        if billable {
            let market = status
                .recipient_id
                .as_deref()
                .and_then(|r| PhoneNumber::from_meta(r).ok())
                .and_then(|p| p.region())
                .map(|r| r.as_str().to_owned());
            if let Some(rate) = self
                .billing_config
                .meta_rates
                .as_ref()
                .and_then(|t| t.rate(market.as_deref(), category))
            {
                update = update.add("cost_micros", rate as i64);
            }
        }
        let marker = Item::new(marker_key)
            .with("account_id", Value::S(account.to_string()))
            .expiring_at(now().unix_timestamp() + METERED_DAYS * 86_400);
        match self
            .items
            .transact(vec![Write::put_new(marker), Write::Update(update)])
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The usage of a month (`YYYY-MM`).
    pub async fn usage(&self, account: &AccountId, month: &str) -> Result<Usage, ServiceError> {
        let mut usage = Usage {
            period: month.to_owned(),
            currency: self
                .billing_config
                .meta_rates
                .as_ref()
                .map(|r| r.currency.clone()),
            ..Default::default()
        };
        let Some(item) = self.items.get(&table::usage(account, month)).await? else {
            return Ok(usage);
        };
        let n = |name: &str| item.opt_n(name).unwrap_or(0).max(0) as u64;
        usage.ours = OwnUsage {
            messages_queued: n("queued"),
            template_messages_queued: n("templates"),
            messages_sent: n("sent"),
            broadcasts: n("broadcasts"),
        };
        usage.meta_messages = n("meta");
        usage.estimated_meta_cost_micros = n("cost_micros");
        let bump = |c: &mut MetaCount, word: &str, by: u64| match word {
            "billable" => c.billable += by,
            _ => c.free += by,
        };
        for (name, value) in &item.attrs {
            let Value::N(by) = value else { continue };
            let by = (*by).max(0) as u64;
            let parts: Vec<&str> = name.split('#').collect();
            match parts.as_slice() {
                ["cat", category, word] => {
                    bump(
                        usage.by_category.entry((*category).to_owned()).or_default(),
                        word,
                        by,
                    );
                }
                ["num", number, category, word] => bump(
                    usage
                        .by_number
                        .entry((*number).to_owned())
                        .or_default()
                        .entry((*category).to_owned())
                        .or_default(),
                    word,
                    by,
                ),
                ["day", day, category, word] => bump(
                    usage
                        .by_day
                        .entry(format!("{month}-{day}"))
                        .or_default()
                        .entry((*category).to_owned())
                        .or_default(),
                    word,
                    by,
                ),
                _ => {}
            }
        }
        Ok(usage)
    }
}
