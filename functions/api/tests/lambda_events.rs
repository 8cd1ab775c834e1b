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
