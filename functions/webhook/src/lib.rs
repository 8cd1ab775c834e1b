//! Meta's webhook (`GET|POST /webhook`): one axum [`Router`] that the Lambda runs with
//! `lambda_http` and the local runner serves beside the API.
//!
//! `GET` is the subscription handshake. `POST` is checked against `X-Hub-Signature-256`
//! before anything reads the body, then ingested; 200 means durably accepted, anything else
//! makes Meta deliver it again (for up to 7 days).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use serde::Deserialize;
use shared::http::{Problem, ProblemType, RouteTable};
use shared::services::App;
use shared::webhook::signature::{AppSecrets, HEADER};
use shared::webhook::MAX_PAYLOAD_BYTES;
use subtle::ConstantTimeEq;

/// Every route of the webhook function as (method, path).
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    table().served().to_vec()
}

/// What the webhook checks requests against.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub secrets: AppSecrets,
    /// The token Meta echoes in the subscription handshake.
    pub verify_token: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is not set")]
pub struct ConfigError(&'static str);

impl WebhookConfig {
    /// One app secret (no rotation under way) and the verify token; `None` if either is empty.
    pub fn new(app_secret: &str, verify_token: &str) -> Option<Self> {
        (!verify_token.is_empty()).then_some(())?;
        Some(Self {
            secrets: AppSecrets::new(app_secret, None)?,
            verify_token: verify_token.to_owned(),
        })
    }

    /// `WHATATALK_APP_SECRET` (and, during a rotation, `WHATATALK_APP_SECRET_PREVIOUS`) and
    /// `WHATATALK_VERIFY_TOKEN`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let current = var("WHATATALK_APP_SECRET").ok_or(ConfigError("WHATATALK_APP_SECRET"))?;
        let previous = var("WHATATALK_APP_SECRET_PREVIOUS");
        Ok(Self {
            secrets: AppSecrets::new(&current, previous.as_deref())
                .ok_or(ConfigError("WHATATALK_APP_SECRET"))?,
            verify_token: var("WHATATALK_VERIFY_TOKEN")
                .ok_or(ConfigError("WHATATALK_VERIFY_TOKEN"))?,
        })
    }
}

struct Webhook {
    app: Arc<App>,
    config: WebhookConfig,
}

/// The webhook with the standard layers (request logs, panics as problems, body limit).
pub fn router(app: Arc<App>, config: WebhookConfig) -> Router {
    shared::http::standard_layers(routes(app, config), MAX_PAYLOAD_BYTES)
}

/// The webhook's routes alone, for a runner that layers several functions' routes together;
/// they carry their own body limit.
pub fn routes(app: Arc<App>, config: WebhookConfig) -> Router {
    let routes = table()
        .into_router()
        .with_state(Arc::new(Webhook { app, config }));
    // Three calls a message: accepted ones log no access line at info, refusals do.
    shared::http::quiet_when_ok(routes)
}

fn table() -> RouteTable<Arc<Webhook>> {
    RouteTable::new()
        .get("/webhook", verify)
        .post_limited("/webhook", receive, MAX_PAYLOAD_BYTES)
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn verify(
    State(hook): State<Arc<Webhook>>,
    query: Result<Query<Handshake>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let refused = || Problem::new(ProblemType::VerificationFailed);
    let Query(h) = query.map_err(|_| refused())?;
    let token_ok = h
        .verify_token
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(hook.config.verify_token.as_bytes())));
    match (h.mode.as_deref(), token_ok, h.challenge) {
        (Some("subscribe"), true, Some(challenge)) => {
            tracing::info!("webhook subscription verified");
            Ok((
                [(axum::http::header::CONTENT_TYPE, "text/plain")],
                challenge,
            ))
        }
        _ => {
            tracing::warn!("webhook verification refused");
            Err(refused())
        }
    }
}

async fn receive(
    State(hook): State<Arc<Webhook>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(ProblemType::PayloadTooLarge).with_detail(format!(
                "Webhook payloads are at most {MAX_PAYLOAD_BYTES} bytes."
            ))
        } else {
            Problem::new(ProblemType::MalformedRequest)
        }
    })?;
    let signature = headers.get(HEADER).map(|v| v.as_bytes());
    if let Err(e) = hook.config.secrets.verify(signature, &body) {
        tracing::warn!(reason = %e, "webhook signature refused");
        return Err(Problem::new(ProblemType::SignatureInvalid));
    }
    let report = hook.app.ingest_webhook(&body).await?;
    // The metrics line below carries these counts at INFO cost; the event is for debugging
    // (three status webhooks a message made it half of all log bytes).
    tracing::debug!(
        messages = report.messages,
        statuses = report.statuses,
        duplicates = report.duplicates,
        pending = report.pending,
        preferences = report.preferences,
        notices = report.notices,
        ignored = report.ignored,
        unknown_number = report.unknown_number,
        dead_letters = report.dead_letters,
        "webhook ingested"
    );
    shared::metrics::counts(
        &[
            ("webhook_messages", u64::from(report.messages)),
            ("webhook_statuses", u64::from(report.statuses)),
            ("webhook_duplicates", u64::from(report.duplicates)),
            ("webhook_pending", u64::from(report.pending)),
            ("webhook_preferences", u64::from(report.preferences)),
            ("webhook_notices", u64::from(report.notices)),
            ("webhook_ignored", u64::from(report.ignored)),
            ("webhook_unknown_number", u64::from(report.unknown_number)),
            ("webhook_dead_letters", u64::from(report.dead_letters)),
        ],
        &[],
    );
    Ok(StatusCode::OK)
}
