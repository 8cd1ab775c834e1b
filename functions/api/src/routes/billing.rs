use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{
    month_of, parse_month, AccountId, Card, Plan, SubscriptionState, Timestamp, Usage,
};
use shared::http::{ApiJson, ApiQuery, Problem};
use shared::payments::{Address, BillingDetails, DetailsChanges};
use shared::services::billing::Billing;
use shared::services::{App, ServiceError};

use crate::Caller;

#[derive(Serialize)]
pub struct BillingView {
    plan: Plan,
    /// `null` without a subscription: the default plan applies.
    subscription_state: Option<SubscriptionState>,
    sending_allowed: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    grace_until: Option<Timestamp>,
    current_period: Option<PeriodView>,
    allowance: AllowanceView,
    contacts: ContactsView,
    payment_method: Option<Card>,
    billing_details: BillingDetails,
}

#[derive(Serialize)]
pub struct PeriodView {
    #[serde(with = "time::serde::rfc3339")]
    start: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    end: Timestamp,
}

#[derive(Serialize)]
pub struct AllowanceView {
    /// The calendar month (UTC) it counts in.
    month: String,
    included_template_messages: u64,
    used: u64,
    left: u64,
    /// Whether sending goes on past the allowance (billed as overage).
    overage: bool,
}

/// Contacts held against the plan's limit (past it, creating contacts answers 402).
#[derive(Serialize)]
pub struct ContactsView {
    held: u64,
    limit: u64,
}

impl BillingView {
    /// The view of `b`, with the contacts the account holds.
    async fn of(app: &App, account: &AccountId, b: Billing) -> Result<Self, Problem> {
        let held = app.contacts_held(account).await?;
        let left = b.allowance_left();
        Ok(Self {
            contacts: ContactsView {
                held,
                limit: b.plan.contacts,
            },
            allowance: AllowanceView {
                month: b.month,
                included_template_messages: b.plan.included_template_messages,
                used: b.templates_used,
                left,
                overage: b.plan.overage.is_some(),
            },
            subscription_state: b.state,
            sending_allowed: b.sending_allowed,
            grace_until: b.grace_until,
            current_period: b.period.map(|(start, end)| PeriodView { start, end }),
            payment_method: b.card,
            billing_details: b.details,
            plan: b.plan,
        })
    }
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
) -> Result<Json<BillingView>, Problem> {
    let billing = app.billing(&me.account_id).await?;
    Ok(Json(BillingView::of(&app, &me.account_id, billing).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// `YYYY-MM`; the current month by default.
    period: Option<String>,
}

pub async fn usage(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Json<Usage>, Problem> {
    let month = match params.period {
        Some(p) => parse_month(&p)
            .ok_or_else(|| ServiceError::invalid("period", "must be a month like 2026-11"))?,
        None => month_of(shared::domain::now()),
    };
    Ok(Json(app.usage(&me.account_id, &month).await?))
}

/// Corrections of the billing details; `null` clears a field. There is no card field: cards
/// are entered at the payment provider's checkout.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailsPatch {
    #[serde(default, deserialize_with = "shared::http::nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::nullable")]
    address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "shared::http::nullable")]
    tax_id: Option<Option<String>>,
}

pub async fn update_details(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<DetailsPatch>,
) -> Result<Json<BillingView>, Problem> {
    let trim = |v: Option<Option<String>>| v.map(|v| v.map(|s| s.trim().to_owned()));
    let changes = DetailsChanges {
        name: trim(req.name),
        address: req.address,
        tax_id: trim(req.tax_id),
    };
    let billing = app.update_billing_details(&me, changes).await?;
    Ok(Json(BillingView::of(&app, &me.account_id, billing).await?))
}
