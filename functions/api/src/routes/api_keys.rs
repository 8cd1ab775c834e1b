use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{ApiKeyId, ApiKeyName};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::{App, Fields};
use shared::views::ApiKeyView;

use crate::{created, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    name: String,
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    key: ApiKeyView,
    /// Shown once: only its hash is kept.
    api_key: String,
}

pub async fn create(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, Problem> {
    let mut f = Fields::new();
    let name = f.check("name", ApiKeyName::parse(&req.name));
    let name = f.finish(|| name)?;
    let (key, secret) = app.create_api_key(&me, name).await?;
    let location = format!("/v1/api-keys/{}", key.id);
    let body = Created {
        key: key.into(),
        api_key: secret.expose().to_owned(),
    };
    Ok(created(location, body))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<ApiKeyView>>, Problem> {
    let (keys, next) = app
        .api_keys(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(keys, next)))
}

pub async fn revoke(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(key_id): Path<String>,
) -> Result<StatusCode, Problem> {
    // An id that does not parse names no key of ours: the same 404 as any other.
    let key_id: ApiKeyId = key_id.parse().map_err(|_| Problem::not_found())?;
    app.revoke_api_key(&me, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
