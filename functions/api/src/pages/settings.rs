//! The account's people, numbers, billing and API keys, for its owner and admins. Each page
//! asks the service whether the visitor's role allows it; agents get a 403 page.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::{
    AccessToken, ApiKeyName, Email, Permission, PhoneNumber, PhoneNumberId, Role, UserId, WabaId,
};
use shared::services::{App, FieldError, Fields, NewNumber, ServiceError, SignedIn};

use super::layout::{self, csrf, field, role_label, Nav};
use super::{allowed, field_error, path_id, Page, PageError, Posted, Visitor};

/// The invitation just made: its link is shown this once.
struct Invited {
    email: String,
    link: String,
}

async fn users_page(
    app: &App,
    who: &SignedIn,
    headers: &HeaderMap,
    invited: Option<Invited>,
    errors: &[FieldError],
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageUsers)?;
    let users = app.users(&who.principal.account_id).await?;
    let base = crate::routes::media::public_base(headers);
    Ok(layout::app(
        who,
        Nav::Users,
        "Users",
        false,
        html! {
            h1 { "Users" }
            @if let Some(i) = &invited {
                div.notice role="status" {
                    p { "Send this link to " strong { (i.email) } ". It works once, for 7 days, and is not shown again:" }
                    p { input.invitation-link type="text" readonly value={(base) (i.link)} aria-label="Invitation link"; }
                }
            }
            table.users {
                caption.sr-only { "The account's users" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Last login" } th scope="col" { span.sr-only { "Actions" } } } }
                tbody {
                    @for u in &users {
                        tr {
                            td { (u.name.as_str()) }
                            td { (u.email.as_str()) }
                            td {
                                @if u.role == Role::Owner {
                                    "Owner"
                                } @else {
                                    form.inline method="post" action={"/app/users/" (u.id) "/role"} {
                                        (csrf(who))
                                        label.sr-only for={"role-" (u.id)} { "Role of " (u.name.as_str()) }
                                        select id={"role-" (u.id)} name="role" {
                                            @for r in [Role::Admin, Role::Agent] {
                                                option value=(r.as_str()) selected[u.role == r] { (role_label(r)) }
                                            }
                                        }
                                        button type="submit" { "Change" }
                                    }
                                }
                            }
                            td { @match u.last_login_at { Some(t) => (t.date().to_string()), None => "never" } }
                            td {
                                @if u.role != Role::Owner {
                                    form.inline method="post" action={"/app/users/" (u.id) "/remove"} {
                                        (csrf(who))
                                        button.danger type="submit" aria-label={"Remove " (u.name.as_str())} { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Invite someone" }
            form method="post" action="/app/users/invitations" novalidate {
                (csrf(who))
                (field("Email", "email", "email", "", field_error(errors, "email"), "off"))
                div.field {
                    label for="f-role" { "Role" }
                    select id="f-role" name="role" {
                        option value="agent" { "Agent: inbox and contacts" }
                        option value="admin" { "Admin: everything but closing the account" }
                    }
                }
                button type="submit" { "Create invitation link" }
            }
        },
    ))
}

pub async fn users(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(Page::ok(users_page(&app, &who, &headers, None, &[]).await?).respond(&headers))
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn invite(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<InviteForm>,
) -> Result<Response, PageError> {
    let mut f = Fields::new();
    let email = f.check("email", Email::parse(&form.email));
    let role = f.check("role", Role::parse(&form.role));
    let result = match f.finish(|| Some((email?, role?))) {
        Ok((email, role)) => app.invite(&visitor.principal, email, role).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((invitation, credential)) => {
            let invited = Invited {
                email: invitation.email.as_str().to_owned(),
                link: format!("/app/join/{credential}"),
            };
            let page = users_page(&app, &visitor, &headers, Some(invited), &[]).await?;
            Ok(Page::ok(page).status(StatusCode::CREATED).respond(&headers))
        }
        Err(ServiceError::Invalid(errors)) => {
            let page = users_page(&app, &visitor, &headers, None, &errors).await?;
            Ok(Page::ok(page)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(ServiceError::EmailTaken) => {
            let errors = [FieldError {
                field: "email".into(),
                message: "already has a WhatATalk login".into(),
            }];
            let page = users_page(&app, &visitor, &headers, None, &errors).await?;
            Ok(Page::ok(page)
                .status(StatusCode::CONFLICT)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, form, .. }: Posted<RoleForm>,
) -> Result<Response, PageError> {
    let id = path_id::<UserId>(&id)?;
    let role = Role::parse(&form.role).map_err(|e| PageError::Failed(format!("Role {}", e.0)))?;
    app.set_role(&visitor.principal, &id, role).await?;
    Ok(Redirect::to("/app/users").into_response())
}

pub async fn remove_user(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    let id = path_id::<UserId>(&id)?;
    app.remove_user(&visitor.principal, &id).await?;
    Ok(Redirect::to("/app/users").into_response())
}

#[derive(Deserialize, Default)]
pub struct NumberForm {
    #[serde(default)]
    phone_number_id: String,
    #[serde(default)]
    waba_id: String,
    #[serde(default)]
    display_phone_number: String,
    #[serde(default)]
    access_token: String,
}

async fn numbers_page(
    app: &App,
    who: &SignedIn,
    form: &NumberForm,
    errors: &[FieldError],
    alert: Option<&str>,
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageNumbers)?;
    let (numbers, _) = app.numbers(&who.principal.account_id, 50, None).await?;
    let mut healths = Vec::with_capacity(numbers.len());
    for n in &numbers {
        healths.push(app.number_health(&who.principal.account_id, n).await?);
    }
    Ok(layout::app(
        who,
        Nav::Numbers,
        "Numbers",
        false,
        html! {
            h1 { "WhatsApp numbers" }
            @if numbers.is_empty() {
                p.empty { "No number yet: connect one below to start receiving messages." }
            } @else {
                @for (n, health) in numbers.iter().zip(&healths) {
                    section.number aria-label={"Number " (n.display_phone_number.e164())} {
                        h2 { (n.display_phone_number.e164()) }
                        dl.facts {
                            dt { "Phone number id" } dd { code { (n.phone_number_id) } }
                            dt { "WhatsApp Business Account" } dd { code { (n.waba_id.as_str()) } }
                            dt { "Throughput" } dd { (n.messages_per_second) " messages a second" }
                            dt { "Messaging limit" } dd {
                                @match health.messaging_limit {
                                    Some(l) => { (l) " people a day may get a template from you (Meta's limit for your business)" }
                                    None => "not told by Meta yet",
                                }
                            }
                            dt { "Quality" } dd {
                                @match &health.quality_event {
                                    Some((event, tier, at)) => {
                                        (event.to_lowercase()) @if let Some(t) = tier { ", limit " (t) } " (Meta, " (at.date().to_string()) ")"
                                        @if event == "FLAGGED" { br; span.alert { "Recipients are blocking or reporting your messages: send fewer marketing templates until Meta unflags the number." } }
                                    }
                                    None => "no warning from Meta",
                                }
                            }
                            dt { "Sending" } dd {
                                @match &n.sending_stopped {
                                    Some(s) => span.alert { "stopped: " (s.reason) " (Meta error " (s.code) ", " (s.at.date().to_string()) ")" },
                                    None => "allowed",
                                }
                            }
                        }
                        @if n.sending_stopped.is_some() {
                            p { "Meta refused this number's token. Make a new system user token in Meta's Business Manager and paste it here to resume:" }
                        }
                        form method="post" action={"/app/numbers/" (n.phone_number_id) "/token"} {
                            (csrf(who))
                            div.field {
                                label for={"t-" (n.phone_number_id)} { "Replace the access token" }
                                input id={"t-" (n.phone_number_id)} name="access_token" type="password" autocomplete="off" required;
                            }
                            button type="submit" { "Save the new token" }
                        }
                    }
                }
            }
            h2 { "Connect a number" }
            p.muted { "From Meta's WhatsApp Manager: the phone number id, its WhatsApp Business Account id, and a system user token with whatsapp_business_messaging and whatsapp_business_management." }
            @if let Some(a) = alert { p.alert role="alert" { (a) } }
            form method="post" action="/app/numbers" novalidate {
                (csrf(who))
                (field("Phone number id", "phone_number_id", "text", &form.phone_number_id, field_error(errors, "phone_number_id"), "off"))
                (field("WhatsApp Business Account id", "waba_id", "text", &form.waba_id, field_error(errors, "waba_id"), "off"))
                (field("Access token", "access_token", "password", "", field_error(errors, "access_token"), "off"))
                div.field {
                    label for="f-display_phone_number" { "Display number (optional)" }
                    input id="f-display_phone_number" name="display_phone_number" type="tel" value=(form.display_phone_number) autocomplete="off";
                    @if let Some(e) = field_error(errors, "display_phone_number") { p.error { (e) } }
                }
                button type="submit" { "Connect" }
            }
        },
    ))
}

pub async fn numbers(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let page = numbers_page(&app, &who, &NumberForm::default(), &[], None).await?;
    Ok(Page::ok(page).respond(&headers))
}

pub async fn connect_number(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<NumberForm>,
) -> Result<Response, PageError> {
    allowed(&visitor, Permission::ManageNumbers)?;
    let mut f = Fields::new();
    let id = f.check(
        "phone_number_id",
        PhoneNumberId::parse(form.phone_number_id.trim()),
    );
    let waba = f.check("waba_id", WabaId::parse(form.waba_id.trim()));
    let token = f.check("access_token", AccessToken::parse(form.access_token.trim()));
    let display = match form.display_phone_number.trim() {
        "" => None,
        d => Some(f.check("display_phone_number", PhoneNumber::from_meta(d))),
    };
    let result = match f.finish(|| {
        Some(NewNumber {
            phone_number_id: id?,
            waba_id: waba?,
            display_phone_number: Fields::given(display)?,
            access_token: token?,
        })
    }) {
        Ok(new) => app.connect_number_by(&visitor.principal, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/app/numbers").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let page = numbers_page(&app, &visitor, &form, &errors, None).await?;
            Ok(Page::ok(page)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(e @ ServiceError::Forbidden(_)) => Err(e.into()),
        Err(e) => {
            let problem = shared::http::Problem::from(e);
            let text = problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.kind.title().to_owned());
            let page = numbers_page(&app, &visitor, &form, &[], Some(&text)).await?;
            Ok(Page::ok(page)
                .status(problem.kind.status())
                .respond(&headers))
        }
    }
}

pub async fn billing(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    allowed(&who, Permission::ManageBilling)?;
    let b = app.billing(&who.principal.account_id).await?;
    let usage = app.usage(&who.principal.account_id, &b.month).await?;
    let portal = app.portal_link(&who.principal)?;
    let mut plans = Vec::new();
    for p in &app.billing_config.plans {
        plans.push((p, app.checkout_link(&who.principal, &p.id)?));
    }
    let page = layout::app(
        &who,
        Nav::Billing,
        "Billing",
        false,
        html! {
            h1 { "Billing" }
            dl.facts {
                dt { "Plan" } dd { (b.plan.name) }
                dt { "Subscription" } dd { (b.state.map(|s| s.as_str()).unwrap_or("none (the free plan)")) }
                dt { "Template messages this month (" (b.month) ")" }
                dd { (b.templates_used) " of " (b.plan.included_template_messages) " included" }
                dt { "Sending" } dd { @if b.sending_allowed { "allowed" } @else { "stopped: see the subscription" } }
                @if let Some(c) = &usage.currency {
                    dt { "Meta's charges this month (estimate)" }
                    dd { (format!("{:.2}", usage.estimated_meta_cost_micros as f64 / 1e6)) " " (c) }
                }
            }
            @if let Some(url) = &portal {
                p { a.button href=(url.as_str()) rel="noopener" { "Manage payment method and invoices" } }
            }
            h2 { "Plans" }
            table.plans {
                caption.sr-only { "Plans" }
                thead { tr {
                    th scope="col" { "Plan" } th scope="col" { "Per month" } th scope="col" { "Template messages included" }
                    th scope="col" { "Numbers" } th scope="col" { "Contacts" } th scope="col" { span.sr-only { "Action" } }
                } }
                tbody {
                    @for (p, checkout) in &plans {
                        tr {
                            td { (p.name) }
                            td { (format!("{:.2}", p.monthly_price_cents as f64 / 100.0)) " " (p.currency.to_uppercase()) }
                            td { (p.included_template_messages) }
                            td { (p.numbers) }
                            td { (p.contacts) }
                            td {
                                @if p.id == b.plan.id { "Your plan" }
                                @else if b.state.is_some() {
                                    // A subscriber changes plan where the subscription is.
                                    @if let Some(url) = &portal { a href=(url.as_str()) rel="noopener" aria-label={"Switch to " (p.name)} { "Switch in the portal" } }
                                }
                                @else if let Some(url) = checkout {
                                    a href=(url.as_str()) rel="noopener" aria-label={"Choose " (p.name)} { "Choose" }
                                }
                            }
                        }
                    }
                }
            }
            @if plans.iter().all(|(_, c)| c.is_none()) && portal.is_none() {
                p.muted { "Online payment is not set up on this installation: ask us to change your plan." }
            }
            h2 { "Messages Meta priced this month, by day" }
            @if usage.by_day.is_empty() {
                p.empty { "None yet this month." }
            } @else {
                (super::chart::usage_chart(&usage))
            }
            table.usage {
                caption { "By category, " (usage.period) }
                thead { tr { th scope="col" { "Category" } th scope="col" { "Billable" } th scope="col" { "Free" } } }
                tbody {
                    @for (category, n) in &usage.by_category {
                        tr { td { (category.to_lowercase()) } td { (n.billable) } td { (n.free) } }
                    }
                    @if usage.by_category.is_empty() { tr { td colspan="3" { "None yet." } } }
                }
            }
        },
    );
    Ok(Page::ok(page).respond(&headers))
}

async fn keys_page(
    app: &App,
    who: &SignedIn,
    new_key: Option<&str>,
    alert: Option<&str>,
) -> Result<Markup, PageError> {
    allowed(who, Permission::ManageKeys)?;
    let (keys, _) = app.api_keys(&who.principal.account_id, 100, None).await?;
    Ok(layout::app(
        who,
        Nav::Keys,
        "API keys",
        false,
        html! {
            h1 { "API keys" }
            p.muted { "Keys let your own systems use the REST API as the account's owner." }
            @if let Some(a) = alert { p.alert role="alert" { (a) } }
            @if let Some(k) = new_key {
                div.notice role="status" {
                    p { "Your new key. Copy it now: it is not shown again." }
                    p { input.secret type="text" readonly value=(k) aria-label="New API key"; }
                }
            }
            @if keys.is_empty() {
                p.empty { "No API keys. Create one for an integration." }
            } @else {
                ul.keys {
                    @for k in &keys {
                        li {
                            strong { (k.name.as_str()) } " · " code { (k.prefix) "…" } " · " (if k.revoked_at.is_some() { "revoked" } else { "active" })
                            @if k.revoked_at.is_none() {
                                form.inline method="post" action={"/app/keys/" (k.id) "/revoke"} {
                                    (csrf(who))
                                    button.danger type="submit" aria-label={"Revoke " (k.name.as_str())} { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/app/keys" {
                (csrf(who))
                (field("Name", "name", "text", "", None, "off"))
                button type="submit" { "Create key" }
            }
        },
    ))
}

pub async fn keys(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(Page::ok(keys_page(&app, &who, None, None).await?).respond(&headers))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
}

pub async fn create_key(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<KeyForm>,
) -> Result<Response, PageError> {
    let name = ApiKeyName::parse(&form.name)
        .map_err(|e| PageError::Failed(format!("The name {}", e.0)))?;
    let (_, secret) = app.create_api_key(&visitor.principal, name).await?;
    let page = keys_page(&app, &visitor, Some(secret.expose()), None).await?;
    Ok(Page::ok(page).status(StatusCode::CREATED).respond(&headers))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    access_token: String,
}

/// A new token for a number: it is proven with Meta as at connect, and lifts a stop the old
/// one caused.
pub async fn replace_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<TokenForm>,
) -> Result<Response, PageError> {
    let id = PhoneNumberId::parse(&id).map_err(|_| PageError::NotFound)?;
    // Another account's number is not found, whatever the form holds.
    allowed(&visitor, Permission::ManageNumbers)?;
    app.number(&visitor.principal.account_id, &id).await?;
    let result = match AccessToken::parse(form.access_token.trim()) {
        Ok(token) => {
            let changes = shared::services::NumberChanges {
                access_token: Some(token),
                ..Default::default()
            };
            app.update_number(&visitor.principal, &id, changes).await
        }
        Err(e) => Err(ServiceError::invalid("access_token", &e.0)),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/app/numbers").into_response()),
        Err(e @ (ServiceError::NotFound | ServiceError::Forbidden(_))) => Err(e.into()),
        Err(e) => {
            let problem = shared::http::Problem::from(e);
            let text = problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.kind.title().to_owned());
            let page =
                numbers_page(&app, &visitor, &NumberForm::default(), &[], Some(&text)).await?;
            Ok(Page::ok(page)
                .status(problem.kind.status())
                .respond(&headers))
        }
    }
}

/// Revokes a key at once (never the last active one while no user could make another).
pub async fn revoke_key(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted {
        visitor, headers, ..
    }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    let id: shared::domain::ApiKeyId = id.parse().map_err(|_| PageError::NotFound)?;
    match app.revoke_api_key(&visitor.principal, &id).await {
        Ok(()) => Ok(Redirect::to("/app/keys").into_response()),
        Err(ServiceError::LastApiKey) => {
            let page = keys_page(
                &app,
                &visitor,
                None,
                Some("This is the last active key: create another first, then revoke this one."),
            )
            .await?;
            Ok(Page::ok(page)
                .status(StatusCode::CONFLICT)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}
