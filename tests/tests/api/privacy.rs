//! Privacy routes: the audit log of privacy-relevant actions.

use crate::support::spawn;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn privacy_relevant_actions_are_audited_without_personal_values() {
    let api = spawn().await;
    let t = api.signup("Audited", "audited@example.com").await;
    let (_, key) = api
        .post("/v1/api-keys", &t.key, json!({"name": "crm"}))
        .await;
    let key_id = key["id"].as_str().unwrap();
    api.delete(&format!("/v1/api-keys/{key_id}"), &t.key).await;
    let (_, c) = api
        .post(
            "/v1/contacts",
            &t.key,
            json!({"phone": "+447911123456", "name": "Ana Secret"}),
        )
        .await;
    let contact = c["id"].as_str().unwrap();
    api.patch(
        &format!("/v1/contacts/{contact}"),
        &t.key,
        json!({"name": "Ana Corrected"}),
    )
    .await;
    api.delete(&format!("/v1/contacts/{contact}"), &t.key).await;
    api.patch(
        "/v1/account",
        &t.key,
        json!({"business_name": "Audited Ltd"}),
    )
    .await;
    api.patch(
        "/v1/billing/details",
        &t.key,
        json!({"name": "Audited Billing"}),
    )
    .await;

    let (s, log) = api.get("/v1/audit", &t.key).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "billing_details_corrected",
            "account_corrected",
            "contact_deleted",
            "contact_corrected",
            "api_key_revoked",
            "api_key_created",
        ]
    );
    let deleted = &log["items"][2];
    assert_eq!(deleted["target"], json!({"kind": "contact", "id": contact}));
    assert_eq!(deleted["actor"], t.key_id.as_str());
    let text = log.to_string();
    for personal in ["Ana", "447911123456", "Audited Ltd", "Audited Billing"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    // Another tenant's log is its own.
    let other = api.signup("Other", "other@example.com").await;
    let (_, log) = api.get("/v1/audit", &other.key).await;
    assert_eq!(log["items"], json!([]));
}
