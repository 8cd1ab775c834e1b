use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use shared::domain::{Import, ImportCounts, ImportId, ImportStatus, Timestamp};
use shared::http::{ApiQuery, PageParams, PageResponse, Problem, ProblemType};
use shared::services::imports::rows::RowError;
use shared::services::App;

use crate::{created, Caller};

#[derive(Serialize)]
pub struct ImportView {
    id: String,
    status: ImportStatus,
    #[serde(flatten)]
    counts: ImportCounts,
    failure: Option<String>,
    errors_truncated: bool,
    /// The uploaded file's size in bytes, once the import is started.
    file_size: Option<u64>,
    /// Bytes of the file applied so far: `bytes_read / file_size` is the progress.
    bytes_read: u64,
    /// A short-lived link to the per-row error report (`row,column,reason`), once there is one.
    error_report_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<Timestamp>,
}

impl From<Import> for ImportView {
    fn from(i: Import) -> Self {
        Self {
            id: i.id.to_string(),
            status: i.status,
            counts: i.counts,
            failure: i.failure,
            errors_truncated: i.errors_truncated,
            file_size: i.file_size,
            bytes_read: i.bytes_read,
            error_report_url: None,
            created_at: i.created_at,
            started_at: i.started_at,
            finished_at: i.finished_at,
        }
    }
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    import: ImportView,
    /// PUT the file here, with `Content-Type: text/csv`, before it expires.
    upload_url: String,
    #[serde(with = "time::serde::rfc3339")]
    upload_expires_at: Timestamp,
}

#[derive(Serialize)]
pub struct RowErrorView {
    row: u64,
    column: String,
    reason: String,
}

impl From<RowError> for RowErrorView {
    fn from(e: RowError) -> Self {
        Self {
            row: e.row,
            column: e.column,
            reason: e.reason,
        }
    }
}

#[derive(Serialize)]
pub struct InlineView {
    #[serde(flatten)]
    counts: ImportCounts,
    errors: Vec<RowErrorView>,
    errors_truncated: bool,
}

fn import_id(raw: &str) -> Result<ImportId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

pub async fn create(State(app): State<Arc<App>>, Caller(me): Caller) -> Result<Response, Problem> {
    let (import, url, expires) = app.create_import(&me.account_id).await?;
    let location = format!("/v1/contacts/imports/{}", import.id);
    let body = Created {
        import: import.into(),
        upload_url: url.to_string(),
        upload_expires_at: expires,
    };
    Ok(created(location, body))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<ImportView>>, Problem> {
    let (imports, next) = app
        .imports(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(imports, next)))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<ImportView>, Problem> {
    let id = import_id(&id)?;
    let import = app.import(&me.account_id, &id).await?;
    let report = if import.has_error_report {
        app.import_report_link(&me.account_id, &id).await?
    } else {
        None
    };
    let mut view = ImportView::from(import);
    view.error_report_url = report.map(|u| u.to_string());
    Ok(Json(view))
}

pub async fn start(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ImportView>), Problem> {
    let import = app.start_import(&me.account_id, &import_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(import.into())))
}

/// A small file in the request body, imported at once.
pub async fn inline(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<InlineView>, Problem> {
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/csv"))
        });
    if !is_csv {
        return Err(Problem::new(ProblemType::UnsupportedMediaType)
            .with_detail("Send the file as Content-Type: text/csv."));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(ProblemType::PayloadTooLarge).with_detail(format!(
                "Inline imports take at most {} bytes; larger files go through POST /v1/contacts/imports.",
                shared::services::imports::MAX_INLINE_BYTES
            ))
        } else {
            Problem::new(ProblemType::MalformedRequest).with_detail("The body could not be read.")
        }
    })?;
    let report = app.import_inline(&me.account_id, body).await?;
    Ok(Json(InlineView {
        counts: report.counts,
        errors: report.errors.into_iter().map(Into::into).collect(),
        errors_truncated: report.errors_truncated,
    }))
}
