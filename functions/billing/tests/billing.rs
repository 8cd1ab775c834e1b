//! The billing router called as the Lambda runtime calls it, on the local adapters (or the AWS
//! ones under `WHATATALK_TEST_BACKEND=aws`). The subscription's whole lifecycle through the
//! runner is in tests/tests/billing.rs.

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::domain::{ApiKeyName, BusinessName, Email};
use shared::payments::signature::sign;
use shared::services::{App, NewAccount};
use tower::ServiceExt;

const SECRET: &str = "whsec_test_billing_secret";

async fn billing() -> (Arc<App>, Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(shared::testing::test_app(dir.path()).await);
    let (account, _, _) = app
        .signup(
            NewAccount {
                business_name: BusinessName::parse("Billed").unwrap(),
                email: Email::parse("billed@example.com").unwrap(),
                default_region: None,
            },
            ApiKeyName::parse("default").unwrap(),
        )
        .await
        .unwrap();
    let config = billing::BillingWebhookConfig::new(SECRET).unwrap();
    let router = billing::router(app.clone(), config);
    (app, router, account.id.to_string(), dir)
}

async fn post(router: &Router, body: &str, signature: Option<String>) -> (StatusCode, Value) {
    let mut req = Request::post("/billing/webhook").header("content-type", "application/json");
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn an_event_is_applied_once_and_an_unknown_customer_waits() {
    let (app, router, account, _dir) = billing().await;
    let body = include_str!("../../../events/billing/subscription-created-trialing.json")
        .replace("acc_REPLACED_BY_TESTS", &account);
    for _ in 0..3 {
        let (s, p) = post(&router, &body, Some(sign(SECRET, now(), body.as_bytes()))).await;
        assert_eq!(s, StatusCode::OK, "{p}");
    }
    let b = app.billing(&account.parse().unwrap()).await.unwrap();
    assert_eq!(b.state, Some(shared::domain::SubscriptionState::Trialing));
    assert_eq!(b.plan.id, "starter");
    // A card for a customer no account is linked to: 404, so the provider retries.
    let orphan = include_str!("../../../events/billing/payment-method-attached.json")
        .replace("cus_QwErTy123456", "cus_nobody");
    let (s, p) = post(
        &router,
        &orphan,
        Some(sign(SECRET, now(), orphan.as_bytes())),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    // The linked customer's card is taken.
    let card = include_str!("../../../events/billing/payment-method-attached.json");
    let (s, _) = post(&router, card, Some(sign(SECRET, now(), card.as_bytes()))).await;
    assert_eq!(s, StatusCode::OK);
    let b = app.billing(&account.parse().unwrap()).await.unwrap();
    assert_eq!(b.card.unwrap().last4, "4242");
}

#[tokio::test]
async fn unreadable_and_unhandled_events() {
    let (_app, router, _account, _dir) = billing().await;
    let junk = "not json";
    let (s, p) = post(&router, junk, Some(sign(SECRET, now(), junk.as_bytes()))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    let other =
        r#"{"id":"evt_x","type":"charge.refunded","created":1,"data":{"object":{"id":"ch_1"}}}"#;
    let (s, _) = post(&router, other, Some(sign(SECRET, now(), other.as_bytes()))).await;
    assert_eq!(s, StatusCode::OK, "acknowledged, not acted on");
}

/// The sample API Gateway event: its signature is from 2026-11-25, stale ever since.
#[cfg(feature = "aws")]
#[tokio::test]
async fn the_sample_event_is_refused_as_stale() {
    let (_app, router, _account, _dir) = billing().await;
    let request = lambda_http::request::from_str(include_str!(
        "../../../events/billing/webhook-request.json"
    ))
    .unwrap();
    let (parts, body) = request.into_parts();
    let resp = router
        .oneshot(Request::from_parts(parts, Body::from(body.to_vec())))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let p: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        p["type"],
        "https://whatatalk.dev/problems/billing-signature-invalid"
    );
}
