//! Broadcasts: the list, a wizard (template, audience by tags, each placeholder from a contact
//! field or a fixed text, a preview for a sample contact, the audience size and Meta's
//! estimated charges, now or later), and a live progress page with pause, resume, cancel and
//! the per-recipient results.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use shared::domain::{
    Audience, Broadcast, BroadcastId, BroadcastStatus, Contact, ContactField, ParameterSlot,
    Permission, Personalization, Placeholders, Tag, Template, TemplateId, Timestamp,
};
use shared::services::{
    App, BroadcastEstimate, ContactFilter, FieldError, Fields, NewBroadcast, ServiceError,
    SignedIn, TemplateFilter,
};

use super::layout::{self, csrf, Nav};
use super::{allowed, field_error, path_id, Page, PageError, Posted, Visitor};

/// Contact fields a placeholder can take, as the form offers them: name, phone, the
/// attributes the sample contact has, or a fixed text.
fn fields(sample: Option<&Contact>) -> Vec<(String, String)> {
    let mut out = vec![
        ("name".to_owned(), "the contact's name".to_owned()),
        ("phone".to_owned(), "the contact's phone".to_owned()),
    ];
    if let Some(c) = sample {
        for k in c.attributes.map().keys() {
            let field = ContactField::Attribute(k.clone());
            out.push((field.as_string(), format!("the contact's {k}")));
        }
    }
    out.push((String::new(), "the same text for everyone".to_owned()));
    out
}

/// The sample contact's value of each field, for the preview's script.
fn sample_values(sample: Option<&Contact>) -> String {
    let values: serde_json::Map<String, serde_json::Value> = fields(sample)
        .into_iter()
        .filter_map(|(k, _)| {
            let v = ContactField::parse(&k).ok()?.of(sample?)?;
            Some((k, serde_json::Value::String(v)))
        })
        .collect();
    serde_json::Value::Object(values).to_string()
}

/// The wizard's state: every field of the form, in the query (steps) or the body (send).
type Wizard = HashMap<String, String>;

fn get<'a>(w: &'a Wizard, k: &str) -> &'a str {
    w.get(k).map(|v| v.trim()).unwrap_or_default()
}

fn tags_of(w: &Wizard) -> Result<Vec<Tag>, shared::domain::Invalid> {
    get(w, "tags")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Tag::parse)
        .collect()
}

fn money(micros: u64, currency: Option<&str>) -> String {
    format!(
        "{:.2} {}",
        micros as f64 / 1e6,
        currency.unwrap_or_default().to_uppercase()
    )
}

/// The broadcast a finished wizard describes, with each placeholder's value or field.
fn built(t: &Template, w: &Wizard) -> (shared::graph::messages::Template, Vec<Personalization>) {
    let mut rules = Vec::new();
    for (i, k) in t.body_placeholders().iter().enumerate() {
        if let Ok(field) = ContactField::parse(get(w, &format!("field_{k}"))) {
            rules.push(Personalization {
                slot: ParameterSlot::Body(i + 1),
                field,
                fallback: get(w, &format!("text_{k}")).to_owned(),
            });
        }
    }
    (
        t.message(|k| get(w, &format!("text_{k}")).to_owned()),
        rules,
    )
}

/// The body as `sample` would get it.
fn sample_text(t: &Template, w: &Wizard, sample: Option<&Contact>) -> Option<String> {
    let body = t.body_text()?;
    Some(Placeholders::fill(body, |k| {
        let field = ContactField::parse(get(w, &format!("field_{k}"))).ok();
        let text = get(w, &format!("text_{k}"));
        field
            .and_then(|f| sample.and_then(|c| f.of(c)))
            .or_else(|| (!text.is_empty()).then(|| text.to_owned()))
    }))
}

async fn approved_templates(
    app: &App,
    who: &SignedIn,
) -> Result<(Vec<Template>, Option<shared::domain::PhoneNumberId>), PageError> {
    let account = &who.principal.account_id;
    let (numbers, _) = app.numbers(account, 1, None).await?;
    let Some(number) = numbers.first() else {
        return Ok((Vec::new(), None));
    };
    let filter = TemplateFilter {
        waba_id: Some(number.waba_id.clone()),
        name: None,
    };
    let (all, _) = app.templates(account, &filter, 200, None).await?;
    Ok((
        all.into_iter().filter(|t| t.status.sends()).collect(),
        Some(number.phone_number_id.clone()),
    ))
}

fn status_line(b: &Broadcast) -> Markup {
    let c = &b.counts;
    html! {
        (b.status.as_str()) " · " (c.targeted) " targeted · " (c.sent) " sent · " (c.delivered) " delivered · " (c.read) " read · " (c.failed) " failed"
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    allowed(&who, Permission::ManageNumbers)?;
    let (all, _) = app.broadcasts(&who.principal.account_id, 50, None).await?;
    let body = html! {
        h1 { "Broadcasts" }
        p { a.button href="/app/broadcasts/new" { "New broadcast" } }
        @if all.is_empty() {
            p.empty { "No broadcasts yet. A broadcast sends one approved template to every contact with a tag who agreed to hear from you." }
        } @else {
            ul.broadcasts {
                @for b in &all {
                    li { a href={"/app/broadcasts/" (b.id)} { code { (b.template.name) } } " · " (status_line(b)) }
                }
            }
        }
    };
    Ok(Page::ok(layout::app(
        &who,
        Nav::Broadcasts,
        "Broadcasts",
        false,
        body,
    ))
    .respond(&headers))
}

async fn wizard_page(
    app: &App,
    who: &SignedIn,
    w: &Wizard,
    errors: &[FieldError],
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageNumbers)?;
    let account = &who.principal.account_id;
    let (templates, number) = approved_templates(app, who).await?;
    let chosen = templates
        .iter()
        .find(|t| t.id.as_str() == get(w, "template_id"));
    let tags = tags_of(w);
    // Step 2 once a template and tags are chosen: the audience, its cost, a sample.
    let mut estimate: Option<BroadcastEstimate> = None;
    let mut sample: Option<Contact> = None;
    if let (Some(t), Ok(tags)) = (chosen, &tags) {
        if !tags.is_empty() {
            let audience = Audience::Tags(tags.clone());
            estimate = Some(
                app.estimate_broadcast(account, &audience, t.category.as_str())
                    .await?,
            );
            let filter = ContactFilter {
                tag: tags.first().cloned(),
                opted_in: Some(true),
            };
            sample = app
                .contacts(account, &filter, 1, None)
                .await?
                .0
                .into_iter()
                .next();
        }
    }
    let tag_error = tags.as_ref().err().map(|e| format!("A tag {}", e.0));
    Ok(layout::app(
        who,
        Nav::Broadcasts,
        "New broadcast",
        false,
        html! {
            p { a href="/app/broadcasts" { "← Broadcasts" } }
            h1 { "New broadcast" }
            @if number.is_none() {
                p.empty { "Connect a number first." }
            } @else if templates.is_empty() {
                p.empty { "No approved template yet: create one on the Templates page and wait for Meta's review." }
            } @else {
                form method="get" action="/app/broadcasts/new" {
                    h2 { "1. What and to whom" }
                    div.field {
                        label for="w-template" { "Template" }
                        select id="w-template" name="template_id" {
                            @for t in &templates {
                                option value=(t.id.as_str()) selected[Some(t) == chosen] { (t.name.as_str()) " (" (t.language.as_str()) ", " (t.category.as_str().to_lowercase()) ")" }
                            }
                        }
                    }
                    div.field {
                        label for="w-tags" { "Contacts with any of these tags (comma-separated)" }
                        input id="w-tags" name="tags" type="text" value=(get(w, "tags")) required;
                        @if let Some(e) = tag_error.as_deref().or(field_error(errors, "recipients.tags")) { p.error { (e) } }
                    }
                    button type="submit" { "Next" }
                }
                @if let (Some(t), Some(est)) = (chosen, &estimate) {
                    form method="post" action="/app/broadcasts" {
                        (csrf(who))
                        input type="hidden" name="template_id" value=(t.id.as_str());
                        input type="hidden" name="tags" value=(get(w, "tags"));
                        h2 { "2. Each contact's message" }
                        @for k in t.body_placeholders() {
                            fieldset.placeholder {
                                legend { "{{" (k) "}}" }
                                div.field {
                                    label for={"w-field-" (k)} { "Filled with" }
                                    select id={"w-field-" (k)} name={"field_" (k)} {
                                        @for (value, label) in fields(sample.as_ref()) {
                                            option value=(value) selected[get(w, &format!("field_{k}")) == value] { (label) }
                                        }
                                    }
                                }
                                div.field {
                                    label for={"w-text-" (k)} { "Text (for everyone, or when a contact has no such value)" }
                                    input id={"w-text-" (k)} name={"text_" (k)} type="text" value=(get(w, &format!("text_{k}"))) required;
                                }
                            }
                        }
                        @if let Some(e) = field_error(errors, "personalization").or(field_error(errors, "template")) { p.error { (e) } }
                        @if let Some(text) = sample_text(t, w, sample.as_ref()) {
                            p { "As " (sample.as_ref().and_then(|c| c.name.as_ref()).map_or("a contact", |n| n.as_str())) " would get it:" }
                            // app.js redraws it as the fields change, from the same data.
                            div.bubble data-preview data-body=(t.body_text().unwrap_or_default())
                                data-values=(sample_values(sample.as_ref())) {
                                p.text aria-live="polite" { (text) }
                            }
                        }
                        h2 { "3. Who and what it costs" }
                        p.estimate role="status" {
                            strong { (est.reachable) } " contacts will get it"
                            @if est.skipped > 0 { "; " (est.skipped) " without consent or opted out are left out" }
                            @if est.capped { " (counted over the first 10,000)" }
                            ". Meta's estimated charge: " strong { (money(est.cost_micros, est.currency.as_deref())) } "."
                        }
                        div.field {
                            label for="w-send_at" { "Send at (UTC; empty: now)" }
                            input id="w-send_at" name="send_at" type="datetime-local" value=(get(w, "send_at"));
                            @if let Some(e) = field_error(errors, "send_at") { p.error { (e) } }
                        }
                        button type="submit" disabled[est.reachable == 0] { "Send the broadcast" }
                    }
                }
            }
        },
    ))
}

pub async fn new(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Query(w): Query<Wizard>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(Page::ok(wizard_page(&app, &who, &w, &[]).await?).respond(&headers))
}

pub async fn create(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form: w,
        headers,
    }: Posted<Wizard>,
) -> Result<Response, PageError> {
    allowed(&visitor, Permission::ManageNumbers)?;
    let account = &visitor.principal.account_id;
    let (templates, number) = approved_templates(&app, &visitor).await?;
    let number = number.ok_or_else(|| PageError::Failed("Connect a number first.".into()))?;
    let template_id = TemplateId::parse(get(&w, "template_id")).map_err(|_| PageError::NotFound)?;
    let t = templates
        .iter()
        .find(|t| t.id == template_id)
        .ok_or(PageError::NotFound)?;
    let mut f = Fields::new();
    let tags = f.check("recipients.tags", tags_of(&w));
    let send_at = match get(&w, "send_at") {
        "" => Some(None),
        raw => f.check("send_at", parse_local(raw)).map(Some),
    };
    let (message, personalization) = built(t, &w);
    for k in t.body_placeholders() {
        if get(&w, &format!("text_{k}")).is_empty() {
            f.fail("personalization", "give each placeholder a text");
        }
    }
    let result = match f.finish(|| {
        Some(NewBroadcast {
            from: number,
            template: message,
            personalization,
            audience: Audience::Tags(tags?),
            send_at: send_at?,
        })
    }) {
        Ok(new) => app.create_broadcast(account, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(b) => Ok(Redirect::to(&format!("/app/broadcasts/{}", b.id)).into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let page = wizard_page(&app, &visitor, &w, &errors).await?;
            Ok(Page::ok(page)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}

/// `2026-12-24T09:30` (a `datetime-local` field), read as UTC and in the future.
fn parse_local(raw: &str) -> Result<Timestamp, shared::domain::Invalid> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let at = time::PrimitiveDateTime::parse(raw, &format)
        .map_err(|_| shared::domain::Invalid::new("must be a date and a time"))?
        .assume_utc();
    if at <= shared::domain::now() {
        return Err(shared::domain::Invalid::new("must be in the future"));
    }
    Ok(at)
}

pub async fn show(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    allowed(&who, Permission::ManageNumbers)?;
    let id = path_id::<BroadcastId>(&id)?;
    let account = &who.principal.account_id;
    let b = app.broadcast(account, &id).await?;
    let (recipients, more) = app.broadcast_recipients(account, &id, 100, None).await?;
    let ids: Vec<_> = recipients.iter().map(|r| r.contact_id.clone()).collect();
    let names: Vec<String> = app
        .contacts_by_id(account, &ids)
        .await?
        .into_iter()
        .zip(&ids)
        .map(|(c, id)| {
            c.and_then(|c| c.name.map(|n| n.as_str().to_owned()))
                .unwrap_or_else(|| id.to_string())
        })
        .collect();
    let live = matches!(
        b.status,
        BroadcastStatus::Running | BroadcastStatus::Scheduled
    );
    let c = &b.counts;
    let body = html! {
        p { a href="/app/broadcasts" { "← Broadcasts" } }
        h1 { "Broadcast of " code { (b.template.name) } }
        div id="progress" data-live-region {
            p role="status" { "Status: " strong { (b.status.as_str()) }
                @if let Some(r) = &b.pause_reason { " (" (r) ")" } }
            @if let Some(at) = b.send_at { @if b.status == BroadcastStatus::Scheduled { p { "Starts " (super::when(at)) "." } } }
            @let done = c.sent + c.failed + c.skipped_opted_out + c.skipped_no_consent + c.skipped_invalid + c.skipped_plan_limit;
            @let total = c.targeted.max(1);
            progress max=(total) value=(done.min(total)) aria-label="Messages through" {}
            dl.facts {
                dt { "Targeted" } dd { (c.targeted) }
                dt { "Queued" } dd { (c.queued) }
                dt { "Sent" } dd { (c.sent) }
                dt { "Delivered" } dd { (c.delivered) }
                dt { "Read" } dd { (c.read) }
                dt { "Failed" } dd { (c.failed)
                    @for (code, n) in &c.failed_by_code { " · " (n) " with Meta error " (code) } }
                dt { "Left out" } dd { (c.skipped_no_consent) " without consent, " (c.skipped_opted_out) " opted out, " (c.skipped_invalid) " invalid, " (c.skipped_plan_limit) " over the plan" }
            }
            div.actions {
                @if matches!(b.status, BroadcastStatus::Running | BroadcastStatus::Scheduled) {
                    form method="post" action={"/app/broadcasts/" (b.id) "/pause"} { (csrf(&who)) button type="submit" { "Pause" } }
                }
                @if b.status == BroadcastStatus::Paused {
                    form method="post" action={"/app/broadcasts/" (b.id) "/resume"} { (csrf(&who)) button type="submit" { "Resume" } }
                }
                @if matches!(b.status, BroadcastStatus::Running | BroadcastStatus::Scheduled | BroadcastStatus::Paused) {
                    form method="post" action={"/app/broadcasts/" (b.id) "/cancel"} { (csrf(&who)) button.danger type="submit" { "Cancel" } }
                }
                a href={"/app/broadcasts/" (b.id) "/recipients.csv"} download { "Download every recipient (CSV)" }
            }
            table.recipients {
                caption { "Recipients" @if more.is_some() { " (the first 100; the CSV has all)" } }
                thead { tr { th scope="col" { "Contact" } th scope="col" { "Outcome" } th scope="col" { "Status" } } }
                tbody {
                    @for (r, name) in recipients.iter().zip(&names) {
                        tr {
                            td { a href={"/app/contacts/" (r.contact_id)} { (name) } }
                            td { (r.outcome.replace('_', " ")) }
                            td { @if let Some(m) = &r.message { (format!("{:?}", m.status).to_lowercase())
                                 @if let Some(e) = &m.error { ": " (e.title) " (" (e.code) ")" } } }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::ok(layout::app(&who, Nav::Broadcasts, "Broadcast", live, body)).respond(&headers))
}

async fn act(app: &App, who: &SignedIn, id: &str, action: &str) -> Result<Response, PageError> {
    allowed(who, Permission::ManageNumbers)?;
    let id = path_id::<BroadcastId>(id)?;
    let account = &who.principal.account_id;
    match action {
        "pause" => {
            app.pause_broadcast(account, &id, "paused in the app")
                .await?
        }
        "resume" => app.resume_broadcast(account, &id).await?,
        _ => app.cancel_broadcast(account, &id).await?,
    };
    Ok(Redirect::to(&format!("/app/broadcasts/{id}")).into_response())
}

pub async fn pause(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    act(&app, &visitor, &id, "pause").await
}

pub async fn resume(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    act(&app, &visitor, &id, "resume").await
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    act(&app, &visitor, &id, "cancel").await
}

pub async fn recipients_csv(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    allowed(&who, Permission::ManageNumbers)?;
    let id = path_id::<BroadcastId>(&id)?;
    let (body, _) =
        crate::routes::broadcasts::recipients_csv_body(&app, &who.principal.account_id, &id, None)
            .await?;
    let mut response = body.into_response();
    for (name, value) in crate::routes::broadcasts::csv_headers(&id) {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}
