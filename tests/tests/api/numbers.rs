//! Connecting WhatsApp numbers.

use crate::support::{problem_type, spawn};
use reqwest::StatusCode;
use serde_json::json;

const TOKEN: &str = "EAAGm0PX4ZCpsBAKtoken1234567890";

#[tokio::test]
async fn numbers_connect_list_update_and_disconnect() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let created = api.connect_number(&t, "106540352242922", TOKEN).await;
    assert_eq!(created["phone_number_id"], "106540352242922");
    assert_eq!(created["display_phone_number"], "+15550783881");
    assert!(created.get("access_token").is_none());

    let (s, page) = api.get("/v1/numbers", &t.key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(!page.to_string().contains(TOKEN));

    let (s, one) = api.get("/v1/numbers/106540352242922", &t.key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["waba_id"], "102290129340398");

    let (s, updated) = api
        .patch(
            "/v1/numbers/106540352242922",
            &t.key,
            json!({"access_token": "EAAGnewtoken0987654321"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert!(!updated.to_string().contains("EAAGnew"));

    let (s, _) = api.delete("/v1/numbers/106540352242922", &t.key).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = api.get("/v1/numbers/106540352242922", &t.key).await;
    assert_eq!((s, problem_type(&b)), (StatusCode::NOT_FOUND, "not-found"));
    let (s, _) = api.delete("/v1/numbers/106540352242922", &t.key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_number_belongs_to_one_tenant_at_a_time() {
    let api = spawn().await;
    let a = api.signup("A", "a@example.com").await;
    let b = api.signup("B", "b@example.com").await;
    api.connect_number(&a, "111", TOKEN).await;
    let body = json!({"phone_number_id": "111", "waba_id": "1", "display_phone_number": "15550783881", "access_token": TOKEN});
    let (s, p) = api.post("/v1/numbers", &a.key, body.clone()).await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::CONFLICT, "number-already-connected")
    );
    let (s, p) = api.post("/v1/numbers", &b.key, body.clone()).await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::CONFLICT, "number-already-connected")
    );
    assert!(
        !p.to_string().contains(&a.account_id),
        "the owner is not revealed"
    );
    api.delete("/v1/numbers/111", &a.key).await;
    let (s, _) = api.post("/v1/numbers", &b.key, body).await;
    assert_eq!(s, StatusCode::CREATED, "free again once disconnected");
}

#[tokio::test]
async fn bad_numbers_are_refused_field_by_field() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let (s, b) = api
        .post(
            "/v1/numbers",
            &t.key,
            json!({"phone_number_id": "12ab", "waba_id": "", "display_phone_number": "call me", "access_token": "short"}),
        )
        .await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
    let fields: Vec<_> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "phone_number_id",
            "waba_id",
            "display_phone_number",
            "access_token"
        ]
    );
    let (s, _) = api.get("/v1/numbers/not-digits", &t.key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .patch("/v1/numbers/999", &t.key, json!({"waba_id": "1"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
