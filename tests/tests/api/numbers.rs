//! Connecting WhatsApp numbers.

use crate::support::{problem_type, spawn, Tenant, TestApi};
use infra::standin::{Business, DEMO_WABA_ID};
use reqwest::StatusCode;
use serde_json::{json, Value};

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

    // The business's new system-user token, as Meta would know it.
    crate::support::owns(
        &api.standin,
        "106540352242922",
        "+1 555 078 3881",
        "EAAGnewtoken0987654321",
    );
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
    // B holds the same business's token (two accounts of one business): proven, yet the
    // number is A's until A lets it go.
    let body = json!({"phone_number_id": "111", "waba_id": DEMO_WABA_ID, "display_phone_number": "15550783881", "access_token": TOKEN});
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

/// Two businesses at Meta: the owner's WABA with its number, and another's.
const OWNER_WABA: &str = "300000000000001";
const OWNER_NUMBER: &str = "300000000000011";
const OWNER_TOKEN: &str = "EAAGownerbusinesstoken0001";
const OTHER_WABA: &str = "300000000000002";
const OTHER_NUMBER: &str = "300000000000022";
const OTHER_TOKEN: &str = "EAAGotherbusinesstoken0002";

fn two_businesses(api: &TestApi) {
    api.standin.add_business(Business::single(
        OWNER_WABA,
        OWNER_TOKEN,
        OWNER_NUMBER,
        "+1 555-010-0001",
    ));
    api.standin.add_business(Business::single(
        OTHER_WABA,
        OTHER_TOKEN,
        OTHER_NUMBER,
        "+1 555-010-0002",
    ));
}

fn claim(number: &str, waba: &str, token: &str) -> Value {
    json!({"phone_number_id": number, "waba_id": waba, "access_token": token})
}

#[tokio::test]
async fn a_number_is_connected_only_with_a_token_that_owns_it() {
    let api = spawn().await;
    two_businesses(&api);
    let owner = api.signup("Owner", "owner@example.com").await;
    let other = api.signup("Other", "other@example.com").await;
    // Another account comes first: with its own valid token, with a token Meta does not know,
    // naming its own WABA, or naming the number with the owner's WABA but its own token.
    for body in [
        claim(OWNER_NUMBER, OWNER_WABA, OTHER_TOKEN),
        claim(OWNER_NUMBER, OWNER_WABA, "EAAGatokenmetaneverissued"),
        claim(OWNER_NUMBER, OTHER_WABA, OTHER_TOKEN),
    ] {
        let (s, p) = api.post("/v1/numbers", &other.key, body.clone()).await;
        assert_eq!(
            (s, problem_type(&p)),
            (StatusCode::FORBIDDEN, "number-not-owned"),
            "{body}: {p}"
        );
    }
    let (_, page) = api.get("/v1/numbers", &other.key).await;
    assert_eq!(page["items"], json!([]));
    // Nothing was taken: the owner connects, Meta's display number is used, and our app is
    // subscribed to the WABA with the owner's token.
    let (s, n) = api
        .post(
            "/v1/numbers",
            &owner.key,
            claim(OWNER_NUMBER, OWNER_WABA, OWNER_TOKEN),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["display_phone_number"], "+15550100001");
    assert!(api
        .standin
        .subscriptions()
        .contains(&(OWNER_WABA.into(), OWNER_TOKEN.into())));
    // A display number other than Meta's is the caller's mistake, named.
    let (s, p) = api
        .post(
            "/v1/numbers",
            &other.key,
            json!({"phone_number_id": OTHER_NUMBER, "waba_id": OTHER_WABA, "access_token": OTHER_TOKEN, "display_phone_number": "+15550109999"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "display_phone_number");
    // A token rotation is proven too: the other business's token is refused.
    let (s, p) = api
        .patch(
            &format!("/v1/numbers/{OWNER_NUMBER}"),
            &owner.key,
            json!({"access_token": OTHER_TOKEN}),
        )
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::FORBIDDEN, "number-not-owned")
    );
}

/// Template notices for a WABA, as Meta posts them (the entry's id is the WABA).
async fn template_notice(api: &TestApi, waba: &str, name: &str) {
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1, "message_template_name": name, "message_template_language": "en"}}
    ]}]});
    api.app
        .ingest_webhook(payload.to_string().as_bytes())
        .await
        .unwrap();
}

async fn template_notices(api: &TestApi, tenant: &Tenant) -> Vec<String> {
    let (s, page) = api.get("/v1/notices?limit=100", &tenant.key).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "message_template_status_update")
        .map(|n| {
            n["payload"]["message_template_name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn waba_notices_reach_only_the_proven_owner_and_stop_with_its_last_number() {
    let api = spawn().await;
    two_businesses(&api);
    let owner = api.signup("Owner", "owner@example.com").await;
    let other = api.signup("Other", "other@example.com").await;
    let (s, _) = api
        .post(
            "/v1/numbers",
            &owner.key,
            claim(OWNER_NUMBER, OWNER_WABA, OWNER_TOKEN),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    template_notice(&api, OWNER_WABA, "before").await;
    // The other account tries the owner's WABA, connects its own number, then tries to move it
    // under the owner's WABA: only its own connect holds.
    let (s, _) = api
        .post(
            "/v1/numbers",
            &other.key,
            claim(OWNER_NUMBER, OWNER_WABA, OTHER_TOKEN),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .post(
            "/v1/numbers",
            &other.key,
            claim(OTHER_NUMBER, OTHER_WABA, OTHER_TOKEN),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, p) = api
        .patch(
            &format!("/v1/numbers/{OTHER_NUMBER}"),
            &other.key,
            json!({"waba_id": OWNER_WABA}),
        )
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::FORBIDDEN, "number-not-owned")
    );
    template_notice(&api, OWNER_WABA, "after").await;
    template_notice(&api, OTHER_WABA, "theirs").await;
    assert_eq!(template_notices(&api, &owner).await, ["after", "before"]);
    assert_eq!(template_notices(&api, &other).await, ["theirs"]);
    // The owner's last number under the WABA goes, and the WABA's route with it.
    let (s, _) = api
        .delete(&format!("/v1/numbers/{OWNER_NUMBER}"), &owner.key)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    template_notice(&api, OWNER_WABA, "gone").await;
    assert_eq!(template_notices(&api, &owner).await, ["after", "before"]);
    assert_eq!(template_notices(&api, &other).await, ["theirs"]);
}
