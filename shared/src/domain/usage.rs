use std::collections::BTreeMap;

use serde::Serialize;

use super::Timestamp;

/// `YYYY-MM` of a time: the calendar month (UTC) usage counts in.
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

/// What one send or broadcast adds to our own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageDelta {
    pub queued: i64,
    pub templates: i64,
    pub sent: i64,
    pub broadcasts: i64,
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
    /// Meta's volume pricing tiers in effect this month, by category and market, as its
    /// `VOLUME_BASED_PRICING_TIER_UPDATE` said (the estimate uses the table's list rates).
    pub volume_tiers: Vec<VolumeTier>,
}

/// A volume pricing tier Meta moved the WABA to, for a month.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VolumeTier {
    /// `UTILITY`, `AUTHENTICATION`, …
    pub category: String,
    /// Meta's market name, e.g. `INDIA`.
    pub region: String,
    /// The range of messages a month the tier covers, e.g. `25000001:50000000`.
    pub tier: String,
}

/// One message Meta priced, as a status webhook says (counted once per wamid).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    pub category: String,
    pub billable: bool,
    /// Day of the month (UTC), `01` to `31`.
    pub day: String,
    pub number: String,
    /// From the rate table, if it has one for the market and category.
    pub cost_micros: Option<u64>,
}
