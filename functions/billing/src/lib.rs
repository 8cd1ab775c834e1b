//! Payment-provider webhooks (`POST /billing/webhook`, Stripe's format): one axum [`Router`]
//! that the Lambda runs with `lambda_http` and the local runner serves beside the API.
//!
//! The `Stripe-Signature` is checked before the body is read as an event; a bad or stale one
//! is a 400 and changes nothing. A verified event is applied once (by its id) and answered
//! 200; one whose account is not linked yet is answered 404, so the provider delivers it again
//! (for up to 3 days) once an earlier event has linked its customer.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use bytes::Bytes;
use shared::http::{Problem, ProblemType, RouteTable};
use shared::payments::signature::{self, HEADER};
use shared::payments::{PaymentEvent, MAX_EVENT_BYTES};
use shared::services::billing::EventOutcome;
use shared::services::App;
use shared::webhook::signature::AppSecrets;

/// Every route of the billing function as (method, path).
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    table().served().to_vec()
}

/// The endpoint secrets events are signed with: the current one and, during a rotation, the
/// previous one.
#[derive(Clone, Debug)]
pub struct BillingWebhookConfig {
    pub secrets: AppSecrets,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is not set")]
pub struct ConfigError(&'static str);

impl BillingWebhookConfig {
    /// `None` if the secret is empty.
    pub fn new(secret: &str) -> Option<Self> {
        Some(Self {
            secrets: AppSecrets::new(secret, None)?,
        })
    }

    /// `WHATATALK_BILLING_SECRET` (and, during a rotation, `WHATATALK_BILLING_SECRET_PREVIOUS`).
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let current =
            var("WHATATALK_BILLING_SECRET").ok_or(ConfigError("WHATATALK_BILLING_SECRET"))?;
        let previous = var("WHATATALK_BILLING_SECRET_PREVIOUS");
        Ok(Self {
            secrets: AppSecrets::new(&current, previous.as_deref())
                .ok_or(ConfigError("WHATATALK_BILLING_SECRET"))?,
        })
    }
}

struct Billing {
    app: Arc<App>,
    config: BillingWebhookConfig,
}

/// The billing webhook with the standard layers.
pub fn router(app: Arc<App>, config: BillingWebhookConfig) -> Router {
    shared::http::standard_layers(routes(app, config), MAX_EVENT_BYTES)
}

/// The routes alone, for a runner that layers several functions' routes together.
pub fn routes(app: Arc<App>, config: BillingWebhookConfig) -> Router {
    table()
        .into_router()
        .with_state(Arc::new(Billing { app, config }))
}

fn table() -> RouteTable<Arc<Billing>> {
    RouteTable::new().post_limited("/billing/webhook", receive, MAX_EVENT_BYTES)
}

async fn receive(
    State(billing): State<Arc<Billing>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(ProblemType::PayloadTooLarge)
        } else {
            Problem::new(ProblemType::MalformedRequest)
        }
    })?;
    let header = headers.get(HEADER).and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = signature::verify(&billing.config.secrets, header, &body, now) {
        tracing::warn!(reason = %e, "billing event signature refused");
        return Err(Problem::new(ProblemType::BillingSignatureInvalid).with_detail(e.to_string()));
    }
    let event = PaymentEvent::parse(&body).map_err(|e| {
        tracing::warn!(error = %e, "billing event not understood");
        Problem::new(ProblemType::MalformedRequest).with_detail(e.to_string())
    })?;
    match billing.app.apply_payment_event(&event).await? {
        EventOutcome::UnknownAccount => Err(Problem::not_found().with_detail(
            "No account is linked to this event's customer yet; deliver it again later.",
        )),
        outcome => {
            tracing::info!(event_type = %event.kind, outcome = ?outcome, "billing event handled");
            Ok(StatusCode::OK)
        }
    }
}
