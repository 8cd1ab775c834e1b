use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use shared::domain::{Audience, BroadcastId, PhoneNumberId, Tag, Timestamp, MAX_LISTED_CONTACTS};
use shared::graph::messages::{Content, Template};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::{App, Fields, NewBroadcast};
use shared::views::BroadcastView;

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
