//! Signing up, in and out, joining by invitation, and changing one's password.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::{BusinessName, Email, Password, UserName};
use shared::services::{App, FieldError, Fields, NewAccount, ServiceError, SessionCookie};

use super::layout::{self, field, pre_csrf};
use super::session::{self, PostedAnonymous};
use super::{field_error, Page, PageError, Posted, Visitor};

/// Signed in: to the inbox, with the session cookie.
fn signed_in(headers: &HeaderMap, cookie: &SessionCookie) -> Response {
    let mut r = Redirect::to("/app/inbox").into_response();
    if let Ok(v) = session::set_session(headers, cookie).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// A signed-out form page, with the pre-session CSRF cookie when the browser has none.
fn anonymous_page(
    headers: &HeaderMap,
    status: StatusCode,
    build: impl FnOnce(&str) -> Markup,
) -> Response {
    let (token, set) = session::pre_session_token(headers);
    let mut page = Page::ok(build(&token)).status(status);
    if let Some(set) = set {
        page = page.header(header::SET_COOKIE, set);
    }
    page.respond(headers)
}

#[derive(Deserialize, Default)]
pub struct SignupForm {
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn signup_form(token: &str, form: &SignupForm, errors: &[FieldError]) -> Markup {
    layout::plain(
        "Sign up",
        html! {
            h1 { "Create your WhatATalk account" }
            form method="post" action="/app/signup" novalidate {
                (pre_csrf(token))
                (field("Business name", "business_name", "text", &form.business_name, field_error(errors, "business_name"), "organization"))
                (field("Your name", "name", "text", &form.name, field_error(errors, "name"), "name"))
                (field("Email", "email", "email", &form.email, field_error(errors, "email"), "email"))
                (field("Password (at least 15 characters)", "password", "password", "", field_error(errors, "password"), "new-password"))
                button type="submit" { "Create account" }
            }
            p { "Have an account? " a href="/app/login" { "Log in" } }
        },
    )
}

pub async fn signup_page(headers: HeaderMap) -> Response {
    anonymous_page(&headers, StatusCode::OK, |t| {
        signup_form(t, &SignupForm::default(), &[])
    })
}

pub async fn signup(
    State(app): State<Arc<App>>,
    PostedAnonymous { form, headers }: PostedAnonymous<SignupForm>,
) -> Result<Response, PageError> {
    if let Some(address) = crate::auth::client_address(&headers) {
        app.admit_signup(&address).await?;
    }
    let mut f = Fields::new();
    let business = f.check("business_name", BusinessName::parse(&form.business_name));
    let name = f.check("name", UserName::parse(&form.name));
    let email = f.check("email", Email::parse(&form.email));
    let password = f.check("password", Password::parse(&form.password));
    let parsed = f.finish(|| Some((business?, name?, email?, password?)));
    let result = match parsed {
        Ok((business_name, name, email, password)) => {
            let new = NewAccount {
                business_name,
                email,
                default_region: None,
            };
            app.signup_owner(new, name, password).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((_, _, cookie)) => Ok(signed_in(&headers, &cookie)),
        Err(ServiceError::Invalid(errors)) => Ok(anonymous_page(
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            |t| signup_form(t, &form, &errors),
        )),
        Err(ServiceError::EmailTaken) => {
            let errors = [FieldError {
                field: "email".into(),
                message: "has an account already: log in instead".into(),
            }];
            Ok(anonymous_page(&headers, StatusCode::CONFLICT, |t| {
                signup_form(t, &form, &errors)
            }))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn login_form(token: &str, email: &str, error: Option<&str>) -> Markup {
    layout::plain(
        "Log in",
        html! {
            h1 { "Log in" }
            @if let Some(e) = error {
                p.alert role="alert" { (e) }
            }
            form method="post" action="/app/login" {
                (pre_csrf(token))
                (field("Email", "email", "email", email, None, "username"))
                (field("Password", "password", "password", "", None, "current-password"))
                button type="submit" { "Log in" }
            }
            p { "New here? " a href="/app/signup" { "Create an account" } }
        },
    )
}

pub async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if Visitor::from_headers(&app, &headers).await.is_ok() {
        return Redirect::to("/app/inbox").into_response();
    }
    anonymous_page(&headers, StatusCode::OK, |t| login_form(t, "", None))
}

pub async fn login(
    State(app): State<Arc<App>>,
    PostedAnonymous { form, headers }: PostedAnonymous<LoginForm>,
) -> Result<Response, PageError> {
    let address = crate::auth::client_address(&headers);
    match app
        .login(&form.email, &form.password, address.as_deref())
        .await
    {
        Ok((_, cookie)) => Ok(signed_in(&headers, &cookie)),
        Err(ServiceError::Unauthorized) => {
            Ok(anonymous_page(&headers, StatusCode::UNAUTHORIZED, |t| {
                login_form(t, &form.email, Some("The email or the password is wrong."))
            }))
        }
        Err(ServiceError::RateLimited(r)) => {
            let wait = r.retry_after_ms.div_ceil(60_000);
            let text = format!("Too many attempts. Try again in {wait} minutes.");
            Ok(anonymous_page(
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                |t| login_form(t, &form.email, Some(&text)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(
    State(app): State<Arc<App>>,
    Posted { headers, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    if let Some(c) = session::session_credential(&headers) {
        app.logout(c).await?;
    }
    let mut r = Redirect::to("/app/login").into_response();
    if let Ok(v) = session::clear_session(&headers).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Deserialize, Default)]
pub struct JoinForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

fn join_form(
    token: &str,
    invitation: &str,
    email: &str,
    form: &JoinForm,
    errors: &[FieldError],
) -> Markup {
    layout::plain(
        "Join",
        html! {
            h1 { "Join your team on WhatATalk" }
            p { "You were invited as " strong { (email) } "." }
            form method="post" action={"/app/join/" (invitation)} novalidate {
                (pre_csrf(token))
                (field("Your name", "name", "text", &form.name, field_error(errors, "name"), "name"))
                (field("Password (at least 15 characters)", "password", "password", "", field_error(errors, "password"), "new-password"))
                button type="submit" { "Join" }
            }
        },
    )
}

pub async fn join_page(
    State(app): State<Arc<App>>,
    Path(invitation): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let found = app.invitation(&invitation).await?;
    Ok(anonymous_page(&headers, StatusCode::OK, |t| {
        join_form(
            t,
            &invitation,
            found.email.as_str(),
            &JoinForm::default(),
            &[],
        )
    }))
}

pub async fn join(
    State(app): State<Arc<App>>,
    Path(invitation): Path<String>,
    PostedAnonymous { form, headers }: PostedAnonymous<JoinForm>,
) -> Result<Response, PageError> {
    let found = app.invitation(&invitation).await?;
    let mut f = Fields::new();
    let name = f.check("name", UserName::parse(&form.name));
    let password = f.check("password", Password::parse(&form.password));
    let result = match f.finish(|| Some((name?, password?))) {
        Ok((name, password)) => app.accept_invitation(&invitation, name, password).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((_, cookie)) => Ok(signed_in(&headers, &cookie)),
        Err(ServiceError::Invalid(errors)) => Ok(anonymous_page(
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            |t| join_form(t, &invitation, found.email.as_str(), &form, &errors),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

fn password_form(who: &shared::services::SignedIn, errors: &[FieldError], done: bool) -> Markup {
    layout::app(
        who,
        layout::Nav::Password,
        "Password",
        false,
        html! {
            h1 { "Change your password" }
            @if done {
                p.notice role="status" { "Your password is changed. Your other sessions have ended." }
            }
            form method="post" action="/app/password" novalidate {
                (layout::csrf(who))
                (field("Current password", "current_password", "password", "", field_error(errors, "current_password"), "current-password"))
                (field("New password (at least 15 characters)", "new_password", "password", "", field_error(errors, "new_password"), "new-password"))
                button type="submit" { "Change password" }
            }
        },
    )
}

pub async fn password_page(Visitor(who): Visitor, headers: HeaderMap) -> Response {
    Page::ok(password_form(&who, &[], false)).respond(&headers)
}

pub async fn change_password(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<PasswordForm>,
) -> Result<Response, PageError> {
    let credential = session::session_credential(&headers).unwrap_or_default();
    let result = match Password::parse(&form.new_password) {
        Ok(new) => {
            app.change_password(&visitor, credential, &form.current_password, new)
                .await
        }
        Err(e) => Err(ServiceError::invalid("new_password", &e.0)),
    };
    match result {
        Ok(()) => Ok(Page::ok(password_form(&visitor, &[], true)).respond(&headers)),
        Err(ServiceError::Invalid(errors)) => Ok(Page::ok(password_form(&visitor, &errors, false))
            .status(StatusCode::UNPROCESSABLE_ENTITY)
            .respond(&headers)),
        Err(e) => Err(e.into()),
    }
}
