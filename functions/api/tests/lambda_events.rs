//! The router driven by API Gateway events, the way Lambda delivers them: the sample events in
//! `events/api/` are parsed by lambda_http and answered by the same router.
#![cfg(feature = "aws")]

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn answer(event: &str) -> (u16, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(shared::testing::local_app(dir.path()));
    let request = lambda_http::request::from_str(event).unwrap();
    let (parts, body) = request.into_parts();
    let body = Body::from(body.to_vec());
    let response = api::router(app)
        .oneshot(http::Request::from_parts(parts, body))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn health_event() {
    let (status, body) = answer(include_str!("../../../events/api/health.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn signup_event() {
    let (status, body) = answer(include_str!("../../../events/api/signup.json")).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["api_key"].as_str().unwrap().starts_with("wat_"));
    assert_eq!(body["account"]["email"], "owner@example.com");
}

#[tokio::test]
async fn unknown_key_event() {
    let (status, body) = answer(include_str!("../../../events/api/account-unknown-key.json")).await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], "https://whatatalk.dev/problems/unauthorized");
}

/// A page of the app through the same router on Lambda: HTML, its security headers, and the
/// pre-session cookie as an HTTPS host gets it.
#[tokio::test]
async fn app_page_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(shared::testing::local_app(dir.path()));
    let request =
        lambda_http::request::from_str(include_str!("../../../events/api/app-login.json")).unwrap();
    let (parts, body) = request.into_parts();
    let response = api::router(app)
        .oneshot(http::Request::from_parts(parts, Body::from(body.to_vec())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        h["content-security-policy"],
        api::pages::CONTENT_SECURITY_POLICY
    );
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-wat_csrf=") && cookie.ends_with("; Secure"),
        "{cookie}"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/app/login\">"),
        "{html}"
    );
}
