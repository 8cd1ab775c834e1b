//! The webhook router, called as the Lambda runtime calls it (a request in, a response out),
//! on the local adapters (or the AWS ones under `WHATATALK_TEST_BACKEND=aws`).

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use shared::domain::{
    AccessToken, AccountId, ApiKeyName, BusinessName, ContactId, Email, PhoneNumberId, WabaId,
};
use shared::services::{App, ContactFilter, MessageFilter, NewAccount, NewNumber};
use shared::webhook::signature::sign;
use tower::ServiceExt;

const SECRET: &str = "test-app-secret";
const PREVIOUS: &str = "test-previous-secret";
const VERIFY: &str = "test-verify-token";
const NUMBER: &str = infra::standin::DEMO_PHONE_NUMBER_ID;

struct Hook {
    app: Arc<App>,
    _standin: infra::standin::StandIn,
    router: Router,
    account: AccountId,
    _dir: tempfile::TempDir,
}

async fn hook() -> Hook {
    let dir = tempfile::tempdir().unwrap();
    let (standin, graph) = infra::standin::StandIn::start(Default::default())
        .await
        .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let app = Arc::new(shared::testing::test_app_with_graph(dir.path(), graph).await);
    let (account, _, _) = app
        .signup(
            NewAccount {
                business_name: BusinessName::parse("Succulents").unwrap(),
                email: Email::parse("owner@example.com").unwrap(),
                default_region: None,
            },
            ApiKeyName::parse("default").unwrap(),
        )
        .await
        .unwrap();
    app.connect_number(
        &account.id,
        NewNumber {
            phone_number_id: PhoneNumberId::parse(NUMBER).unwrap(),
            waba_id: WabaId::parse(infra::standin::DEMO_WABA_ID).unwrap(),
            display_phone_number: None,
            access_token: AccessToken::parse(infra::standin::DEMO_TOKEN).unwrap(),
        },
    )
    .await
    .unwrap();
    let config = webhook::WebhookConfig {
        secrets: shared::webhook::signature::AppSecrets::new(SECRET, Some(PREVIOUS)).unwrap(),
        verify_token: VERIFY.into(),
    };
    Hook {
        router: webhook::router(app.clone(), config),
        app,
        _standin: standin,
        account: account.id,
        _dir: dir,
    }
}

impl Hook {
    async fn call(&self, req: Request<Body>) -> (StatusCode, String) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn post(&self, body: &[u8], signature: Option<String>) -> (StatusCode, String) {
        let mut req = Request::post("/webhook").header("content-type", "application/json");
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        self.call(req.body(Body::from(body.to_vec())).unwrap())
            .await
    }

    async fn post_signed(&self, payload: &Value) -> StatusCode {
        let body = payload.to_string();
        let (status, text) = self
            .post(
                body.as_bytes(),
                Some(sign(SECRET.as_bytes(), body.as_bytes())),
            )
            .await;
        assert!(status == StatusCode::OK || !text.is_empty());
        status
    }

    async fn counts(&self) -> (usize, usize) {
        let (messages, _) = self
            .app
            .messages(&self.account, &MessageFilter::default(), 100, None)
            .await
            .unwrap();
        let (contacts, _) = self
            .app
            .contacts(&self.account, &ContactFilter::default(), 100, None)
            .await
            .unwrap();
        (messages.len(), contacts.len())
    }

    async fn only_contact(&self) -> shared::domain::Contact {
        let (mut contacts, _) = self
            .app
            .contacts(&self.account, &ContactFilter::default(), 100, None)
            .await
            .unwrap();
        assert_eq!(contacts.len(), 1);
        contacts.remove(0)
    }
}

fn text_message(wamid: &str, from: &str, body: &str, timestamp: i64) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": timestamp.to_string(),
                "type": "text", "text": {"body": body}}]
        }}]}]
    })
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_our_token() {
    let h = hook().await;
    let get = |q: &str| {
        Request::get(format!("/webhook?{q}"))
            .body(Body::empty())
            .unwrap()
    };
    let (s, body) = h
        .call(get(&format!(
            "hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
        )))
        .await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "1158201444"));
    for q in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        &format!("hub.mode=unsubscribe&hub.verify_token={VERIFY}&hub.challenge=1"),
        &format!("hub.verify_token={VERIFY}&hub.challenge=1"),
        "hub.mode=subscribe&hub.challenge=1",
        "",
    ] {
        let (s, body) = h.call(get(q)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{q}");
        assert!(body.contains("verification-failed"), "{body}");
    }
}

#[tokio::test]
async fn unsigned_or_missigned_payloads_store_nothing() {
    let h = hook().await;
    let payload = text_message("wamid.sig1", "16505551234", "hello", now_secs()).to_string();
    let body = payload.as_bytes();
    let by = |secret: &str| Some(sign(secret.as_bytes(), body));
    let cases: Vec<(&str, Option<String>, Vec<u8>)> = vec![
        ("missing", None, body.to_vec()),
        ("not sha256", Some("sha1=abc".into()), body.to_vec()),
        (
            "not hex",
            Some(format!("sha256={}", "z".repeat(64))),
            body.to_vec(),
        ),
        ("wrong secret", by("someone-else"), body.to_vec()),
        (
            "body changed",
            by(SECRET),
            payload.replace("hello", "hellO").into_bytes(),
        ),
    ];
    for (name, signature, bytes) in cases {
        let (s, text) = h.post(&bytes, signature).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}");
        assert!(text.contains("signature-invalid"), "{name}: {text}");
    }
    // Over 3 MB, even correctly signed.
    let mut big = payload.clone().into_bytes();
    big.resize(shared::webhook::MAX_PAYLOAD_BYTES + 1, b' ');
    let (s, text) = h.post(&big, Some(sign(SECRET.as_bytes(), &big))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text.contains("payload-too-large"), "{text}");
    assert_eq!(h.counts().await, (0, 0));
    let (dead, _) = h.app.dead_letters(10, None).await.unwrap();
    assert!(dead.is_empty());

    // The previous secret still works during a rotation; the body is then stored.
    let (s, _) = h.post(body, by(PREVIOUS)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h.counts().await, (1, 1));
}

#[tokio::test]
async fn unreadable_signed_payloads_become_dead_letters() {
    let h = hook().await;
    for bytes in [
        &b"{not json"[..],
        br#"{"object":"whatsapp_business_account"}"#,
    ] {
        let (s, _) = h.post(bytes, Some(sign(SECRET.as_bytes(), bytes))).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "Meta must not retry what can never be read"
        );
    }
    // A readable payload with one unreadable change: the rest is ingested.
    let mut payload = text_message("wamid.ok", "16505551234", "hi", now_secs());
    payload["entry"][0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"field": "messages", "value": {"metadata": {"phone_number_id": NUMBER}, "messages": [{"id": "wamid.x"}]}}));
    assert_eq!(h.post_signed(&payload).await, StatusCode::OK);
    assert_eq!(h.counts().await, (1, 1));
    let (dead, _) = h.app.dead_letters(10, None).await.unwrap();
    assert_eq!(dead.len(), 3);
    // Ids made in the same millisecond do not say which came first: compare as sets.
    assert_eq!(
        dead.iter()
            .filter(|d| d.field.as_deref() == Some("messages"))
            .count(),
        1
    );
    let mut payloads = Vec::new();
    for d in &dead {
        payloads.push(h.app.dead_letter_payload(&d.id).await.unwrap());
    }
    assert!(payloads.iter().any(|p| p == b"{not json"));

    // Kept 30 days: the retention run then removes payload and record.
    let later = |days: i64| shared::domain::now() + time::Duration::days(days);
    let report = h.app.run_retention(later(10), 1_000).await.unwrap();
    assert_eq!(report.dead_letters_deleted, 0);
    let report = h.app.run_retention(later(31), 1_000).await.unwrap();
    assert_eq!((report.dead_letters_deleted, report.complete), (3, true));
    assert!(h.app.dead_letters(10, None).await.unwrap().0.is_empty());
    for d in &dead {
        let key = shared::ports::BlobKey::parse(&format!("dead-letters/{}", d.id)).unwrap();
        assert!(
            h.app.blobs.get(&key).await.unwrap().is_none(),
            "payload left behind"
        );
    }
}

#[tokio::test]
async fn numbers_of_no_tenant_are_acknowledged_and_not_stored() {
    let h = hook().await;
    let mut payload = text_message("wamid.other", "16505551234", "hi", now_secs());
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999999");
    assert_eq!(h.post_signed(&payload).await, StatusCode::OK);
    assert_eq!(h.counts().await, (0, 0));
}

#[tokio::test]
async fn a_message_delivered_ten_times_is_stored_once() {
    let h = hook().await;
    let payload = text_message(
        "wamid.ten",
        "16505551234",
        "Does it come in blue?",
        now_secs(),
    );
    for _ in 0..10 {
        assert_eq!(h.post_signed(&payload).await, StatusCode::OK);
    }
    assert_eq!(h.counts().await, (1, 1));
    let contact = h.only_contact().await;
    assert_eq!(contact.phone.unwrap().e164(), "+16505551234");
    assert_eq!(contact.name.unwrap().as_str(), "Sheena Nelson");
    assert!(contact.consent.is_none(), "a message is not consent");
    let conversation = h.app.conversation(&h.account, &contact.id).await.unwrap();
    assert_eq!(conversation.unread, 1);
    assert_eq!(
        conversation.last_message.preview.as_deref(),
        Some("Does it come in blue?")
    );
    assert!(conversation.window.unwrap().is_open());
    let number = PhoneNumberId::parse(NUMBER).unwrap();
    assert!(h
        .app
        .window_open(&h.account, &number, &contact.id)
        .await
        .unwrap());
}

#[tokio::test]
async fn stop_keywords_and_preferences_set_and_lift_opt_outs() {
    let h = hook().await;
    let t = now_secs();
    h.post_signed(&text_message("wamid.k1", "16505551234", "hello", t))
        .await;
    let id: ContactId = h.only_contact().await.id;
    let opted_out = || async { h.app.contact(&h.account, &id).await.unwrap().opt_out };
    h.post_signed(&text_message("wamid.k2", "16505551234", " Stop! ", t + 1))
        .await;
    assert!(opted_out().await.is_some());
    h.post_signed(&text_message("wamid.k3", "16505551234", "start", t + 2))
        .await;
    assert!(opted_out().await.is_none());
    h.post_signed(&text_message(
        "wamid.k4",
        "16505551234",
        "please stop by tomorrow",
        t + 3,
    ))
    .await;
    assert!(opted_out().await.is_none(), "a sentence is not a keyword");

    let preference = |value: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "user_preferences", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"wa_id": "16505551234", "profile": {"name": "Sheena Nelson"}}],
            "user_preferences": [{"wa_id": "16505551234", "detail": "User requested to stop marketing messages",
                "category": "marketing_messages", "value": value, "timestamp": t + 4}]
        }}]}]})
    };
    h.post_signed(&preference("stop")).await;
    let out = opted_out().await.unwrap();
    assert!(out.reason.contains("stopped marketing"), "{}", out.reason);
    h.post_signed(&preference("resume")).await;
    assert!(opted_out().await.is_none());
    assert_eq!(h.counts().await, (4, 1));
}

#[tokio::test]
async fn users_without_a_phone_are_contacts_by_their_user_id() {
    let h = hook().await;
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Hidden"}, "wa_id": "", "user_id": "US.13491208655302741918"}],
        "messages": [{"from": "", "from_user_id": "US.13491208655302741918", "id": "wamid.bsuid",
            "timestamp": now_secs().to_string(), "type": "text", "text": {"body": "hi"}}]
    }}]}]});
    assert_eq!(h.post_signed(&payload).await, StatusCode::OK);
    let contact = h.only_contact().await;
    assert!(contact.phone.is_none());
    assert_eq!(contact.user_id.unwrap().as_str(), "US.13491208655302741918");
}

#[tokio::test]
async fn a_username_is_kept_and_a_changed_user_id_followed() {
    let h = hook().await;
    let message = |wamid: &str, username: &str, extra: serde_json::Value| {
        let mut m = json!({"from": "", "from_user_id": "US.13491208655302741918", "id": wamid,
            "timestamp": now_secs().to_string(), "type": "text", "text": {"body": "hi"}});
        if let serde_json::Value::Object(e) = extra {
            m.as_object_mut().unwrap().extend(e);
        }
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Ana", "username": username}, "user_id": "US.13491208655302741918"}],
            "messages": [m]
        }}]}]})
    };
    assert_eq!(
        h.post_signed(&message("wamid.u1", "ana.bakes", json!({})))
            .await,
        StatusCode::OK
    );
    let contact = h.only_contact().await;
    assert_eq!(contact.username.as_ref().unwrap().as_str(), "ana.bakes");
    // Users change their usernames; the BSUID stays.
    assert_eq!(
        h.post_signed(&message("wamid.u2", "ana.cakes", json!({})))
            .await,
        StatusCode::OK
    );
    let contact = h.only_contact().await;
    assert_eq!(contact.username.as_ref().unwrap().as_str(), "ana.cakes");
    // A new BSUID (a new phone behind the username): Meta's system message names it.
    let changed = json!({"type": "system", "system": {
        "body": "User Ana changed their user ID", "type": "user_changed_user_id",
        "user_id": "US.99991208655302741918"}});
    let mut payload = message("wamid.u3", "ana.cakes", json!({}));
    payload["entry"][0]["changes"][0]["value"]["messages"][0] = {
        let mut m = changed;
        m["from_user_id"] = json!("US.13491208655302741918");
        m["id"] = json!("wamid.u3");
        m["timestamp"] = json!(now_secs().to_string());
        m
    };
    assert_eq!(h.post_signed(&payload).await, StatusCode::OK);
    let contact = h.only_contact().await;
    assert_eq!(contact.user_id.unwrap().as_str(), "US.99991208655302741918");
}

#[tokio::test]
async fn template_and_quality_notices_are_kept_for_the_waba_owner() {
    let h = hook().await;
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
        {"field": "message_template_status_update", "value": {"event": "REJECTED", "message_template_id": 1, "message_template_name": "promo", "message_template_language": "en", "reason": "INVALID_FORMAT"}},
        {"field": "phone_number_quality_update", "value": {"display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_1K"}},
        {"field": "calls", "value": {"calls": []}}
    ]}]});
    assert_eq!(h.post_signed(&payload).await, StatusCode::OK);
    let (notices, _) = h.app.notices(&h.account, 10, None).await.unwrap();
    let mut events: Vec<_> = notices.iter().map(|n| n.event.clone().unwrap()).collect();
    events.sort();
    assert_eq!(events, ["FLAGGED", "REJECTED"]);
    assert_eq!(
        notices
            .iter()
            .find(|n| n.field == "message_template_status_update")
            .unwrap()
            .payload["reason"],
        "INVALID_FORMAT"
    );
}

/// The sample events of `events/webhook/` (Function URL requests, payload 2.0), parsed by
/// lambda_http as the runtime does and answered by the same router.
#[cfg(feature = "aws")]
mod lambda_events {
    use super::*;

    async fn answer(hook: &Hook, event: &str) -> (StatusCode, String) {
        let request = lambda_http::request::from_str(event).unwrap();
        let (parts, body) = request.into_parts();
        hook.call(Request::from_parts(parts, Body::from(body.to_vec())))
            .await
    }

    #[tokio::test]
    async fn verification_event() {
        let hook = hook().await;
        let (status, body) =
            answer(&hook, include_str!("../../../events/webhook/verify.json")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1158201444"));
    }

    #[tokio::test]
    async fn signed_message_event_is_stored_once_and_a_forged_one_not_at_all() {
        let hook = hook().await;
        let forged = include_str!("../../../events/webhook/message-bad-signature.json");
        let (status, _) = answer(&hook, forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(hook.counts().await, (0, 0));
        for _ in 0..2 {
            let (status, _) =
                answer(&hook, include_str!("../../../events/webhook/message.json")).await;
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(hook.counts().await, (1, 1));
    }
}
