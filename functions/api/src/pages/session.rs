//! Who is looking at a page: the session cookie, and the CSRF token every form carries.
//!
//! The cookie is `HttpOnly`, `SameSite=Lax`, and `Secure` with the `__Host-` prefix, except
//! when the page is served over plain HTTP on a loopback address (the local runner), where a
//! browser would drop a `Secure` cookie.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;
use shared::services::{App, SessionCookie, SignedIn};
use subtle::ConstantTimeEq;

use super::PageError;

const SECURE_COOKIE: &str = "__Host-wat_session";
const LOCAL_COOKIE: &str = "wat_session";
/// The CSRF token of a form shown before sign-in (login, signup, invitation): a cookie
/// the form must repeat (double submit).
const SECURE_PRE: &str = "__Host-wat_csrf";
const LOCAL_PRE: &str = "wat_csrf";
/// Largest form body read.
pub const FORM_LIMIT: usize = 64 * 1024;

/// Whether the request reached a loopback host over plain HTTP (the local runner).
fn is_local(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    !forwarded_https && matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn names(headers: &HeaderMap) -> (&'static str, &'static str, &'static str) {
    match is_local(headers) {
        true => (LOCAL_COOKIE, LOCAL_PRE, ""),
        false => (SECURE_COOKIE, SECURE_PRE, "; Secure"),
    }
}

/// The session cookie's value in this request, if any.
pub fn session_credential(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, names(headers).0)
}

/// `Set-Cookie` for a new session: lives as long as the session may.
pub fn set_session(headers: &HeaderMap, credential: &SessionCookie) -> String {
    let (name, _, secure) = names(headers);
    let max_age = shared::domain::Session::ABSOLUTE.whole_seconds();
    format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        credential.expose()
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session(headers: &HeaderMap) -> String {
    let (name, _, secure) = names(headers);
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The pre-session CSRF token of this browser, and the `Set-Cookie` that gives it one when
/// it has none yet.
pub fn pre_session_token(headers: &HeaderMap) -> (String, Option<String>) {
    let (_, name, secure) = names(headers);
    match cookie(headers, name).filter(|v| v.len() == 64) {
        Some(v) => (v.to_owned(), None),
        None => {
            let token = shared::crypto::random::token_hex();
            let set = format!("{name}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
            (token, Some(set))
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A state-changing request from another site: its `Origin` names another host.
fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    origin_host != host
}

/// A signed-in visitor. A page that takes one sends everyone else to the login page.
pub struct Visitor(pub SignedIn);

impl Visitor {
    pub async fn from_headers(app: &App, headers: &HeaderMap) -> Result<Self, PageError> {
        let credential = session_credential(headers).ok_or(PageError::SignIn)?;
        Ok(Visitor(app.session(credential).await?))
    }
}

impl FromRequestParts<Arc<App>> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, PageError> {
        Visitor::from_headers(app, &parts.headers).await
    }
}

/// A form posted by a signed-in visitor from one of our pages: the session's CSRF token is
/// in the form (`_csrf`) or in `X-CSRF-Token` (scripts), and no other origin sent it.
pub struct Posted<T> {
    pub visitor: SignedIn,
    pub form: T,
    pub headers: HeaderMap,
}

impl<T: DeserializeOwned> FromRequest<Arc<App>> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, PageError> {
        let (parts, body) = req.into_parts();
        let Visitor(visitor) = Visitor::from_headers(app, &parts.headers).await?;
        let form = read_form(&parts.headers, body, &visitor.session.csrf).await?;
        Ok(Posted {
            visitor,
            form,
            headers: parts.headers,
        })
    }
}

/// A form posted before sign-in (login, signup, joining), holding the pre-session token.
pub struct PostedAnonymous<T> {
    pub form: T,
    pub headers: HeaderMap,
}

impl<T: DeserializeOwned> FromRequest<Arc<App>> for PostedAnonymous<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, _: &Arc<App>) -> Result<Self, PageError> {
        let (parts, body) = req.into_parts();
        let expected = cookie(&parts.headers, names(&parts.headers).1)
            .unwrap_or_default()
            .to_owned();
        let form = read_form(&parts.headers, body, &expected).await?;
        Ok(PostedAnonymous {
            form,
            headers: parts.headers,
        })
    }
}

/// The form's fields, once its token matches `expected` and no other origin sent it.
async fn read_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: axum::body::Body,
    expected: &str,
) -> Result<T, PageError> {
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| PageError::Failed("The form is too large.".into()))?;
    if cross_origin(headers) || !same(&form_token(headers, &bytes), expected) {
        return Err(PageError::Forged);
    }
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| PageError::Failed("The form could not be read.".into()))
}

fn form_token(headers: &HeaderMap, body: &Bytes) -> String {
    if let Some(h) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return h.to_owned();
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "_csrf"))
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_plain_loopback_gets_the_insecure_cookie() {
        assert!(is_local(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(is_local(&headers(&[("host", "localhost")])));
        assert!(!is_local(&headers(&[("host", "app.whatatalk.dev")])));
        assert!(!is_local(&headers(&[
            ("host", "localhost:3000"),
            ("x-forwarded-proto", "https")
        ])));
        let h = headers(&[("host", "app.whatatalk.dev")]);
        assert!(clear_session(&h).starts_with("__Host-wat_session=;"));
        assert!(clear_session(&h).ends_with("; Secure"));
    }

    #[test]
    fn another_origin_is_refused_and_none_is_not() {
        assert!(cross_origin(&headers(&[
            ("host", "a.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(!cross_origin(&headers(&[
            ("host", "a.example"),
            ("origin", "https://a.example")
        ])));
        assert!(!cross_origin(&headers(&[("host", "a.example")])));
    }
}
