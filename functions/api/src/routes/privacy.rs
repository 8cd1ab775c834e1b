use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{
    now, AuditEntry, ClosureReceipt, ContactId, Export, ExportId, ExportStatus, Notice, Timestamp,
};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::privacy::exports::LINK_TTL;
use shared::services::privacy::inventory::Inventory;
use shared::services::privacy::policy::PolicyStatus;
use shared::services::App;

use crate::Caller;

/// The tenant's audit log, newest first.
pub async fn audit_log(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<AuditEntry>>, Problem> {
    let (entries, next) = app
        .audit_log(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(entries, next)))
}

/// What is held for the business, where, for how long, under which policy.
pub async fn inventory(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
) -> Result<Json<Inventory>, Problem> {
    Ok(Json(app.inventory(&me.account_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    version: String,
}

pub async fn accept(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> Result<Json<PolicyStatus>, Problem> {
    let status = app.accept_policy(&me, &req.version).await?;
    Ok(Json(status))
}

#[derive(Serialize)]
pub struct NoticeView {
    id: String,
    /// What it is about: `privacy_policy`, or the Meta webhook field it came from.
    kind: String,
    event: Option<String>,
    phone_number_id: Option<String>,
    payload: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    read_at: Option<Timestamp>,
}

impl From<Notice> for NoticeView {
    fn from(n: Notice) -> Self {
        Self {
            id: n.id,
            kind: n.field,
            event: n.event,
            phone_number_id: n.number.map(|p| p.to_string()),
            payload: n.payload,
            created_at: n.received_at,
            read_at: n.read_at,
        }
    }
}

/// Notices, newest first: policy versions to accept, Meta's template, quality and account news.
pub async fn notices(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<NoticeView>>, Problem> {
    let (notices, next) = app
        .notices(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(notices, next)))
}

pub async fn read_notice(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.read_notice(&me.account_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Must be `DELETE`.
    confirm: String,
}

#[derive(Serialize)]
pub struct ClosingView {
    state: &'static str,
    /// Shown once: fetch the deletion receipt with it at `receipt_url`.
    receipt_token: String,
    receipt_url: String,
}

/// Closes the account: every API key stops working at once; the erasure runs in the
/// background and ends with the destruction of the tenant's data key.
pub async fn close(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<CloseRequest>,
) -> Result<(StatusCode, Json<ClosingView>), Problem> {
    let token = app.close_account(&me, &req.confirm).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ClosingView {
            state: "closing",
            receipt_url: format!("/v1/deletion-receipts/{token}"),
            receipt_token: token,
        }),
    ))
}

/// The deletion receipt: no API key (there is none left); the token is the credential. Once
/// the erasure is finished, the receipt is handed out once.
pub async fn receipt(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> Result<Json<ClosureReceipt>, Problem> {
    Ok(Json(app.closure_receipt(&token).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Export one contact; without it, the whole account.
    contact_id: Option<String>,
}

#[derive(Serialize)]
pub struct ExportView {
    id: String,
    status: ExportStatus,
    scope: &'static str,
    contact_id: Option<String>,
    counts: std::collections::BTreeMap<String, u64>,
    size: Option<u64>,
    /// Where to download the file (NDJSON, format `whatatalk.export` v1), until
    /// `download_expires_at`.
    download_url: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    download_expires_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: Timestamp,
}

impl From<Export> for ExportView {
    fn from(e: Export) -> Self {
        Self {
            id: e.id.to_string(),
            status: e.status,
            scope: if e.contact_id.is_some() {
                "contact"
            } else {
                "account"
            },
            contact_id: e.contact_id.map(|c| c.to_string()),
            counts: e.counts,
            size: e.size,
            download_url: None,
            download_expires_at: None,
            created_at: e.created_at,
            finished_at: e.finished_at,
            expires_at: e.expires_at,
        }
    }
}

pub async fn request_export(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<ExportRequest>,
) -> Result<Response, Problem> {
    let contact = req
        .contact_id
        .map(|c| c.parse::<ContactId>())
        .transpose()
        .map_err(|_| Problem::not_found())?;
    let export = app.request_export(&me, contact).await?;
    let location = format!("/v1/exports/{}", export.id);
    Ok((
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location)],
        Json(ExportView::from(export)),
    )
        .into_response())
}

/// The export, with a fresh 15-minute download link once it is done.
pub async fn show_export(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<ExportView>, Problem> {
    let id: ExportId = id.parse().map_err(|_| Problem::not_found())?;
    let export = app.export(&me.account_id, &id).await?;
    let done = export.status == ExportStatus::Done;
    let mut view = ExportView::from(export);
    if done {
        let url = app.export_link(&me, &id).await?;
        view.download_url = Some(url.to_string());
        view.download_expires_at = Some(now() + time::Duration::seconds(LINK_TTL.as_secs() as i64));
    }
    Ok(Json(view))
}
