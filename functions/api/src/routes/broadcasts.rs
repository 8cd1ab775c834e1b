use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{BroadcastId, PhoneNumberId, Tag, Timestamp};
use shared::graph::messages::{Content, Template};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::broadcasts::MAX_LISTED_CONTACTS;
use shared::services::{
    App, Audience, Broadcast, BroadcastCounts, BroadcastStatus, Fields, NewBroadcast,
};

use crate::{created, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    tags: Option<Vec<String>>,
    contact_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    from: String,
    template: Template,
    recipients: Recipients,
    /// Starts at this time (RFC 3339) instead of now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    send_at: Option<Timestamp>,
}

#[derive(Serialize)]
pub struct BroadcastView {
    id: String,
    from: String,
    template: Template,
    recipients: RecipientsView,
    status: BroadcastStatus,
    pause_reason: Option<String>,
    counts: BroadcastCounts,
    #[serde(with = "time::serde::rfc3339::option")]
    send_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<Timestamp>,
}

#[derive(Serialize)]
pub struct RecipientsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_ids: Option<Vec<String>>,
}

impl From<Broadcast> for BroadcastView {
    fn from(b: Broadcast) -> Self {
        let recipients = match b.audience {
            Audience::Tags(t) => RecipientsView {
                tags: Some(t.iter().map(|t| t.as_str().to_owned()).collect()),
                contact_ids: None,
            },
            Audience::Contacts(c) => RecipientsView {
                tags: None,
                contact_ids: Some(c.iter().map(ToString::to_string).collect()),
            },
        };
        Self {
            id: b.id.to_string(),
            from: b.from.to_string(),
            template: b.template,
            recipients,
            status: b.status,
            pause_reason: b.pause_reason,
            counts: b.counts,
            send_at: b.send_at,
            created_at: b.created_at,
            started_at: b.started_at,
            finished_at: b.finished_at,
        }
    }
}

pub async fn create(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, Problem> {
    let mut f = Fields::new();
    let from = f.check("from", PhoneNumberId::parse(&req.from));
    let content = Content::Template {
        template: req.template.clone(),
    };
    f.check("template", content.check());
    let audience = match (req.recipients.tags, req.recipients.contact_ids) {
        (Some(tags), None) if !tags.is_empty() => {
            let parsed: Option<Vec<Tag>> = tags
                .iter()
                .map(|t| f.check("recipients.tags", Tag::parse(t)))
                .collect();
            parsed.map(Audience::Tags)
        }
        (None, Some(ids)) if !ids.is_empty() && ids.len() <= MAX_LISTED_CONTACTS => {
            let parsed: Option<Vec<_>> = ids
                .iter()
                .map(|c| f.check("recipients.contact_ids", c.parse()))
                .collect();
            parsed.map(Audience::Contacts)
        }
        _ => {
            f.fail(
                "recipients",
                &format!("give either tags or contact_ids (1 to {MAX_LISTED_CONTACTS}), not both"),
            );
            None
        }
    };
    let new = f.finish(|| {
        Some(NewBroadcast {
            from: from?,
            template: req.template,
            audience: audience?,
            send_at: req.send_at,
        })
    })?;
    let b = app.create_broadcast(&me.account_id, new).await?;
    Ok(created(
        format!("/v1/broadcasts/{}", b.id),
        BroadcastView::from(b),
    ))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<BroadcastView>>, Problem> {
    let (list, next) = app
        .broadcasts(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(list, next)))
}

fn broadcast_id(raw: &str) -> Result<BroadcastId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<BroadcastView>, Problem> {
    Ok(Json(
        app.broadcast(&me.account_id, &broadcast_id(&id)?)
            .await?
            .into(),
    ))
}

pub async fn pause(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<BroadcastView>, Problem> {
    let b = app
        .pause_broadcast(&me.account_id, &broadcast_id(&id)?, "paused by the account")
        .await?;
    Ok(Json(b.into()))
}

pub async fn resume(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<BroadcastView>, Problem> {
    Ok(Json(
        app.resume_broadcast(&me.account_id, &broadcast_id(&id)?)
            .await?
            .into(),
    ))
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<BroadcastView>, Problem> {
    Ok(Json(
        app.cancel_broadcast(&me.account_id, &broadcast_id(&id)?)
            .await?
            .into(),
    ))
}
