//! Signup, the account, API keys and the HTTP contract around them.

use crate::support::{problem_type, spawn};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_answers_ok() {
    let api = spawn().await;
    let (status, body) = api.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn signup_gives_a_key_that_opens_the_account() {
    let api = spawn().await;
    let t = api.signup("Ana's Bakery", "Ana@Example.COM").await;
    assert!(t.key.starts_with("wat_") && t.key.len() == 47);
    assert!(t.account_id.starts_with("acc_"));
    let (status, me) = api.get("/v1/account", &t.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], t.account_id);
    assert_eq!(me["business_name"], "Ana's Bakery");
    assert_eq!(me["email"], "Ana@example.com");
    assert_eq!(me["state"], "active");
}

#[tokio::test]
async fn signup_reports_every_bad_field() {
    let api = spawn().await;
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"business_name": "  ", "email": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_type(&body), "validation-failed");
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["business_name", "email"]);
    assert!(
        !body.to_string().contains("nope"),
        "errors never echo the value"
    );
}

#[tokio::test]
async fn bodies_are_strict_and_bounded() {
    let api = spawn().await;
    let url = format!("{}/v1/signup", api.base);
    let send = |body: String, ct: &'static str| {
        let req = api.http.post(&url).header("content-type", ct).body(body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, b) = send("{not json".into(), "application/json").await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::BAD_REQUEST, "malformed-request")
    );
    let (s, b) = send(
        json!({"business_name": "A", "email": "a@b.co", "plan": "pro"}).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::BAD_REQUEST, "malformed-request")
    );
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `plan`"),
        "{b}"
    );
    let (s, b) = send(
        json!({"business_name": "A"}).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `email`"),
        "{b}"
    );
    let (s, b) = send(
        json!({"business_name": 5, "email": "a@b.co"}).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["detail"].as_str().unwrap().contains("business_name"),
        "{b}"
    );
    let (s, b) = send(
        "business_name=A".into(),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
    );
    let huge = json!({"business_name": "A".repeat(70 * 1024), "email": "a@b.co"}).to_string();
    let (s, b) = send(huge, "application/json").await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large")
    );
    let (s, _) = send(
        json!({"business_name": "A", "email": "a@b.co"}).to_string(),
        "application/json; charset=utf-8",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let api = spawn().await;
    let (s, b) = api.call(Method::GET, "/v1/nothing-here", None, None).await;
    assert_eq!((s, problem_type(&b)), (StatusCode::NOT_FOUND, "not-found"));
    let (s, b) = api.call(Method::PUT, "/v1/account", None, None).await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed")
    );
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_401() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let resp = api
        .http
        .get(format!("{}/v1/account", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let unknown = format!("wat_{}", "A".repeat(43));
    for key in ["", "garbage", "wat_short", unknown.as_str()] {
        let (s, b) = api.get("/v1/account", key).await;
        assert_eq!(
            (s, problem_type(&b)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{key}"
        );
    }
    let resp = api
        .http
        .get(format!("{}/v1/account", api.base))
        .header("authorization", format!("Basic {}", t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let (_, second) = api
        .post("/v1/api-keys", &t.key, json!({"name": "ci"}))
        .await;
    let (s, _) = api
        .delete(
            &format!("/v1/api-keys/{}", t.key_id),
            second["api_key"].as_str().unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get("/v1/account", &t.key).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a revoked key stops working at once"
    );
}

#[tokio::test]
async fn account_details_can_be_corrected() {
    let api = spawn().await;
    let t = api.signup("Old Name", "old@example.com").await;
    let (s, me) = api
        .patch(
            "/v1/account",
            &t.key,
            json!({"business_name": "New Name", "email": "new@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (me["business_name"].as_str(), me["email"].as_str()),
        (Some("New Name"), Some("new@example.com"))
    );
    let (_, me) = api.get("/v1/account", &t.key).await;
    assert_eq!(me["email"], "new@example.com");
    let (s, b) = api
        .patch("/v1/account", &t.key, json!({"email": "broken"}))
        .await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
    let (s, _) = api
        .patch("/v1/account", &t.key, json!({"state": "closing"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_keys_are_shown_once_listed_by_prefix_and_paginated() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let mut secrets = vec![t.key.clone()];
    for i in 0..4 {
        let resp = api
            .http
            .post(format!("{}/v1/api-keys", api.base))
            .bearer_auth(&t.key)
            .json(&json!({"name": format!("key {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            location,
            format!("/v1/api-keys/{}", body["id"].as_str().unwrap())
        );
        assert_eq!(body["status"], "active");
        assert_eq!(
            body["prefix"].as_str().unwrap(),
            &body["api_key"].as_str().unwrap()[..12]
        );
        secrets.push(body["api_key"].as_str().unwrap().to_owned());
    }
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/api-keys?limit=2&cursor={c}"),
            None => "/v1/api-keys?limit=2".to_owned(),
        };
        let (s, page) = api.get(&path, &t.key).await;
        assert_eq!(s, StatusCode::OK);
        for secret in &secrets {
            assert!(
                !page.to_string().contains(secret.as_str()),
                "a listing never shows a secret"
            );
        }
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5);
    let (s, b) = api.get("/v1/api-keys?limit=0", &t.key).await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
    let (s, b) = api.get("/v1/api-keys?cursor=bogus", &t.key).await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::BAD_REQUEST, "invalid-cursor")
    );
    let (s, b) = api.post("/v1/api-keys", &t.key, json!({"name": ""})).await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
}

#[tokio::test]
async fn the_last_active_key_cannot_be_revoked() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let (s, b) = api
        .delete(&format!("/v1/api-keys/{}", t.key_id), &t.key)
        .await;
    assert_eq!(
        (s, problem_type(&b)),
        (StatusCode::CONFLICT, "last-api-key")
    );
    let (_, other) = api
        .post("/v1/api-keys", &t.key, json!({"name": "spare"}))
        .await;
    let other_id = other["id"].as_str().unwrap();
    let (s, _) = api
        .delete(&format!("/v1/api-keys/{other_id}"), &t.key)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .delete(&format!("/v1/api-keys/{other_id}"), &t.key)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "revoking twice is a no-op");
    let (_, page) = api.get("/v1/api-keys", &t.key).await;
    let revoked = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == other_id)
        .unwrap()
        .clone();
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let (s, _) = api
        .delete("/v1/api-keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV", &t.key)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.delete("/v1/api-keys/not-an-id", &t.key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
