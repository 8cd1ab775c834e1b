//! Tenant A's key on every route that takes an id of tenant B's gets 404 and none of B's data.
//! The routes come from the router's own table (`api::served_routes`): a new route with an id joins this test by itself, and
//! the test fails until it knows how to name one of B's resources for that id.

use crate::support::{problem_type, spawn};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn tenant_a_never_reaches_tenant_b() {
    let api = spawn().await;
    let a = api.signup("Tenant A", "a@example.com").await;
    let b = api.signup("Tenant B", "b@example.com").await;
    api.connect_number(&b, "222000222", "EAAGtenantBtoken123456")
        .await;
    let (_, b_extra_key) = api
        .post("/v1/api-keys", &b.key, json!({"name": "b-spare"}))
        .await;
    let b_key_id = b_extra_key["id"].as_str().unwrap().to_owned();
    let (_, b_contact) = api
        .post(
            "/v1/contacts",
            &b.key,
            json!({"phone": "+447911123456", "name": "Tenant B's customer", "consent": {"opted_in": true}}),
        )
        .await;
    let b_contact_id = b_contact["id"].as_str().unwrap().to_owned();
    let (_, b_import) = api.post("/v1/contacts/imports", &b.key, json!({})).await;
    let template = json!({"name": "hello", "language": {"policy": "deterministic", "code": "en"}});
    let (s, b_message) = api
        .post(
            "/v1/messages",
            &b.key,
            json!({"from": "222000222", "to": b_contact["id"], "type": "template", "template": template}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b_message}");
    let b_message_id = b_message["id"].as_str().unwrap().to_owned();
    let (s, b_broadcast) = api
        .post(
            "/v1/broadcasts",
            &b.key,
            json!({"from": "222000222", "template": template, "recipients": {"tags": ["vip"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b_broadcast}");
    let b_broadcast_id = b_broadcast["id"].as_str().unwrap().to_owned();
    let b_import_id = b_import["id"].as_str().unwrap().to_owned();
    let (s, b_export) = api.post("/v1/exports", &b.key, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b_export}");
    let b_export_id = b_export["id"].as_str().unwrap().to_owned();
    let (s, b_endpoint) = api
        .post(
            "/v1/webhook-endpoints",
            &b.key,
            json!({"url": "https://hooks.tenant-b.example/in", "events": ["contact.created"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b_endpoint}");
    let b_endpoint_id = b_endpoint["id"].as_str().unwrap().to_owned();
    let (_, b_test) = api
        .post(
            &format!("/v1/webhook-endpoints/{b_endpoint_id}/test"),
            &b.key,
            json!({}),
        )
        .await;
    let b_event_id = b_test["event_id"].as_str().unwrap().to_owned();
    let (_, b_templates) = api.get("/v1/templates", &b.key).await;
    let b_template_id = b_templates["items"][0]["id"].as_str().unwrap().to_owned();

    let mut visited = 0;
    // A download link's token is its own credential, bound to no API key: not a tenant route.
    let routes = api::served_routes();
    let tenant_routes = routes.iter().filter(|(_, p)| {
        p.contains('{') && !p.starts_with("/media/") && !p.starts_with("/v1/deletion-receipts/")
    });
    for (method, template) in tenant_routes {
        let path = template
            .replace("{key_id}", &b_key_id)
            .replace("{phone_number_id}", "222000222")
            .replace("{contact_id}", &b_contact_id)
            .replace("{import_id}", &b_import_id)
            .replace("{message_id}", &b_message_id)
            .replace("{broadcast_id}", &b_broadcast_id)
            // Media need Meta: tests/tests/webhooks.rs reads B's real media with A's key.
            .replace("{media_id}", "880001")
            .replace("{export_id}", &b_export_id)
            .replace("{template_id}", &b_template_id)
            .replace("{endpoint_id}", &b_endpoint_id)
            .replace("{event_id}", &b_event_id)
            // Notices live in the tenant's partition; B's policy notice would bear this id.
            .replace("{notice_id}", "policy-2026-11-01");
        assert!(
            !path.contains('{'),
            "teach this test an id of B's for {template}"
        );
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = match (method.as_str(), *template) {
            (_, p) if p.ends_with("/tags") => Some(json!({"tags": ["x"]})),
            (_, p) if p.ends_with("}/replay") => Some(json!({"since": "2026-01-01T00:00:00Z"})),
            ("POST" | "PATCH", _) => Some(json!({})),
            _ => None,
        };
        let (status, problem) = api.call(method.clone(), &path, Some(&a.key), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        assert_eq!(problem_type(&problem), "not-found");
        let text = problem.to_string();
        assert!(
            !text.contains("Tenant B")
                && !text.contains("5550783881")
                && !text.contains(&b.account_id)
        );
        visited += 1;
    }
    assert!(visited >= 4);

    // Nor can A reach B's WABA's templates by naming it.
    let (s, problem) = api
        .post(
            "/v1/templates",
            &a.key,
            json!({"waba_id": infra::standin::DEMO_WABA_ID, "name": "stolen", "language": "en",
                   "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem_type(&problem), "number-not-connected");

    // B's things are untouched.
    let (s, _) = api.get("/v1/numbers/222000222", &b.key).await;
    assert_eq!(s, StatusCode::OK);
    let (_, keys) = api.get("/v1/api-keys", &b.key).await;
    assert!(keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == b_key_id.as_str() && k["status"] == "active"));
    // A's own listings show nothing of B's.
    let (s, _) = api
        .get(&format!("/v1/contacts/{b_contact_id}"), &b.key)
        .await;
    assert_eq!(s, StatusCode::OK);
    for list in [
        "/v1/numbers",
        "/v1/api-keys",
        "/v1/account",
        "/v1/contacts",
        "/v1/contacts?phone=%2B447911123456",
        "/v1/templates",
    ] {
        let (_, body) = api.get(list, &a.key).await;
        let text = body.to_string();
        assert!(
            !text.contains("222000222")
                && !text.contains(&b_key_id)
                && !text.contains("Tenant B")
                && !text.contains(&b_template_id),
            "{list}: {text}"
        );
    }
}
