//! Payment-provider webhooks in Stripe's format: the `Stripe-Signature` check and the events
//! that drive an account's subscription, read into [`PaymentEvent`]s. Only what we keep is
//! read: a card's brand, last four digits and expiry — there is no field for its number.

pub mod signature;

use serde_json::Value;

use crate::domain::{BillingChange, Card, SubscriptionState};

/// Largest event we take (Stripe's are a few KB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The billing address as the provider or the account holder gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

impl Address {
    pub fn fields(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("line1", self.line1.as_deref()),
            ("line2", self.line2.as_deref()),
            ("city", self.city.as_deref()),
            ("postal_code", self.postal_code.as_deref()),
            ("state", self.state.as_deref()),
            ("country", self.country.as_deref()),
        ]
    }
}

/// The account holder's billing name, address and tax id (sealed where stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BillingDetails {
    pub name: Option<String>,
    pub address: Option<Address>,
    pub tax_id: Option<String>,
}

/// A correction of the billing details; `Some(None)` clears a field.
#[derive(Clone, Debug, Default)]
pub struct DetailsChanges {
    pub name: Option<Option<String>>,
    pub address: Option<Option<Address>>,
    pub tax_id: Option<Option<String>>,
}

/// One event, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentEvent {
    pub id: String,
    pub kind: String,
    /// Epoch seconds.
    pub created: i64,
    /// The provider's customer id, when the event names one.
    pub customer: Option<String>,
    /// `metadata.account_id`, set when checkout started.
    pub account_hint: Option<String>,
    /// What it changes; `None` for event types we do not act on.
    pub change: Option<BillingChange>,
    /// `customer.updated`: the billing name and address.
    pub billing: Option<(Option<String>, Option<Address>)>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a payment event: {0}")]
pub struct EventError(pub String);

impl PaymentEvent {
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| EventError(e.to_string()))?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let id = text(&v, "id").ok_or_else(|| EventError("no id".into()))?;
        let kind = text(&v, "type").ok_or_else(|| EventError("no type".into()))?;
        let created = v
            .get("created")
            .and_then(Value::as_i64)
            .ok_or_else(|| EventError("no created".into()))?;
        let object = v
            .pointer("/data/object")
            .filter(|o| o.is_object())
            .ok_or_else(|| EventError("no data.object".into()))?;
        let customer = match kind.as_str() {
            "customer.updated" => text(object, "id"),
            _ => id_of(object.get("customer")),
        };
        let mut event = PaymentEvent {
            id,
            kind: kind.clone(),
            created,
            customer,
            account_hint: object
                .pointer("/metadata/account_id")
                .or_else(|| object.pointer("/subscription_details/metadata/account_id"))
                .or_else(|| object.pointer("/parent/subscription_details/metadata/account_id"))
                // A checkout the app started through a plan's checkout link.
                .or_else(|| object.get("client_reference_id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            change: None,
            billing: None,
        };
        match kind.as_str() {
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                let status = text(object, "status").unwrap_or_default();
                let state = SubscriptionState::from_stripe(&status)
                    .ok_or_else(|| EventError(format!("unknown subscription status {status}")))?;
                let item = object.pointer("/items/data/0");
                let at = |k: &str| {
                    object
                        .get(k)
                        .or_else(|| item.and_then(|i| i.get(k)))
                        .and_then(Value::as_i64)
                };
                event.change = Some(BillingChange::Subscription {
                    id: text(object, "id")
                        .ok_or_else(|| EventError("no subscription id".into()))?,
                    started_at: object
                        .get("created")
                        .and_then(Value::as_i64)
                        .unwrap_or(created),
                    state,
                    plan: item
                        .and_then(|i| i.pointer("/price/lookup_key"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    period: at("current_period_start").zip(at("current_period_end")),
                    deleted: kind == "customer.subscription.deleted",
                });
            }
            "invoice.paid" | "invoice.payment_failed" => {
                let subscription = id_of(object.get("subscription"))
                    .or_else(|| id_of(object.pointer("/parent/subscription_details/subscription")));
                let amount = object
                    .get("amount_paid")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let paid = kind == "invoice.paid";
                // A zero invoice (a trial's) says nothing about payment.
                if let Some(subscription) = subscription.filter(|_| !paid || amount > 0) {
                    event.change = Some(BillingChange::Invoice { subscription, paid });
                }
            }
            "payment_method.attached" => {
                let card = object
                    .get("card")
                    .ok_or_else(|| EventError("a payment method without a card".into()))?;
                let num = |k: &str| card.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
                let last4 = text(card, "last4").unwrap_or_default();
                if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(EventError("card.last4 is not four digits".into()));
                }
                event.change = Some(BillingChange::PaymentMethod(Card {
                    brand: text(card, "brand")
                        .unwrap_or_else(|| "unknown".into())
                        .chars()
                        .take(20)
                        .collect(),
                    last4,
                    exp_month: num("exp_month"),
                    exp_year: num("exp_year"),
                }));
            }
            // Links the provider's customer to the account the checkout was started for; the
            // subscription's own events carry its state.
            "checkout.session.completed" if event.customer.is_some() => {
                event.change = Some(BillingChange::Customer);
            }
            "customer.updated" => {
                let address = object
                    .get("address")
                    .filter(|a| a.is_object())
                    .map(|a| Address {
                        line1: text(a, "line1"),
                        line2: text(a, "line2"),
                        city: text(a, "city"),
                        postal_code: text(a, "postal_code"),
                        state: text(a, "state"),
                        country: text(a, "country"),
                    });
                event.billing = Some((text(object, "name"), address));
                event.change = Some(BillingChange::Customer);
            }
            _ => {}
        }
        Ok(event)
    }
}

/// An id field that may be a string or an expanded object with an `id`.
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}
