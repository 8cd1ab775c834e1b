use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::Timestamp;
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::ingest::Notice;
use shared::services::privacy::audit::{AuditAction, AuditEntry};
use shared::services::privacy::closure::ClosureReceipt;
use shared::services::privacy::inventory::Inventory;
use shared::services::privacy::policy::PolicyStatus;
use shared::services::{App, ServiceError};

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
    let status = app.accept_policy(&me.account_id, &req.version).await?;
    super::audit(
        &app,
        &me,
        AuditAction::PolicyAccepted,
        Some(("policy", &req.version)),
    )
    .await?;
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
    if req.confirm != "DELETE" {
        return Err(ServiceError::invalid(
            "confirm",
            "must be \"DELETE\" to close the account and erase its data",
        )
        .into());
    }
    super::audit(&app, &me, AuditAction::AccountClosureRequested, None).await?;
    let token = app.close_account(&me.account_id, &req.confirm).await?;
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
