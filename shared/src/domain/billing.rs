//! Plans, subscription states and the rule that turns payment-provider events, in any order,
//! into one subscription state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The built-in plans (`config/plans.json`); `WHATATALK_PLANS` or `WHATATALK_PLANS_FILE`
/// replace them without a code change.
pub const DEFAULT_PLANS_JSON: &str = include_str!("../../../config/plans.json");

/// What a plan gives, per calendar month (UTC) where it counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Also the payment provider's price `lookup_key` that selects it.
    pub id: String,
    pub name: String,
    pub monthly_price_cents: u64,
    pub currency: String,
    pub included_template_messages: u64,
    pub numbers: u32,
    pub contacts: u64,
    pub broadcast_size: u64,
    /// `None`: sending stops when the included messages are used.
    pub overage: Option<Overage>,
    /// The payment provider's hosted checkout for this plan (a Stripe Payment Link): the app
    /// sends the account there with `client_reference_id` set to the account's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overage {
    pub price_per_message_micros: u64,
}

/// Meta's price per delivered message by market (a region code, or `default`) and category,
/// in micro-units of `currency`: gives the estimated Meta cost of a month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTable {
    pub currency: String,
    pub markets: BTreeMap<String, BTreeMap<String, u64>>,
}

impl RateTable {
    pub fn rate(&self, market: Option<&str>, category: &str) -> Option<u64> {
        market
            .and_then(|m| self.markets.get(m))
            .and_then(|r| r.get(category))
            .or_else(|| self.markets.get("default").and_then(|r| r.get(category)))
            .copied()
    }
}

/// Plans and billing rules, as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    #[serde(rename = "_comment", default, skip_serializing)]
    pub comment: Option<String>,
    /// The plan of an account without a subscription.
    pub default_plan: String,
    /// How long a past-due subscription may still send.
    pub past_due_grace_days: u32,
    pub plans: Vec<Plan>,
    #[serde(default)]
    pub meta_rates: Option<RateTable>,
    /// The payment provider's customer portal (cards, invoices, cancelling), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_url: Option<String>,
}

impl BillingConfig {
    pub fn parse(json: &str) -> Result<Self, Invalid> {
        let config: BillingConfig =
            serde_json::from_str(json).map_err(|e| Invalid::new(format!("plans: {e}")))?;
        let ids: BTreeSet<&str> = config.plans.iter().map(|p| p.id.as_str()).collect();
        if ids.len() != config.plans.len() {
            return Err(Invalid::new("plans: two plans have the same id"));
        }
        if !ids.contains(config.default_plan.as_str()) {
            return Err(Invalid::new("plans: default_plan is not one of the plans"));
        }
        if config.past_due_grace_days > 60 {
            return Err(Invalid::new("plans: past_due_grace_days is at most 60"));
        }
        let links = config
            .plans
            .iter()
            .filter_map(|p| p.checkout_url.as_deref())
            .chain(config.portal_url.as_deref());
        for link in links {
            match url::Url::parse(link) {
                Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
                _ => return Err(Invalid::new(format!("plans: {link} is not an https URL"))),
            }
        }
        Ok(config)
    }

    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan with this id, or the default plan.
    pub fn plan_or_default(&self, id: Option<&str>) -> &Plan {
        id.and_then(|i| self.plan(i))
            .or_else(|| self.plan(&self.default_plan))
            .unwrap_or(&self.plans[0])
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        // Checked by a unit test; a broken built-in file fails the build's tests.
        Self::parse(DEFAULT_PLANS_JSON).unwrap_or_else(|e| panic!("config/plans.json: {e}"))
    }
}

/// A subscription's state, as the payment provider reports it (Stripe's statuses mapped onto
/// the five that decide what an account may do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Trialing,
    Active,
    PastDue,
    Unpaid,
    Canceled,
}

impl SubscriptionState {
    /// Stripe's `status`. `incomplete` (first payment not made) and `paused` may not send, as
    /// `unpaid`; `incomplete_expired` is over, as `canceled`.
    pub fn from_stripe(status: &str) -> Option<Self> {
        Some(match status {
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "unpaid" | "incomplete" | "paused" => Self::Unpaid,
            "canceled" | "incomplete_expired" => Self::Canceled,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Unpaid => "unpaid",
            Self::Canceled => "canceled",
        }
    }

    fn good(self) -> bool {
        matches!(self, Self::Trialing | Self::Active)
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A card as the provider describes it: never its number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

/// What one payment-provider event says about an account's subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BillingChange {
    /// The subscription object as it was when the event was made.
    Subscription {
        id: String,
        /// When the subscription itself began: the newest subscription is the account's.
        started_at: i64,
        state: SubscriptionState,
        /// The price's lookup key: the plan id.
        plan: Option<String>,
        period: Option<(i64, i64)>,
        deleted: bool,
    },
    /// An invoice of the subscription was paid (a non-zero amount) or its payment failed.
    Invoice {
        subscription: String,
        paid: bool,
    },
    PaymentMethod(Card),
    /// The customer's billing name or address changed at the provider (handled apart: it
    /// is personal data, sealed).
    Customer,
}

/// Where a subscription stands, folded from every event so far. Any order of the same
/// events folds to the same state: each part is a maximum or a set, never "the last seen".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Option<String>,
    pub started_at: i64,
    /// The winning signal: (event time, 1 for the subscription's own state / 0 for an
    /// invoice, the state's order) — the subscription's own word wins a tie.
    signal: Option<(i64, u8, SubscriptionState)>,
    pub deleted: bool,
    pub plan: Option<String>,
    plan_at: i64,
    pub period: Option<(i64, i64)>,
    /// Latest time the subscription was in good standing.
    good_at: i64,
    /// Times of past-due signals (kept: a later good one may come first).
    past_due_at: BTreeSet<i64>,
    pub card: Option<Card>,
    card_at: i64,
    /// Invoice news for a subscription not (yet) known as the account's: applied if its own
    /// events arrive later.
    early_invoices: BTreeSet<(String, i64, bool)>,
}

impl Subscription {
    /// Folds one event (`created`: its time, epoch seconds) in.
    pub fn apply(&mut self, created: i64, change: &BillingChange) {
        match change {
            BillingChange::Subscription {
                id,
                started_at,
                state,
                plan,
                period,
                deleted,
            } => {
                if self.id.as_deref() != Some(id.as_str()) {
                    // An older subscription's news is history; a newer one replaces it.
                    if self.id.is_some() && *started_at <= self.started_at {
                        return;
                    }
                    let previous = std::mem::take(self);
                    *self = Subscription {
                        id: Some(id.clone()),
                        started_at: *started_at,
                        card: previous.card,
                        card_at: previous.card_at,
                        early_invoices: previous.early_invoices,
                        ..Default::default()
                    };
                    let early: Vec<_> = self
                        .early_invoices
                        .iter()
                        .filter(|(s, _, _)| s == id)
                        .cloned()
                        .collect();
                    for (_, at, paid) in early {
                        self.invoice_signal(at, paid);
                    }
                }
                if *deleted || *state == SubscriptionState::Canceled {
                    self.deleted = true;
                }
                self.signal(created, 1, *state);
                if created >= self.plan_at {
                    self.plan_at = created;
                    self.plan = plan.clone().or(self.plan.take());
                    self.period = period.or(self.period);
                }
            }
            BillingChange::Invoice { subscription, paid } => {
                if self.id.as_deref() == Some(subscription.as_str()) {
                    self.invoice_signal(created, *paid);
                } else {
                    self.early_invoices
                        .insert((subscription.clone(), created, *paid));
                    while self.early_invoices.len() > 32 {
                        self.early_invoices.pop_first();
                    }
                }
            }
            BillingChange::PaymentMethod(card) => {
                if created >= self.card_at {
                    self.card_at = created;
                    self.card = Some(card.clone());
                }
            }
            BillingChange::Customer => {}
        }
    }

    fn invoice_signal(&mut self, at: i64, paid: bool) {
        let state = if paid {
            SubscriptionState::Active
        } else {
            SubscriptionState::PastDue
        };
        self.signal(at, 0, state);
    }

    fn signal(&mut self, at: i64, source: u8, state: SubscriptionState) {
        let candidate = (at, source, state);
        if self.signal.is_none_or(|s| candidate > s) {
            self.signal = Some(candidate);
        }
        if state.good() {
            self.good_at = self.good_at.max(at);
        }
        if state == SubscriptionState::PastDue {
            self.past_due_at.insert(at);
            // Bounded: a provider retries a failed payment a handful of times.
            while self.past_due_at.len() > 32 {
                self.past_due_at.pop_first();
            }
        }
    }

    /// `None` without a subscription (the default plan).
    pub fn state(&self) -> Option<SubscriptionState> {
        if self.deleted {
            return Some(SubscriptionState::Canceled);
        }
        self.signal.map(|s| s.2)
    }

    /// Since when it has been past due without a good signal after (epoch seconds).
    pub fn past_due_since(&self) -> Option<i64> {
        if self.state() != Some(SubscriptionState::PastDue) {
            return None;
        }
        self.past_due_at
            .iter()
            .find(|t| **t > self.good_at)
            .or(self.past_due_at.last())
            .copied()
    }
}

/// Whether a text holds what looks like a payment card number: 13 to 19 digits (spaces or
/// dashes between them allowed) passing the Luhn check.
pub fn contains_card_number(text: &str) -> bool {
    let mut digits: Vec<u8> = Vec::new();
    let check = |run: &mut Vec<u8>| {
        let hit = (13..=19).contains(&run.len()) && luhn(run);
        run.clear();
        hit
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(d) = c.to_digit(10) {
            digits.push(d as u8);
        } else if (c == ' ' || c == '-')
            && !digits.is_empty()
            && chars.peek().is_some_and(|n| n.is_ascii_digit())
        {
            // A separator inside a number.
        } else if check(&mut digits) {
            return true;
        }
    }
    check(&mut digits)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_plans_parse() {
        let c = BillingConfig::default();
        assert_eq!(c.plan_or_default(None).id, "free");
        assert_eq!(c.plan_or_default(Some("pro")).id, "pro");
        assert_eq!(c.plan_or_default(Some("gone")).id, "free");
        let rates = c.meta_rates.unwrap();
        assert_eq!(rates.rate(Some("BR"), "marketing"), Some(62_500));
        assert_eq!(rates.rate(Some("ZZ"), "marketing"), Some(25_000));
        assert!(
            BillingConfig::parse(r#"{"default_plan":"x","past_due_grace_days":1,"plans":[]}"#)
                .is_err()
        );
    }

    #[test]
    fn payment_links_are_https_urls() {
        let with = |link: &str| {
            let mut v: serde_json::Value = serde_json::from_str(DEFAULT_PLANS_JSON).unwrap();
            v["plans"][1]["checkout_url"] = serde_json::json!(link);
            BillingConfig::parse(&v.to_string())
        };
        let ok = with("https://buy.stripe.com/test_abc").unwrap();
        assert_eq!(
            ok.plan("starter").unwrap().checkout_url.as_deref(),
            Some("https://buy.stripe.com/test_abc")
        );
        assert!(with("http://buy.stripe.com/test_abc").is_err());
        assert!(with("javascript:alert(1)").is_err());
        assert!(with("buy.stripe.com").is_err());
    }

    #[test]
    fn card_numbers_are_found_with_or_without_separators() {
        assert!(contains_card_number("4242424242424242"));
        assert!(contains_card_number("card 4242 4242 4242 4242 thanks"));
        assert!(contains_card_number("5555-5555-5555-4444"));
        assert!(!contains_card_number("4242424242424241"), "not Luhn-valid");
        assert!(!contains_card_number("VAT GB123456789"));
        assert!(!contains_card_number("12 Baker Street, London NW1 6XE"));
        assert!(!contains_card_number("42424242424242424242424"), "too long");
    }

    fn sub(at: i64, state: SubscriptionState) -> (i64, BillingChange) {
        (
            at,
            BillingChange::Subscription {
                id: "sub_1".into(),
                started_at: 100,
                state,
                plan: Some("starter".into()),
                period: Some((100, 200)),
                deleted: state == SubscriptionState::Canceled,
            },
        )
    }

    fn invoice(at: i64, paid: bool) -> (i64, BillingChange) {
        (
            at,
            BillingChange::Invoice {
                subscription: "sub_1".into(),
                paid,
            },
        )
    }

    #[test]
    fn any_order_folds_to_the_same_state() {
        use SubscriptionState::*;
        let events = vec![
            sub(100, Trialing),
            sub(200, Active),
            invoice(200, true),
            invoice(300, false),
            sub(301, PastDue),
            invoice(350, false),
            invoice(400, true),
            sub(400, Active),
        ];
        let fold = |order: &[(i64, BillingChange)]| {
            let mut s = Subscription::default();
            for (at, c) in order {
                s.apply(*at, c);
            }
            s
        };
        let expected = fold(&events);
        assert_eq!(expected.state(), Some(Active));
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(fold(&reversed).state(), expected.state());
        // An invoice that overtakes its subscription's first event still counts.
        let early = [invoice(300, false), sub(100, Trialing), sub(200, Active)];
        assert_eq!(fold(&early).state(), Some(PastDue));
        // Up to the failure: past due since its first signal.
        let s = fold(&events[..6]);
        assert_eq!(s.state(), Some(PastDue));
        assert_eq!(s.past_due_since(), Some(300));
        // Deletion is final, whatever comes after it.
        let mut with_end = events.clone();
        with_end.push(sub(500, Canceled));
        with_end.push(invoice(600, true));
        assert_eq!(fold(&with_end).state(), Some(Canceled));
        with_end.reverse();
        assert_eq!(fold(&with_end).state(), Some(Canceled));
    }
}
