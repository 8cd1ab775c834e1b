//! Webhook endpoints: where the account's own events go, their secrets, their deliveries.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{parse_description, Endpoint, EndpointId, EndpointUrl, EventId, EventTypes};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::records::endpoint::{Attempt, Delivery, DeliveryState};
use shared::services::events::{EndpointChanges, NewEndpoint, DEFAULT_OVERLAP};
use shared::services::{App, Fields};

use crate::{created, Caller};

#[derive(Serialize)]
pub struct EndpointView {
    id: String,
    url: String,
    description: String,
    events: Vec<&'static str>,
    enabled: bool,
    /// Why it gets no events: `manual`, `gone` (it answered 410) or `failing`.
    disabled_reason: Option<&'static str>,
    #[serde(with = "time::serde::rfc3339::option")]
    previous_secret_expires_at: Option<shared::domain::Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: shared::domain::Timestamp,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.to_string(),
            description: e.description,
            events: e.events.iter().map(|t| t.as_str()).collect(),
            enabled: e.disabled.is_none(),
            disabled_reason: e.disabled.map(|d| d.as_str()),
            previous_secret_expires_at: e.previous_secret_until,
            created_at: e.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    url: String,
    #[serde(default)]
    description: String,
    events: Vec<String>,
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// Shown once: verify each event's `webhook-signature` with it.
    secret: String,
}

fn endpoint_id(raw: &str) -> Result<EndpointId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

fn event_types(f: &mut Fields, names: &[String]) -> Option<EventTypes> {
    f.check(
        "events",
        EventTypes::parse(names.iter().map(String::as_str)),
    )
}

pub async fn create(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, Problem> {
    let mut f = Fields::new();
    let url = f.check("url", EndpointUrl::parse(&req.url));
    let description = f.check("description", parse_description(&req.description));
    let events = event_types(&mut f, &req.events);
    let new = f.finish(|| {
        Some(NewEndpoint {
            url: url?,
            description: description?,
            events: events?,
        })
    })?;
    let (endpoint, secret) = app.create_endpoint(&me, new).await?;
    let location = format!("/v1/webhook-endpoints/{}", endpoint.id);
    Ok(created(
        location,
        Created {
            endpoint: endpoint.into(),
            secret: secret.expose().to_owned(),
        },
    ))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
) -> Result<Json<PageResponse<EndpointView>>, Problem> {
    let endpoints = app.endpoints(&me).await?;
    Ok(Json(PageResponse::of(endpoints, None)))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, Problem> {
    let endpoint = app.endpoint(&me, &endpoint_id(&id)?).await?;
    Ok(Json(endpoint.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    url: Option<String>,
    description: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

pub async fn update(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<EndpointView>, Problem> {
    let id = endpoint_id(&id)?;
    let mut f = Fields::new();
    let url = req
        .url
        .as_deref()
        .map(|u| f.check("url", EndpointUrl::parse(u)));
    let description = req
        .description
        .as_deref()
        .map(|d| f.check("description", parse_description(d)));
    let events = req.events.as_deref().map(|e| event_types(&mut f, e));
    let changes = f.finish(|| {
        Some(EndpointChanges {
            url: Fields::given(url)?,
            description: Fields::given(description)?,
            events: Fields::given(events)?,
            enabled: req.enabled,
        })
    })?;
    let endpoint = app.update_endpoint(&me, &id, changes).await?;
    Ok(Json(endpoint.into()))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.delete_endpoint(&me, &endpoint_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the current secret goes on signing beside the new one (default a day).
    overlap_seconds: Option<u64>,
}

#[derive(Serialize)]
pub struct Rotated {
    /// Shown once.
    secret: String,
    #[serde(with = "time::serde::rfc3339")]
    previous_secret_expires_at: shared::domain::Timestamp,
}

pub async fn rotate_secret(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RotateRequest>,
) -> Result<Json<Rotated>, Problem> {
    let id = endpoint_id(&id)?;
    let overlap = req
        .overlap_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_OVERLAP);
    let secret = app.rotate_endpoint_secret(&me, &id, overlap).await?;
    let endpoint = app.endpoint(&me, &id).await?;
    Ok(Json(Rotated {
        secret: secret.expose().to_owned(),
        previous_secret_expires_at: endpoint
            .previous_secret_until
            .unwrap_or_else(shared::domain::now),
    }))
}

#[derive(Serialize)]
pub struct Queued {
    event_id: String,
}

pub async fn test(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Queued>), Problem> {
    let event = app.test_endpoint(&me, &endpoint_id(&id)?).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            event_id: event.to_string(),
        }),
    ))
}

#[derive(Serialize)]
pub struct AttemptView {
    #[serde(with = "time::serde::rfc3339")]
    at: shared::domain::Timestamp,
    status_code: Option<u16>,
    latency_ms: u64,
    /// The first 256 bytes of the answer, or why there was none.
    answer: String,
}

#[derive(Serialize)]
pub struct DeliveryView {
    event_id: String,
    event_type: &'static str,
    state: DeliveryState,
    #[serde(with = "time::serde::rfc3339")]
    first_attempt_at: shared::domain::Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<shared::domain::Timestamp>,
    attempts: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            event_id: d.event_id.to_string(),
            event_type: d.event_type.as_str(),
            state: d.state,
            first_attempt_at: d.first_at,
            next_attempt_at: d.next_at,
            attempts: d
                .attempts
                .into_iter()
                .map(|a: Attempt| AttemptView {
                    at: a.at,
                    status_code: a.status,
                    latency_ms: a.latency_ms,
                    answer: a.answer,
                })
                .collect(),
        }
    }
}

pub async fn deliveries(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<DeliveryView>>, Problem> {
    let (list, next) = app
        .deliveries(&me, &endpoint_id(&id)?, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(list, next)))
}

pub async fn replay_one(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path((id, event)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let event: EventId = event.parse().map_err(|_| Problem::not_found())?;
    app.replay_delivery(&me, &endpoint_id(&id)?, &event).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Failed deliveries of events at or after this time are delivered again.
    #[serde(with = "time::serde::rfc3339")]
    since: shared::domain::Timestamp,
}

#[derive(Serialize)]
pub struct Replayed {
    replayed: u64,
}

pub async fn replay_failed(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> Result<(StatusCode, Json<Replayed>), Problem> {
    let n = app
        .replay_failed(&me, &endpoint_id(&id)?, req.since)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed: n })))
}
