//! `GET /v1/billing`, `GET /v1/billing/usage` and `PATCH /v1/billing/details`: the default
//! plan without a subscription, corrections of the (sealed) billing details, and card numbers
//! refused. The subscription's lifecycle is driven by payment events in tests/tests/billing.rs.

use crate::support::{problem_type, spawn};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn without_a_subscription_the_default_plan_applies() {
    let api = spawn().await;
    let t = api.signup("Plain", "plain@example.com").await;
    let (s, b) = api.get("/v1/billing", &t.key).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["plan"]["id"], "free");
    assert_eq!(b["subscription_state"], Value::Null);
    assert_eq!(b["sending_allowed"], true);
    assert_eq!(b["allowance"]["used"], 0);
    assert_eq!(
        b["allowance"]["left"],
        b["plan"]["included_template_messages"]
    );
    assert_eq!(b["payment_method"], Value::Null);
    let (s, u) = api.get("/v1/billing/usage", &t.key).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["meta_messages"], 0);
    let (s, p) = api.get("/v1/billing/usage?period=next", &t.key).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, p) = api.get("/v1/billing/usage?month=2026-01", &t.key).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
}

#[tokio::test]
async fn billing_details_are_corrected_and_cleared() {
    let api = spawn().await;
    let t = api.signup("Details", "details@example.com").await;
    let address = json!({"line1": "1 Market Street", "city": "London", "postal_code": "EC1A 1BB", "country": "GB"});
    let (s, b) = api
        .patch(
            "/v1/billing/details",
            &t.key,
            json!({"name": "Details Ltd", "address": address, "tax_id": "GB123456789"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["billing_details"]["name"], "Details Ltd");
    assert_eq!(b["billing_details"]["address"]["city"], "London");
    assert_eq!(b["billing_details"]["tax_id"], "GB123456789");
    let (s, b) = api
        .patch("/v1/billing/details", &t.key, json!({"tax_id": null}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["billing_details"]["tax_id"], Value::Null);
    assert_eq!(b["billing_details"]["name"], "Details Ltd");
    // Another tenant sees none of it.
    let other = api.signup("Other", "other@example.com").await;
    let (_, b) = api.get("/v1/billing", &other.key).await;
    assert_eq!(
        b["billing_details"],
        json!({"name": null, "address": null, "tax_id": null})
    );
}

#[tokio::test]
async fn card_numbers_never_enter() {
    let api = spawn().await;
    let t = api.signup("Cards", "cards@example.com").await;
    for body in [
        json!({"name": "4242 4242 4242 4242"}),
        json!({"tax_id": "5555555555554444"}),
        json!({"address": {"line1": "card 4000-0566-5566-5556 please"}}),
    ] {
        let (s, p) = api.patch("/v1/billing/details", &t.key, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(problem_type(&p), "card-data-refused");
        assert!(
            !p.to_string().contains("4242"),
            "the problem repeats no digits"
        );
    }
    // There is no field to put one in.
    let (s, p) = api
        .patch(
            "/v1/billing/details",
            &t.key,
            json!({"card_number": "4242424242424242"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    // Nothing was kept.
    let (_, b) = api.get("/v1/billing", &t.key).await;
    assert_eq!(
        b["billing_details"],
        json!({"name": null, "address": null, "tax_id": null})
    );
    // Long digit strings that are not card numbers pass.
    let (s, b) = api
        .patch(
            "/v1/billing/details",
            &t.key,
            json!({"tax_id": "4242424242424241"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn the_plan_limits_connected_numbers() {
    let api = spawn().await;
    let t = api.signup("Numbers", "numbers@example.com").await;
    api.connect_number(&t, "106540352242922", "EAAGnumberstoken123456")
        .await;
    let (s, p) = api
        .post(
            "/v1/numbers",
            &t.key,
            json!({"phone_number_id": "106540352242923", "waba_id": "1",
                   "display_phone_number": "+1 555 078 3882", "access_token": "EAAGnumberstoken123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert_eq!(problem_type(&p), "payment-required");
    assert_eq!(p["plan"], "free");
    // The same number again is still "already connected", not a plan matter.
    let (s, p) = api
        .post(
            "/v1/numbers",
            &t.key,
            json!({"phone_number_id": "106540352242922", "waba_id": infra::standin::DEMO_WABA_ID,
                   "display_phone_number": "+1 555 078 3881", "access_token": "EAAGnumberstoken123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
}
