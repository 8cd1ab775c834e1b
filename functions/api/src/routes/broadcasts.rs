use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use shared::domain::{
    Audience, BroadcastId, ContactField, ParameterSlot, Personalization, PhoneNumberId, Tag,
    Timestamp, MAX_LISTED_CONTACTS,
};
use shared::graph::messages::{Content, Template};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::{App, Fields, NewBroadcast};
use shared::views::{BroadcastView, RecipientView};

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
    /// Template parameters filled from each contact.
    #[serde(default)]
    personalization: Vec<PersonalizationRequest>,
    recipients: Recipients,
    /// Starts at this time (RFC 3339) instead of now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    send_at: Option<Timestamp>,
}

/// `{"component": "body", "position": 1, "field": "name", "fallback": "there"}`; a button's
/// parameter is named by the button's `index`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalizationRequest {
    component: String,
    position: Option<usize>,
    index: Option<usize>,
    field: String,
    fallback: String,
}

fn personalization(
    f: &mut Fields,
    raw: Vec<PersonalizationRequest>,
) -> Option<Vec<Personalization>> {
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let slot = match (r.component.as_str(), r.position, r.index) {
            ("header", Some(n), None) if n >= 1 => Some(ParameterSlot::Header(n)),
            ("body", Some(n), None) if n >= 1 => Some(ParameterSlot::Body(n)),
            ("button", None, Some(i)) => Some(ParameterSlot::Button(i)),
            _ => {
                f.fail(
                    "personalization",
                    "component is header or body with a position (from 1), or button with an index",
                );
                None
            }
        };
        let field = f.check("personalization", ContactField::parse(&r.field));
        out.push(Personalization {
            slot: slot?,
            field: field?,
            fallback: r.fallback,
        });
    }
    Some(out)
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
    let personalization = personalization(&mut f, req.personalization);
    let new = f.finish(|| {
        Some(NewBroadcast {
            from: from?,
            template: req.template,
            personalization: personalization?,
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

pub async fn recipients(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<RecipientView>>, Problem> {
    let (list, next) = app
        .broadcast_recipients(
            &me.account_id,
            &broadcast_id(&id)?,
            page.limit()?,
            page.cursor()?,
        )
        .await?;
    Ok(Json(PageResponse::of(list, next)))
}

/// Rows in one CSV answer; a larger broadcast continues at the `Link` header's cursor.
pub const CSV_MAX_ROWS: usize = 50_000;

/// The recipients as CSV (`RecipientView::COLUMNS`), every page up to [`CSV_MAX_ROWS`] rows.
/// A broadcast's recipients as CSV, up to [`CSV_MAX_ROWS`] from `cursor`, and where the next
/// part starts (the API's download and the app's).
pub(crate) async fn recipients_csv_body(
    app: &App,
    account: &shared::domain::AccountId,
    id: &BroadcastId,
    mut cursor: Option<shared::ports::Cursor>,
) -> Result<(String, Option<shared::ports::Cursor>), shared::services::ServiceError> {
    use shared::services::imports::csv::csv_cell;
    let mut out = RecipientView::COLUMNS.join(",");
    out.push('\n');
    let mut rows = 0;
    loop {
        let (list, next) = app
            .broadcast_recipients(account, id, PageParams::MAX_LIMIT, cursor)
            .await?;
        rows += list.len();
        for r in list {
            let cells: Vec<String> = RecipientView::from(r)
                .cells()
                .iter()
                .map(|c| csv_cell(c))
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        cursor = next;
        if cursor.is_none() || rows >= CSV_MAX_ROWS {
            return Ok((out, cursor));
        }
    }
}

/// The headers of a recipients CSV download.
pub(crate) fn csv_headers(id: &BroadcastId) -> Vec<(header::HeaderName, String)> {
    vec![
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"broadcast-{id}-recipients.csv\""),
        ),
    ]
}

pub async fn recipients_csv(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, Problem> {
    let id = broadcast_id(&id)?;
    let (out, next) = recipients_csv_body(&app, &me.account_id, &id, page.cursor()?).await?;
    let mut headers = csv_headers(&id);
    if let Some(next) = next {
        headers.push((
            header::LINK,
            format!(
                "</v1/broadcasts/{id}/recipients.csv?cursor={}>; rel=\"next\"",
                next.encode()
            ),
        ));
    }
    let mut response = out.into_response();
    for (name, value) in headers {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}
