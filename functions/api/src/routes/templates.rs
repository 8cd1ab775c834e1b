//! Message templates of the WABAs the account's numbers are under: listed and read from our
//! copy, synced, created, edited and deleted at Meta.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use shared::domain::{LanguageCode, TemplateCategory, TemplateId, TemplateName, WabaId};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::{App, Fields, NewTemplate, SyncReport, TemplateFilter};
use shared::views::TemplateView;

use crate::{created, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
    waba_id: Option<String>,
    /// Every language of this name (needs `waba_id`).
    name: Option<String>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<PageResponse<TemplateView>>, Problem> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let mut f = Fields::new();
    let waba = q.waba_id.map(|w| f.check("waba_id", WabaId::parse(&w)));
    let name = q.name.map(|n| f.check("name", TemplateName::parse(&n)));
    if name.is_some() && waba.is_none() {
        f.fail("name", "give waba_id with name");
    }
    let filter = f.finish(|| {
        Some(TemplateFilter {
            waba_id: Fields::given(waba)?,
            name: Fields::given(name)?,
        })
    })?;
    let (templates, next) = app
        .templates(&me.account_id, &filter, limit, cursor)
        .await?;
    Ok(Json(PageResponse::of(templates, next)))
}

/// An id that does not parse names no template of ours: the same 404 as any other.
fn template_id(raw: &str) -> Result<TemplateId, Problem> {
    TemplateId::parse(raw).map_err(|_| Problem::not_found())
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<TemplateView>, Problem> {
    let t = app.template(&me.account_id, &template_id(&id)?).await?;
    Ok(Json(t.into()))
}

pub async fn sync(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
) -> Result<Json<SyncReport>, Problem> {
    Ok(Json(app.sync_templates(&me.account_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    waba_id: String,
    name: String,
    language: String,
    category: String,
    components: Vec<Value>,
    /// `positional` (Meta's default) or `named`.
    parameter_format: Option<String>,
}

pub async fn create(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, Problem> {
    let mut f = Fields::new();
    let waba_id = f.check("waba_id", WabaId::parse(&req.waba_id));
    let name = f.check("name", TemplateName::parse(&req.name));
    let language = f.check("language", LanguageCode::parse(&req.language));
    let category = f.check("category", TemplateCategory::parse(&req.category));
    f.check(
        "components",
        shared::domain::check_components(&req.components),
    );
    let format = match req.parameter_format.as_deref() {
        None => Some(None),
        Some(p @ ("positional" | "named")) => Some(Some(p.to_owned())),
        Some(_) => {
            f.fail("parameter_format", "positional or named");
            None
        }
    };
    let new = f.finish(|| {
        Some(NewTemplate {
            waba_id: waba_id?,
            name: name?,
            language: language?,
            category: category?,
            components: req.components,
            parameter_format: format?,
        })
    })?;
    let t = app.create_template(&me.account_id, new).await?;
    Ok(created(
        format!("/v1/templates/{}", t.id),
        TemplateView::from(t),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    components: Option<Vec<Value>>,
    category: Option<String>,
}

pub async fn update(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<TemplateView>, Problem> {
    let id = template_id(&id)?;
    // Another tenant's id is a 404 whatever the body says.
    app.template(&me.account_id, &id).await?;
    let mut f = Fields::new();
    if req.components.is_none() && req.category.is_none() {
        f.fail("components", "give components, category or both");
    }
    if let Some(c) = &req.components {
        f.check("components", shared::domain::check_components(c));
    }
    let category = req
        .category
        .map(|c| f.check("category", TemplateCategory::parse(&c)));
    let category = f.finish(|| Fields::given(category))?;
    let t = app
        .edit_template(&me.account_id, &id, req.components, category)
        .await?;
    Ok(Json(t.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// Deletes every language of the template's name, as Meta's delete by name does.
    every_language: Option<bool>,
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeleteParams>,
) -> Result<StatusCode, Problem> {
    let id = template_id(&id)?;
    app.delete_template(&me.account_id, &id, q.every_language.unwrap_or(false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
