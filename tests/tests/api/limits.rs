//! Limits per tenant, key and client address, not per stack: one tenant's burst is refused
//! with 429 and the draft RateLimit fields while another tenant's requests are answered; a
//! client address signs up a few accounts an hour; one import and one export run at a time.

use crate::support::{problem_type, spawn, spawn_limited};
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::domain::ApiLimits;

const LIMITS: ApiLimits = ApiLimits {
    per_account: 20,
    per_key: 10,
    signups_per_hour: 3,
};

#[tokio::test]
async fn one_tenants_burst_leaves_another_tenants_requests_answered() {
    let api = spawn_limited(LIMITS).await;
    let a = api.signup("Busy", "busy@example.com").await;
    let b = api.signup("Quiet", "quiet@example.com").await;
    let (_, second) = api
        .post("/v1/api-keys", &a.key, json!({"name": "crm"}))
        .await;
    let a2 = second["api_key"].as_str().unwrap().to_owned();
    // A's two keys fire 60 requests each at once; B asks as usual meanwhile.
    let burst = |key: String| {
        let client = &api.client;
        async move {
            let mut all = Vec::new();
            for _ in 0..60 {
                let req = client
                    .http
                    .get(format!("{}/v1/account", client.base))
                    .bearer_auth(&key);
                all.push(req.send());
            }
            futures::future::join_all(all).await
        }
    };
    let quiet = async {
        let mut answers = Vec::new();
        for _ in 0..8 {
            answers.push(api.get("/v1/account", &b.key).await.0);
        }
        answers
    };
    // One key alone: only requests let through are counted, so the account (20) is never full
    // here and the key's own limit (10) is the one hit.
    let alone = burst(a2.clone()).await;
    let mut key_refusals = 0;
    for r in alone {
        let r = r.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["policy"], "key", "{body}");
            key_refusals += 1;
        }
    }
    assert!(key_refusals >= 40, "{key_refusals} of 60 refused");
    let (first, second, quiet) = tokio::join!(burst(a.key.clone()), burst(a2.clone()), quiet);
    assert!(
        quiet.iter().all(|s| *s == StatusCode::OK),
        "B was refused: {quiet:?}"
    );
    let mut refused = 0;
    let mut policies = std::collections::BTreeSet::new();
    for r in first.into_iter().chain(second) {
        let r = r.unwrap();
        if r.status() != StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.status(), StatusCode::OK);
            continue;
        }
        refused += 1;
        let h = r.headers().clone();
        let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=1).contains(&retry), "{h:?}");
        let policy = h["ratelimit-policy"].to_str().unwrap().to_owned();
        assert!(
            policy == "\"key\";q=10;w=1" || policy == "\"account\";q=20;w=1",
            "{policy}"
        );
        assert_eq!(
            h["ratelimit"].to_str().unwrap(),
            format!("{};r=0;t=1", policy.split(';').next().unwrap())
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(problem_type(&body), "rate-limited");
        policies.insert(body["policy"].as_str().unwrap().to_owned());
    }
    assert!(refused >= 60, "only {refused} of 120 refused");
    assert!(
        policies.iter().all(|p| p == "key" || p == "account"),
        "{policies:?}"
    );
}

#[tokio::test]
async fn a_client_address_signs_up_a_few_accounts_an_hour() {
    let api = spawn_limited(LIMITS).await;
    let signup = |forwarded: &'static str, n: u32| {
        let client = &api.client;
        async move {
            client
                .send(
                    client
                        .http
                        .post(format!("{}/v1/signup", client.base))
                        .header("x-forwarded-for", forwarded)
                        .json(&json!({"business_name": format!("Shop {n}"), "email": format!("s{n}@example.com")})),
                )
                .await
        }
    };
    for n in 0..3 {
        assert_eq!(signup("203.0.113.7", n).await.0, StatusCode::CREATED);
    }
    // The address the edge appended is the one counted, whatever the client put before it.
    let (s, p) = signup("198.51.100.1, 203.0.113.7", 3).await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::TOO_MANY_REQUESTS, "rate-limited")
    );
    assert_eq!(p["policy"], "signup");
    assert_eq!(signup("203.0.113.8", 4).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn one_export_and_one_import_run_at_a_time() {
    // No job runs here: the first of each stays queued.
    let api = spawn().await;
    let t = api.signup("Exporter", "exporter@example.com").await;
    let (s, _) = api.post("/v1/exports", &t.key, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, p) = api.post("/v1/exports", &t.key, json!({})).await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::CONFLICT, "already-running")
    );
    assert_eq!(p["running"], "export");
    // Another tenant's export is its own.
    let other = api.signup("Other", "other@example.com").await;
    let (s, _) = api.post("/v1/exports", &other.key, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let account: shared::domain::AccountId = t.account_id.parse().unwrap();
    let mut started = Vec::new();
    for _ in 0..2 {
        let (import, _, _) = api.app.create_import(&account).await.unwrap();
        let source = shared::services::imports::source_key(&account, &import.id).unwrap();
        api.app
            .blobs
            .put(
                &source,
                bytes::Bytes::from_static(b"phone\n+447911123456\n"),
                "text/csv",
            )
            .await
            .unwrap();
        started.push(import.id);
    }
    let start = |id: &shared::domain::ImportId| {
        let path = format!("/v1/contacts/imports/{id}/start");
        let key = t.key.clone();
        let api = &api;
        async move { api.call(Method::POST, &path, Some(&key), None).await }
    };
    let (s, _) = start(&started[0]).await;
    assert!(s.is_success(), "{s}");
    let (s, p) = start(&started[1]).await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::CONFLICT, "already-running")
    );
    // Starting the same one again is still an answer about it, not a refusal.
    let (s, _) = start(&started[0]).await;
    assert!(s.is_success(), "{s}");
}

/// Found by the fuzzer: the message route read its body on its own and answered a body over
/// the API's 64 KiB with a bare 413; every route answers the problem.
#[tokio::test]
async fn every_route_refuses_an_oversized_body_with_the_problem() {
    let api = spawn().await;
    let t = api.signup("Big", "big@example.com").await;
    let big = json!({"from": "1", "to": "+447911123456", "type": "text", "text": {"body": "x".repeat(70_000)}});
    for path in ["/v1/messages", "/v1/contacts", "/v1/broadcasts"] {
        let (s, p) = api.post(path, &t.key, big.clone()).await;
        assert_eq!(
            (s, problem_type(&p)),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            "{path}"
        );
    }
}
