//! Webhook endpoints: where the account's own events go. The list with a create form (the
//! secret shown once), and each endpoint's page: its deliveries and every attempt, a test
//! event, enabling or disabling it, a new secret, replaying what failed, deleting it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::{
    now, parse_description, EndpointId, EndpointUrl, EventType, EventTypes, Permission,
};
use shared::records::endpoint::DeliveryState;
use shared::services::events::{EndpointChanges, NewEndpoint, DEFAULT_OVERLAP, RETRY_PERIOD};
use shared::services::{App, FieldError, Fields, ServiceError, SignedIn};

use super::layout::{self, csrf, field, Nav};
use super::{allowed, field_error, path_id, when, Empty, Page, PageError, Posted, Visitor};

/// The create form; `event.<type>` checkboxes arrive as extra fields.
#[derive(Deserialize, Default)]
pub struct EndpointForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

impl EndpointForm {
    fn ticked(&self) -> Vec<&'static str> {
        EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .filter(|n| self.rest.contains_key(&format!("event.{n}")))
            .collect()
    }
}

async fn list_page(
    app: &App,
    who: &SignedIn,
    form: &EndpointForm,
    errors: &[FieldError],
    secret: Option<&str>,
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageWebhooks)?;
    let endpoints = app.endpoints(&who.principal).await?;
    let ticked = form.ticked();
    Ok(layout::app(
        who,
        Nav::Webhooks,
        "Webhooks",
        false,
        html! {
            h1 { "Webhooks" }
            p.muted { "Your own systems get your events as they happen: each a signed POST (Standard Webhooks), retried for three days until it is taken." }
            @if let Some(s) = secret {
                div.notice role="status" {
                    p { "The endpoint's signing secret. Copy it now: it is not shown again." }
                    p { input.secret type="text" readonly value=(s) aria-label="Signing secret"; }
                }
            }
            @if endpoints.is_empty() {
                p.empty { "No endpoints yet. Add the URL of your system below and choose what it should hear about." }
            } @else {
                table.endpoints {
                    caption.sr-only { "Endpoints" }
                    thead { tr { th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "State" } } }
                    tbody {
                        @for e in &endpoints {
                            tr {
                                td { a href={"/app/webhooks/" (e.id)} { (e.url) } @if !e.description.is_empty() { br; span.muted { (e.description) } } }
                                td { (e.events.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
                                td { @match e.disabled { None => "enabled", Some(r) => { "disabled (" (r.as_str()) ")" } } }
                            }
                        }
                    }
                }
            }
            h2 { "New endpoint" }
            form method="post" action="/app/webhooks" novalidate {
                (csrf(who))
                (field("URL (https://…)", "url", "url", &form.url, field_error(errors, "url"), "off"))
                div.field {
                    label for="f-description" { "Description (optional)" }
                    input id="f-description" name="description" type="text" value=(form.description);
                    @if let Some(e) = field_error(errors, "description") { p.error { (e) } }
                }
                fieldset.events {
                    legend { "Events" }
                    @for t in EventType::ALL {
                        div.field.check {
                            input id={"f-" (t.as_str())} name={"event." (t.as_str())} type="checkbox" value="on" checked[ticked.contains(&t.as_str())];
                            label for={"f-" (t.as_str())} { code { (t.as_str()) } }
                        }
                    }
                    @if let Some(e) = field_error(errors, "events") { p.error { (e) } }
                }
                button type="submit" { "Add endpoint" }
            }
        },
    ))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let page = list_page(&app, &who, &EndpointForm::default(), &[], None).await?;
    Ok(Page::ok(page).respond(&headers))
}

pub async fn create(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<EndpointForm>,
) -> Result<Response, PageError> {
    allowed(&visitor, Permission::ManageWebhooks)?;
    let mut f = Fields::new();
    let url = f.check("url", EndpointUrl::parse(&form.url));
    let description = f.check("description", parse_description(&form.description));
    let events = f.check("events", EventTypes::parse(form.ticked()));
    let result = match f.finish(|| {
        Some(NewEndpoint {
            url: url?,
            description: description?,
            events: events?,
        })
    }) {
        Ok(new) => app.create_endpoint(&visitor.principal, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((_, secret)) => {
            let page = list_page(
                &app,
                &visitor,
                &EndpointForm::default(),
                &[],
                Some(secret.expose()),
            )
            .await?;
            Ok(Page::ok(page).status(StatusCode::CREATED).respond(&headers))
        }
        Err(ServiceError::Invalid(errors)) => {
            let page = list_page(&app, &visitor, &form, &errors, None).await?;
            Ok(Page::ok(page)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}

async fn endpoint_page(
    app: &App,
    who: &SignedIn,
    id: &EndpointId,
    notice: Option<&str>,
    secret: Option<&str>,
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageWebhooks)?;
    let e = app.endpoint(&who.principal, id).await?;
    let (deliveries, _) = app.deliveries(&who.principal, id, 20, None).await?;
    let base = format!("/app/webhooks/{id}");
    let since = now() - RETRY_PERIOD;
    Ok(layout::app(
        who,
        Nav::Webhooks,
        "Webhook endpoint",
        true,
        html! {
            p { a href="/app/webhooks" { "← Webhooks" } }
            h1 { (e.url) }
            @if let Some(n) = notice { div.notice role="status" { p { (n) } } }
            @if let Some(s) = secret {
                div.notice role="status" {
                    p { "The new signing secret. Copy it now: it is not shown again. The previous one signs beside it for a day." }
                    p { input.secret type="text" readonly value=(s) aria-label="New signing secret"; }
                }
            }
            dl.facts {
                dt { "Events" } dd { (e.events.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
                dt { "State" } dd { @match e.disabled {
                    None => "enabled",
                    Some(r) => { "disabled: " (match r.as_str() { "gone" => "it answered 410 Gone", "failing" => "every attempt failed for three days", _ => "by you" }) }
                } }
                @if let Some(until) = e.previous_secret_until.filter(|u| *u > now()) {
                    dt { "Previous secret" } dd { "also signs until " (when(until)) " UTC" }
                }
            }
            div.actions {
                form.inline method="post" action={(base) "/test"} { (csrf(who)) button type="submit" { "Send a test event" } }
                form.inline method="post" action={(base) "/enabled"} {
                    (csrf(who))
                    @if e.disabled.is_some() { input type="hidden" name="enabled" value="true"; button type="submit" { "Enable" } }
                    @else { input type="hidden" name="enabled" value="false"; button type="submit" { "Disable" } }
                }
                form.inline method="post" action={(base) "/replay"} { (csrf(who)) button type="submit" { "Replay what failed in the last three days" } input type="hidden" name="since" value=(since.unix_timestamp()); }
            }
            h2 { "Deliveries" }
            div #deliveries data-live-region {
                @if deliveries.is_empty() {
                    p.empty { "Nothing sent yet. Send a test event to see one here." }
                } @else {
                    table.deliveries {
                        caption.sr-only { "The latest 20 deliveries, newest event first" }
                        thead { tr { th scope="col" { "Event" } th scope="col" { "State" } th scope="col" { "Attempts" } } }
                        tbody {
                            @for d in &deliveries {
                                tr {
                                    td { code { (d.event_type.as_str()) } br; span.muted { (d.event_id) } }
                                    td { (d.state.as_str())
                                         @if let (DeliveryState::Pending, Some(n)) = (d.state, d.next_at) { br; span.muted { "next try " (when(n)) } } }
                                    td {
                                        ol.attempts {
                                            @for a in &d.attempts {
                                                li { (when(a.at)) " · "
                                                     @match a.status { Some(c) => { "HTTP " (c) }, None => "no answer" }
                                                     " · " (a.latency_ms) " ms"
                                                     @if !a.answer.is_empty() { " · " span.muted { (a.answer.chars().take(80).collect::<String>()) } } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Signing secret" }
            p { "A new secret is shown once; the current one goes on signing beside it for a day, so your system can switch without missing an event." }
            form method="post" action={(base) "/secret"} { (csrf(who)) button type="submit" { "Make a new secret" } }
            h2 { "Delete" }
            form method="post" action={(base) "/delete"} {
                (csrf(who))
                p { "Events stop going there at once; the delivery log stays until it expires." }
                button.danger type="submit" { "Delete this endpoint" }
            }
        },
    ))
}

fn endpoint_id(raw: &str) -> Result<EndpointId, PageError> {
    path_id(raw)
}

pub async fn show(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    Ok(Page::ok(endpoint_page(&app, &who, &id, None, None).await?).respond(&headers))
}

pub async fn test(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    app.test_endpoint(&visitor.principal, &id).await?;
    Ok(Redirect::to(&format!("/app/webhooks/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

pub async fn set_enabled(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, form, .. }: Posted<EnabledForm>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    let changes = EndpointChanges {
        enabled: Some(form.enabled),
        ..Default::default()
    };
    app.update_endpoint(&visitor.principal, &id, changes)
        .await?;
    Ok(Redirect::to(&format!("/app/webhooks/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct ReplayForm {
    /// Epoch seconds.
    since: i64,
}

pub async fn replay(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<ReplayForm>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    let since = shared::domain::Timestamp::from_unix_timestamp(form.since)
        .map_err(|_| PageError::Failed("That time is out of range.".into()))?;
    let n = app.replay_failed(&visitor.principal, &id, since).await?;
    let notice = format!("{n} failed deliveries queued again.");
    Ok(Page::ok(endpoint_page(&app, &visitor, &id, Some(&notice), None).await?).respond(&headers))
}

pub async fn rotate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted {
        visitor, headers, ..
    }: Posted<Empty>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    let secret = app
        .rotate_endpoint_secret(&visitor.principal, &id, DEFAULT_OVERLAP)
        .await?;
    let page = endpoint_page(&app, &visitor, &id, None, Some(secret.expose())).await?;
    Ok(Page::ok(page).respond(&headers))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    app.delete_endpoint(&visitor.principal, &id).await?;
    Ok(Redirect::to("/app/webhooks").into_response())
}
