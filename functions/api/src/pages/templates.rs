//! Message templates: the list synced from Meta with status, category and quality, a sync
//! button, and a form that creates one (Meta reviews it) with a preview drawn as WhatsApp
//! shows the message.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use shared::domain::{
    LanguageCode, Permission, Placeholders, Template, TemplateCategory, TemplateName,
};
use shared::services::{
    App, FieldError, Fields, NewTemplate, ServiceError, SignedIn, TemplateFilter,
};

use super::layout::{self, csrf, field, Nav};
use super::{allowed, field_error, Page, PageError, Posted, Visitor};

#[derive(Deserialize, Default)]
pub struct TemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    header: String,
    #[serde(default)]
    footer: String,
    /// Up to three quick-reply buttons, one per line.
    #[serde(default)]
    quick_replies: String,
    #[serde(default)]
    url_text: String,
    #[serde(default)]
    url: String,
}

impl TemplateForm {
    fn quick_replies(&self) -> impl Iterator<Item = &str> {
        self.quick_replies
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }

    /// The components as Meta's API takes them: header, body, footer and buttons.
    fn components(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        if !self.header.trim().is_empty() {
            out.push(json!({"type": "HEADER", "format": "TEXT", "text": self.header.trim()}));
        }
        out.push(json!({"type": "BODY", "text": self.body.trim()}));
        if !self.footer.trim().is_empty() {
            out.push(json!({"type": "FOOTER", "text": self.footer.trim()}));
        }
        let mut buttons: Vec<serde_json::Value> = self
            .quick_replies()
            .map(|t| json!({"type": "QUICK_REPLY", "text": t}))
            .collect();
        if !self.url_text.trim().is_empty() || !self.url.trim().is_empty() {
            buttons
                .push(json!({"type": "URL", "text": self.url_text.trim(), "url": self.url.trim()}));
        }
        if !buttons.is_empty() {
            out.push(json!({"type": "BUTTONS", "buttons": buttons}));
        }
        out
    }
}

/// A message as WhatsApp shows it (header, body, footer, buttons), placeholders marked.
fn bubble(header: Option<&str>, body: &str, footer: Option<&str>, buttons: &[&str]) -> Markup {
    let marked = |text: &str| Placeholders::fill(text, |k| Some(format!("[{k}]")));
    html! {
        div.bubble {
            @if let Some(h) = header.filter(|h| !h.trim().is_empty()) { p.header { strong { (marked(h)) } } }
            p.text { (marked(body)) }
            @if let Some(f) = footer.filter(|f| !f.trim().is_empty()) { p.footer { (f) } }
            @if !buttons.is_empty() {
                ul.buttons { @for b in buttons { li { (b) } } }
            }
        }
    }
}

/// A text input that may stay empty.
fn field_optional(label: &str, name: &str, value: &str, error: Option<&str>) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(value) autocomplete="off";
            @if let Some(e) = error { p.error { (e) } }
        }
    }
}

/// A stored template drawn from its components.
fn template_bubble(t: &Template) -> Option<Markup> {
    let body = t.body_text()?;
    let text_of = |kind: &str| {
        t.components
            .iter()
            .find(|c| c.get("type").and_then(|v| v.as_str()) == Some(kind))
            .and_then(|c| c.get("text"))
            .and_then(|v| v.as_str())
    };
    let buttons: Vec<&str> = t
        .components
        .iter()
        .filter(|c| c.get("type").and_then(|v| v.as_str()) == Some("BUTTONS"))
        .filter_map(|c| c.get("buttons").and_then(|b| b.as_array()))
        .flatten()
        .filter_map(|b| b.get("text").and_then(|v| v.as_str()))
        .collect();
    Some(bubble(text_of("HEADER"), body, text_of("FOOTER"), &buttons))
}

fn status_class(t: &Template) -> &'static str {
    match t.status.as_str() {
        "APPROVED" => "ok",
        "REJECTED" | "DISABLED" | "PAUSED" => "bad",
        _ => "waiting",
    }
}

async fn page(
    app: &App,
    who: &SignedIn,
    form: &TemplateForm,
    errors: &[FieldError],
    notice: Option<&str>,
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageNumbers)?;
    let account = &who.principal.account_id;
    let (templates, _) = app
        .templates(account, &TemplateFilter::default(), 200, None)
        .await?;
    let (numbers, _) = app.numbers(account, 1, None).await?;
    Ok(layout::app(
        who,
        Nav::Templates,
        "Templates",
        false,
        html! {
            h1 { "Message templates" }
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            p.muted { "Templates are what WhatsApp lets you send outside the 24-hour window. Meta reviews each; this list is Meta's, synced daily and when you ask." }
            form method="post" action="/app/templates/sync" {
                (csrf(who))
                button type="submit" { "Sync from Meta now" }
            }
            @if templates.is_empty() {
                p.empty { @if numbers.is_empty() { "Connect a number first: templates belong to its WhatsApp Business Account." } @else { "No templates yet. Create one below." } }
            } @else {
                table.templates {
                    caption.sr-only { "Templates" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Meta's id" } th scope="col" { "Language" } th scope="col" { "Category" } th scope="col" { "Status" } th scope="col" { "Quality" } th scope="col" { "Preview" } } }
                    tbody {
                        @for t in &templates {
                            tr {
                                td { code { (t.name.as_str()) } }
                                td { code.template-id { (t.id.as_str()) } }
                                td { (t.language.as_str()) }
                                td { (t.category.as_str().to_lowercase()) }
                                td { span class={"status " (status_class(t))} { (t.status.as_str().to_lowercase()) }
                                     @if let Some(r) = &t.reason { br; span.muted { (r) } } }
                                td { (t.quality_score.as_deref().unwrap_or("—").to_lowercase()) }
                                td { @if let Some(b) = template_bubble(t) { (b) } }
                            }
                        }
                    }
                }
            }
            @if !numbers.is_empty() {
                h2 { "New template" }
                form method="post" action="/app/templates" novalidate {
                    (csrf(who))
                    (field("Name (lower case, digits and _)", "name", "text", &form.name, field_error(errors, "name"), "off"))
                    (field("Language code (e.g. en_GB)", "language", "text", &form.language, field_error(errors, "language"), "off"))
                    div.field {
                        label for="f-category" { "Category" }
                        select id="f-category" name="category" {
                            @for c in ["UTILITY", "MARKETING", "AUTHENTICATION"] {
                                option value=(c) selected[form.category == c] { (c.to_lowercase()) }
                            }
                        }
                        @if let Some(e) = field_error(errors, "category") { p.error { (e) } }
                    }
                    (field_optional("Header (optional, bold, up to 60 characters)", "header", &form.header, field_error(errors, "header")))
                    div.field {
                        label for="f-body" { "Body ({{1}}, {{2}}… for values filled in at send)" }
                        textarea id="f-body" name="body" rows="4" maxlength="1024" required { (form.body) }
                        @if let Some(e) = field_error(errors, "body").or(field_error(errors, "components")) { p.error { (e) } }
                    }
                    (field_optional("Footer (optional, up to 60 characters)", "footer", &form.footer, field_error(errors, "footer")))
                    fieldset.buttons {
                        legend { "Buttons (optional)" }
                        div.field {
                            label for="f-quick_replies" { "Quick replies, one per line (up to 3)" }
                            textarea id="f-quick_replies" name="quick_replies" rows="3" { (form.quick_replies) }
                            @if let Some(e) = field_error(errors, "quick_replies") { p.error { (e) } }
                        }
                        (field_optional("Link button text", "url_text", &form.url_text, None))
                        (field_optional("Link button address (https://…)", "url", &form.url, field_error(errors, "url")))
                    }
                    @for e in errors.iter().filter(|e| e.field.starts_with("components") && e.field != "components") {
                        p.error { (e.field) ": " (e.message) }
                    }
                    @if !form.body.trim().is_empty() {
                        p { "Preview:" }
                        @let buttons: Vec<&str> = form.quick_replies().chain(Some(form.url_text.trim()).filter(|t| !t.is_empty())).collect();
                        (bubble(Some(&form.header), &form.body, Some(&form.footer), &buttons))
                    }
                    button type="submit" name="action" value="create" { "Submit to Meta for review" }
                }
            }
        },
    ))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(Page::ok(page(&app, &who, &TemplateForm::default(), &[], None).await?).respond(&headers))
}

pub async fn sync(
    State(app): State<Arc<App>>,
    Posted {
        visitor, headers, ..
    }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    allowed(&visitor, Permission::ManageNumbers)?;
    let report = app.sync_templates(&visitor.principal.account_id).await?;
    let notice = format!(
        "Synced: {} templates from {} business accounts; {} no longer at Meta removed.",
        report.templates, report.wabas, report.removed
    );
    let body = page(&app, &visitor, &TemplateForm::default(), &[], Some(&notice)).await?;
    Ok(Page::ok(body).respond(&headers))
}

pub async fn create(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<TemplateForm>,
) -> Result<Response, PageError> {
    allowed(&visitor, Permission::ManageNumbers)?;
    let account = &visitor.principal.account_id;
    let (numbers, _) = app.numbers(account, 1, None).await?;
    let waba = numbers
        .first()
        .map(|n| n.waba_id.clone())
        .ok_or_else(|| PageError::Failed("Connect a number first.".into()))?;
    let mut f = Fields::new();
    let name = f.check("name", TemplateName::parse(form.name.trim()));
    let language = f.check("language", LanguageCode::parse(form.language.trim()));
    let category = f.check("category", TemplateCategory::parse(&form.category));
    if form.body.trim().is_empty() {
        f.fail("body", "is needed");
    }
    if form.quick_replies().count() > 3 {
        f.fail("quick_replies", "take at most 3 buttons");
    }
    let result = match f.finish(|| {
        Some(NewTemplate {
            waba_id: waba,
            name: name?,
            language: language?,
            category: category?,
            components: form.components(),
            parameter_format: None,
        })
    }) {
        Ok(new) => app.create_template(account, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/app/templates").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let body = page(&app, &visitor, &form, &errors, None).await?;
            Ok(Page::ok(body)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(ServiceError::Graph { message, .. }) => {
            let errors = [FieldError {
                field: "body".into(),
                message: format!("Meta refused it: {message}"),
            }];
            let body = page(&app, &visitor, &form, &errors, None).await?;
            Ok(Page::ok(body)
                .status(StatusCode::BAD_GATEWAY)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}
