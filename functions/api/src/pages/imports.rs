//! Contact imports: a CSV file goes from the browser straight to its upload link (a progress
//! bar for the upload), the import then runs as a job (a live progress bar for the rows), and
//! the per-row error report is a download.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use maud::{html, Markup};
use shared::domain::{Import, ImportId, ImportStatus};
use shared::services::imports::rows::TAG_SEPARATOR;
use shared::services::imports::MAX_IMPORT_BYTES;
use shared::services::{App, ServiceError, SignedIn};

use super::layout::{self, csrf, Nav};
use super::{path_id, when, Empty, Page, PageError, Posted, Visitor};

/// How many recent imports the page lists.
const RECENT: u32 = 20;

fn status_label(s: ImportStatus) -> &'static str {
    match s {
        ImportStatus::AwaitingUpload => "waiting for the file",
        ImportStatus::Queued => "queued",
        ImportStatus::Running => "importing",
        ImportStatus::Completed => "done",
        ImportStatus::Failed => "failed",
    }
}

fn page_of(id: &ImportId) -> String {
    format!("/app/contacts/imports/{id}")
}

fn upload_form(who: &SignedIn) -> Markup {
    html! {
        form #upload method="post" action="/app/contacts/imports" data-upload {
            (csrf(who))
            div.field {
                label for="f-file" { "CSV file" }
                input #f-file name="file" type="file" accept=".csv,text/csv" required aria-describedby="f-file-help";
                p.muted #f-file-help {
                    "A header row, then one contact per row. Columns: " code { "phone" } " (with +country code) or "
                    code { "user_id" } ", and any of " code { "name" } ", " code { "tags" } " (separated by " (TAG_SEPARATOR) "), "
                    code { "opted_in" } " (yes or no), " code { "opt_in_source" } " and " code { "attr.<name>" }
                    ". Up to " (MAX_IMPORT_BYTES / (1024 * 1024)) " MB. Rows with a phone we hold already update that contact."
                }
            }
            div.upload-state hidden {
                label for="upload-bar" { "Uploading" }
                progress #upload-bar max="100" value="0" {}
                span #upload-text role="status" aria-live="polite" {}
            }
            p.error #upload-error role="alert" hidden {}
            noscript { p.alert { "Uploading a file from this page needs JavaScript; the API's POST /v1/contacts/imports works without it." } }
            button type="submit" { "Upload and import" }
        }
    }
}

fn counts(i: &Import) -> Markup {
    let c = &i.counts;
    html! {
        dl.facts.counts {
            dt { "Rows read" } dd { (c.rows) }
            dt { "Created" } dd { (c.created) }
            dt { "Updated" } dd { (c.updated) }
            dt { "Unchanged" } dd { (c.unchanged) }
            dt { "Rejected" } dd { (c.rejected) }
        }
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let account = &who.principal.account_id;
    let (imports, _) = app.imports(account, RECENT, None).await?;
    let origin = app.upload_origin(account).await?;
    let body = html! {
        p { a href="/app/contacts" { "← All contacts" } }
        h1 { "Import contacts" }
        (upload_form(&who))
        h2 { "Recent imports" }
        @if imports.is_empty() {
            p.empty { "No imports yet. Upload a CSV above; the first row names the columns." }
        } @else {
            table.imports {
                caption.sr-only { "Recent imports, newest first" }
                thead { tr {
                    th scope="col" { "Started" } th scope="col" { "Status" } th scope="col" { "Rows" }
                    th scope="col" { "Created" } th scope="col" { "Updated" } th scope="col" { "Rejected" }
                } }
                tbody {
                    @for i in &imports {
                        tr {
                            td { a href=(page_of(&i.id)) { (when(i.created_at)) } }
                            td { (status_label(i.status)) }
                            td { (i.counts.rows) }
                            td { (i.counts.created) }
                            td { (i.counts.updated) }
                            td { (i.counts.rejected) }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::ok(layout::app(
        &who,
        Nav::Contacts,
        "Import contacts",
        false,
        body,
    ))
    .connecting_to(&origin)
    .respond(&headers))
}

/// What the page's script needs to upload and start an import.
#[derive(serde::Serialize)]
struct Upload {
    upload_url: String,
    start_url: String,
    page_url: String,
}

/// Makes an import and its upload link. The page's script asks for JSON; a form posted
/// without it lands on the import's page.
pub async fn create(
    State(app): State<Arc<App>>,
    Posted {
        visitor, headers, ..
    }: Posted<Empty>,
) -> Result<Response, PageError> {
    let (import, url, _) = app.create_import(&visitor.principal.account_id).await?;
    let page_url = page_of(&import.id);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = Upload {
            upload_url: url.to_string(),
            start_url: format!("{page_url}/start"),
            page_url,
        };
        return Ok(Json(body).into_response());
    }
    Ok(Redirect::to(&page_url).into_response())
}

pub async fn show(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let id = path_id::<ImportId>(&id)?;
    let import = app.import(&who.principal.account_id, &id).await?;
    let live = !import.status.is_final();
    let per_mille = import.progress_per_mille();
    let body = html! {
        p { a href="/app/contacts/imports" { "← Imports" } }
        h1 { "Import of " (import.created_at.date().to_string()) }
        div #import-progress data-live-region {
            p role="status" { "Status: " strong { (status_label(import.status)) } }
            @match import.status {
                ImportStatus::AwaitingUpload => p { "No file has been started for this import yet. " a href="/app/contacts/imports" { "Upload one" } "." },
                ImportStatus::Failed => p.alert role="alert" { "The file was refused: " (import.failure.as_deref().unwrap_or("it could not be read")) },
                _ => {},
            }
            @if let Some(p) = per_mille {
                label for="import-bar" { "Rows applied" }
                progress #import-bar max="1000" value=(p) {}
                span #import-percent { (p / 10) " %" }
            }
            (counts(&import))
            @if import.has_error_report {
                p {
                    a #error-report href={(page_of(&import.id)) "/errors.csv"} download {
                        "Download the rejected rows (row, column, reason)"
                    }
                    @if import.errors_truncated { " — the report lists the first rows only; fix those and import again." }
                }
            } @else if import.status == ImportStatus::Completed {
                p { "Every row was accepted." }
            }
        }
        @if import.status.is_final() {
            p { a href="/app/contacts" { "See the contacts" } " or " a href="/app/contacts/imports" { "import another file" } "." }
        }
    };
    Ok(Page::ok(layout::app(&who, Nav::Contacts, "Import", live, body)).respond(&headers))
}

/// Starts an import whose file is uploaded, then shows its progress.
pub async fn start(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    let id = path_id::<ImportId>(&id)?;
    match app.start_import(&visitor.principal.account_id, &id).await {
        Ok(_) => Ok(Redirect::to(&page_of(&id)).into_response()),
        Err(ServiceError::ImportNotUploaded) => Err(PageError::Failed(
            "The file did not arrive; upload it again.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The error report: a short-lived link to it (the blob store serves the file).
pub async fn errors(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = path_id::<ImportId>(&id)?;
    match app
        .import_report_link(&who.principal.account_id, &id)
        .await?
    {
        Some(url) => Ok(Redirect::to(url.as_str()).into_response()),
        None => Err(PageError::NotFound),
    }
}
