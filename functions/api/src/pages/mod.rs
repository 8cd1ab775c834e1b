//! The app: server-rendered pages for a business's owner and agents, served by the API's own
//! router under `/app` (Lambda and the local runner alike). HTML comes from maud, which
//! escapes every value; the only script is `static/app.js`, from the binary, under a
//! Content-Security-Policy that allows no inline script. Every page works as plain forms.

mod auth;
mod broadcasts;
mod chart;
mod contacts;
mod imports;
mod inbox;
mod layout;
mod privacy;
mod session;
mod settings;
mod templates;
mod webhooks;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;
use sha2::{Digest, Sha256};
use shared::domain::Permission;
use shared::http::RouteTable;
use shared::services::{App, FieldError, ServiceError, SignedIn};

pub use session::{Posted, Visitor};

/// The app's routes, listed apart from the JSON API's (openapi.yaml documents those only;
/// docs/console.md lists these).
pub fn table() -> RouteTable<Arc<App>> {
    RouteTable::new()
        .get("/app", home)
        .get("/app/static/app.js", script)
        .get("/app/static/app.css", style)
        .get("/app/signup", auth::signup_page)
        .post("/app/signup", auth::signup)
        .get("/app/login", auth::login_page)
        .post("/app/login", auth::login)
        .post("/app/logout", auth::logout)
        .get("/app/join/{invitation}", auth::join_page)
        .post("/app/join/{invitation}", auth::join)
        .get("/app/password", auth::password_page)
        .post("/app/password", auth::change_password)
        .get("/app/inbox", inbox::index)
        .get("/app/inbox/{contact_id}", inbox::thread)
        .post("/app/inbox/{contact_id}/messages", inbox::send_text)
        .post("/app/inbox/{contact_id}/templates", inbox::send_template)
        .post("/app/inbox/{contact_id}/read", inbox::read)
        .post("/app/inbox/{contact_id}/assign", inbox::assign)
        .post("/app/inbox/{contact_id}/notes", inbox::note)
        .get("/app/media/{media_id}", inbox::media)
        .get("/app/contacts", contacts::list)
        .post("/app/contacts", contacts::create)
        .get("/app/contacts/imports", imports::list)
        .post("/app/contacts/imports", imports::create)
        .get("/app/contacts/imports/{import_id}", imports::show)
        .post("/app/contacts/imports/{import_id}/start", imports::start)
        .get(
            "/app/contacts/imports/{import_id}/errors.csv",
            imports::errors,
        )
        .get("/app/contacts/{contact_id}", contacts::show)
        .post("/app/contacts/{contact_id}", contacts::update)
        .post("/app/contacts/{contact_id}/delete", contacts::delete)
        .get("/app/users", settings::users)
        .post("/app/users/invitations", settings::invite)
        .post("/app/users/{user_id}/role", settings::set_role)
        .post("/app/users/{user_id}/remove", settings::remove_user)
        .get("/app/numbers", settings::numbers)
        .post("/app/numbers", settings::connect_number)
        .post(
            "/app/numbers/{phone_number_id}/token",
            settings::replace_token,
        )
        .get("/app/broadcasts", broadcasts::list)
        .get("/app/broadcasts/new", broadcasts::new)
        .post("/app/broadcasts", broadcasts::create)
        .get("/app/broadcasts/{broadcast_id}", broadcasts::show)
        .post("/app/broadcasts/{broadcast_id}/pause", broadcasts::pause)
        .post("/app/broadcasts/{broadcast_id}/resume", broadcasts::resume)
        .post("/app/broadcasts/{broadcast_id}/cancel", broadcasts::cancel)
        .get(
            "/app/broadcasts/{broadcast_id}/recipients.csv",
            broadcasts::recipients_csv,
        )
        .get("/app/templates", templates::list)
        .post("/app/templates", templates::create)
        .post("/app/templates/sync", templates::sync)
        .get("/app/privacy", privacy::show)
        .get("/app/privacy/policy", privacy::policy)
        .post("/app/privacy/accept", privacy::accept)
        .post("/app/privacy/exports", privacy::request_export)
        .get("/app/privacy/exports/{export_id}", privacy::export)
        .post(
            "/app/privacy/exports/{export_id}/download",
            privacy::download,
        )
        .post("/app/privacy/close", privacy::close)
        .get("/app/billing", settings::billing)
        .get("/app/webhooks", webhooks::list)
        .post("/app/webhooks", webhooks::create)
        .get("/app/webhooks/{endpoint_id}", webhooks::show)
        .post("/app/webhooks/{endpoint_id}/test", webhooks::test)
        .post("/app/webhooks/{endpoint_id}/enabled", webhooks::set_enabled)
        .post("/app/webhooks/{endpoint_id}/replay", webhooks::replay)
        .post("/app/webhooks/{endpoint_id}/secret", webhooks::rotate)
        .post("/app/webhooks/{endpoint_id}/delete", webhooks::delete)
        .get("/app/keys", settings::keys)
        .post("/app/keys", settings::create_key)
        .post("/app/keys/{key_id}/revoke", settings::revoke_key)
}

/// Every page route as (method, path): docs/console.md and the cross-tenant test use it.
pub fn served() -> Vec<(&'static str, &'static str)> {
    table().served().to_vec()
}

/// What every page answer carries: no inline script, no framing, no caching of personal
/// pages, no referrer to other sites (an invitation link's token is in its path; with
/// `no-referrer` Chromium would send `Origin: null` on our own forms).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

fn with_page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    // A page that uploads to the blob store widened its own `connect-src`.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// An HTML page; with an ETag of its bytes, so the inbox's live refresh costs a 304 when
/// nothing changed.
pub struct Page {
    status: StatusCode,
    markup: Markup,
    headers: Vec<(header::HeaderName, String)>,
}

impl Page {
    pub fn ok(markup: Markup) -> Self {
        Self {
            status: StatusCode::OK,
            markup,
            headers: Vec::new(),
        }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Lets the page's script also connect to `origin` (the blob store its uploads go to).
    pub fn connecting_to(self, origin: &str) -> Self {
        let csp = CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' {origin}"),
        );
        self.header(header::CONTENT_SECURITY_POLICY, csp)
    }

    /// Answers 304 when the browser holds these bytes already.
    pub fn respond(self, request: &HeaderMap) -> Response {
        let body = self.markup.into_string();
        let etag = format!(
            "\"{}\"",
            hex::encode(&Sha256::digest(body.as_bytes())[..12])
        );
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == etag);
        let mut response = if fresh && self.status == StatusCode::OK {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (
                self.status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response()
        };
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        with_page_headers(response)
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        self.respond(&HeaderMap::new())
    }
}

/// A page that could not be shown: the visitor signs in first, may not see it, or it does
/// not exist (another account's conversation included).
#[derive(Debug)]
pub enum PageError {
    SignIn,
    NotFound,
    Forbidden(String),
    /// A form the request did not come from (no or a wrong CSRF token, another origin).
    Forged,
    TooMany(String),
    Failed(String),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound | ServiceError::AccountClosing => PageError::NotFound,
            ServiceError::Unauthorized => PageError::SignIn,
            e @ ServiceError::Forbidden(_) => {
                let p = shared::http::Problem::from(e);
                PageError::Forbidden(p.detail.unwrap_or_default())
            }
            ServiceError::RateLimited(r) => PageError::TooMany(format!(
                "Too many attempts; try again in {} minutes.",
                r.retry_after_ms.div_ceil(60_000)
            )),
            e => {
                let p = shared::http::Problem::from(e);
                if p.kind.status().is_server_error() {
                    tracing::error!(problem = p.kind.slug(), "page failed");
                }
                PageError::Failed(p.detail.unwrap_or_else(|| p.kind.title().to_owned()))
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PageError::SignIn => return with_page_headers(Redirect::to("/app/login").into_response()),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.".to_owned(),
            ),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why),
            PageError::Forged => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from this page, or it is too old. Go back, reload and try again."
                    .to_owned(),
            ),
            PageError::TooMany(why) => (StatusCode::TOO_MANY_REQUESTS, "Slow down", why),
            PageError::Failed(why) => (StatusCode::BAD_GATEWAY, "That did not work", why),
        };
        Page::ok(layout::bare(title, &text))
            .status(status)
            .into_response()
    }
}

/// The service's answer to whether the visitor's role allows `what`, as a page: 403.
pub fn allowed(who: &SignedIn, what: Permission) -> Result<(), PageError> {
    who.principal.require(what).map_err(PageError::from)
}

/// A form with nothing in it but its CSRF token (a button).
#[derive(serde::Deserialize)]
pub struct Empty {}

/// An id from a page's path: one that does not parse names nothing of ours, the same 404 as
/// any other.
pub fn path_id<T: std::str::FromStr>(raw: &str) -> Result<T, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

/// How a contact is called on a page: its name, else its phone, else its WhatsApp username.
pub fn contact_label(c: &shared::domain::Contact) -> String {
    c.name
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .or_else(|| c.phone.as_ref().map(|p| p.e164().to_owned()))
        .or_else(|| c.username.as_ref().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| "Unnamed contact".into())
}

/// A time as every page shows it: `2026-12-07 10:04 UTC`.
pub fn when(t: shared::domain::Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&format).unwrap_or_default()
}

/// The message a failed form shows next to `field`, if the error names it.
pub fn field_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match Visitor::from_headers(&app, &headers).await {
        Ok(_) => Redirect::to("/app/inbox").into_response(),
        Err(_) => Redirect::to("/app/login").into_response(),
    }
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    )
}

async fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    with_page_headers(
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            body,
        )
            .into_response(),
    )
}
