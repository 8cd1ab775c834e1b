//! Privacy: what is held, an export to download, the policy in force, the audit log, and
//! closing the account. Who may do each is the service's to say.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::{ExportId, ExportStatus, Permission};
use shared::services::{App, ServiceError, SignedIn};

use super::layout::{self, csrf, Nav};
use super::{allowed, Page, PageError, Posted, Visitor};

async fn privacy_page(
    app: &App,
    who: &SignedIn,
    close_error: Option<&str>,
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageExports)?;
    let account = &who.principal.account_id;
    let inventory = app.inventory(account).await?;
    let (log, _) = app.audit_log(account, 50, None).await?;
    let users = app.users(account).await?;
    // Who acted, by name where a user did.
    let who_acted = |actor: &str| -> String {
        users
            .iter()
            .find(|u| u.id.to_string() == actor)
            .map(|u| u.name.as_str().to_owned())
            .unwrap_or_else(|| actor.to_owned())
    };
    let may_close = who.principal.role.may(Permission::CloseAccount);
    Ok(layout::app(
        who,
        Nav::Privacy,
        "Privacy",
        false,
        html! {
            h1 { "Privacy" }
            h2 { "What we hold for you" }
            @match &inventory.held {
                Some(h) => {
                    dl.facts {
                        dt { "Contacts" } dd { (h.contacts) }
                        dt { "Consent records" } dd { (h.consent_records) }
                        dt { "Messages" } dd { (h.messages.inbound) " received, " (h.messages.outbound) " sent" }
                        dt { "Media files" } dd { (h.media) }
                        dt { "Conversations" } dd { (h.conversations) }
                        dt { "Internal notes" } dd { (h.notes) }
                        dt { "Users" } dd { (h.users) }
                        dt { "Broadcasts" } dd { (h.broadcasts) }
                        dt { "WhatsApp numbers" } dd { (h.numbers) }
                        dt { "API keys" } dd { (h.api_keys) }
                        dt { "Audit entries" } dd { (h.audit_events) }
                    }
                }
                None => p { "Counting; reload in a minute." },
            }
            p.muted {
                "Kept: messages " (inventory.retention.message_days) " days, media " (inventory.retention.media_days)
                " days, exports " (inventory.retention.export_days) " days. Stored in "
                (inventory.storage.kind) @if let Some(r) = &inventory.storage.region { " (" (r) ")" } ", every personal field encrypted with your account's own key."
            }
            p.muted {
                a href="/app/privacy/policy" { "Privacy policy" } " in force: version " (inventory.policy.current_version)
                @match &inventory.policy.accepted_version {
                    Some(v) => { "; you accepted version " (v) "." }
                    None => "; not accepted yet.",
                }
            }
            h2 { "Your data, to take with you" }
            p { "An export is one file with everything above (JSON lines), ready in a minute or so, downloadable for " (inventory.retention.export_days) " days." }
            form method="post" action="/app/privacy/exports" {
                (csrf(who))
                button type="submit" { "Request an export" }
            }
            h2 { "Audit log" }
            @if log.is_empty() {
                p.empty { "Nothing yet." }
            } @else {
                table.audit {
                    caption.sr-only { "The latest 50 audit entries" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Who" } th scope="col" { "On" } } }
                    tbody {
                        @for e in &log {
                            tr {
                                td { (super::when(e.at)) }
                                td { (e.action.replace('_', " ")) }
                                td { (who_acted(&e.actor)) }
                                td { @if let Some(t) = &e.target { (t.kind) " " code { (t.id) } } }
                            }
                        }
                    }
                }
            }
            @if may_close {
                h2 { "Close the account" }
                p { "Closing stops every number and key at once, then erases everything we hold for you. It cannot be undone; take an export first." }
                @if let Some(e) = close_error { p.alert role="alert" { (e) } }
                form method="post" action="/app/privacy/close" {
                    (csrf(who))
                    div.field {
                        label for="f-confirm" { "Type DELETE to confirm" }
                        input id="f-confirm" name="confirm" type="text" autocomplete="off" required;
                    }
                    button.danger type="submit" { "Close the account" }
                }
            }
        },
    ))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(Page::ok(privacy_page(&app, &who, None).await?).respond(&headers))
}

/// The privacy policy in force, its version, and whether the account accepted it.
pub async fn policy(
    State(app): State<Arc<App>>,
    Visitor(mut who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    // This page is what the banner points at, with its own button.
    who.policy_pending = None;
    let status = app.policy_status(&who.principal.account_id).await?;
    let accepted = status.accepted_version.as_deref() == Some(status.current_version.as_str());
    let body = html! {
        h1 { "Privacy policy" }
        p.muted { "Version " (status.current_version)
            @if let (true, Some(at)) = (accepted, status.accepted_at) { " · accepted for this account on " (at.date().to_string()) }
        }
        div.policy { (policy_text()) }
        @if !accepted && who.principal.require(Permission::ManageAccount).is_ok() {
            (layout::accept_policy(&who, &status.current_version))
        }
    };
    Ok(Page::ok(layout::app(
        &who,
        Nav::Privacy,
        "Privacy policy",
        false,
        body,
    ))
    .respond(&headers))
}

/// The policy's text: our own file, in the binary.
fn policy_text() -> maud::PreEscaped<&'static str> {
    maud::PreEscaped(include_str!("../../static/privacy-policy.html"))
}

#[derive(Deserialize)]
pub struct AcceptForm {
    version: String,
}

pub async fn accept(
    State(app): State<Arc<App>>,
    Posted { visitor, form, .. }: Posted<AcceptForm>,
) -> Result<Response, PageError> {
    app.accept_policy(&visitor.principal, &form.version).await?;
    Ok(Redirect::to("/app/privacy/policy").into_response())
}

pub async fn request_export(
    State(app): State<Arc<App>>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    let export = app.request_export(&visitor.principal, None).await?;
    Ok(Redirect::to(&format!("/app/privacy/exports/{}", export.id)).into_response())
}

/// An export's progress; live until it is done, then its download link.
pub async fn export(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    allowed(&who, Permission::ManageExports)?;
    let id: ExportId = id.parse().map_err(|_| PageError::NotFound)?;
    let export = app.export(&who.principal.account_id, &id).await?;
    let done = export.status == ExportStatus::Done;
    let body = html! {
        p { a href="/app/privacy" { "← Privacy" } }
        h1 { "Export" }
        div id="export" data-live-region {
            p role="status" { "Status: " strong { (export.status.as_str()) } }
            @if done {
                p { (export.counts.values().sum::<u64>()) " records, " (export.size.unwrap_or(0)) " bytes." }
                form method="post" action={"/app/privacy/exports/" (export.id) "/download"} {
                    (csrf(&who))
                    button type="submit" { "Download the export" }
                }
            } @else if export.status == ExportStatus::Failed {
                p.alert { "The export failed; request another." }
            } @else {
                p.muted { "This page updates by itself." }
            }
        }
    };
    let page = layout::app(&who, Nav::Privacy, "Export", !done, body);
    Ok(Page::ok(page).respond(&headers))
}

/// A fresh download link (audited), followed at once.
pub async fn download(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    let id: ExportId = id.parse().map_err(|_| PageError::NotFound)?;
    let url = app.export_link(&visitor.principal, &id).await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response())
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    confirm: String,
}

pub async fn close(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<CloseForm>,
) -> Result<Response, PageError> {
    match app
        .close_account(&visitor.principal, form.confirm.trim())
        .await
    {
        Ok(token) => {
            let body = html! {
                h1 { "Your account is closing" }
                p role="status" { "Every number and key stopped. Everything we hold for you is being erased." }
                p { "Your deletion receipt, readable once, says what was erased and when:" }
                p { input.secret type="text" readonly value={"/v1/deletion-receipts/" (token)} aria-label="Deletion receipt"; }
                p { a href="/app/login" { "Done" } }
            };
            let mut r = Page::ok(layout::plain("Account closing", body)).respond(&headers);
            if let Ok(v) = super::session::clear_session(&headers).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(r)
        }
        Err(ServiceError::Invalid(_)) => {
            let page = privacy_page(
                &app,
                &visitor,
                Some("Type DELETE, in capitals, to confirm."),
            )
            .await?;
            Ok(Page::ok(page)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}
