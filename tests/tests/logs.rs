//! Logs of a signup, a number connect and a few failures, captured at TRACE level, carry none
//! of the personal values sent.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::{sign_up_and_connect, Client, Secrets};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

// One thread: every task of the server and the client logs into this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn logs_carry_no_personal_data() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(shared::telemetry::subscriber(capture.clone(), "trace"));

    let dir = tempfile::tempdir().unwrap();
    let (app, standin) = support::local_app_with_standin(dir.path()).await;
    let client = Client::new(support::serve(app).await);
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, &standin, &secrets).await;
    // Failures log too: a bad patch, a wrong key, a duplicate number.
    let url = format!("{}/v1/account", client.base);
    client
        .send(
            client
                .http
                .patch(&url)
                .bearer_auth(&key)
                .json(&json!({"email": format!("{} broken", secrets.email)})),
        )
        .await;
    client
        .send(client.http.get(&url).bearer_auth(format!("{key}x")))
        .await;
    client
        .send(
            client
                .http
                .post(format!("{}/v1/numbers", client.base))
                .bearer_auth(&key)
                .json(&json!({
                    "phone_number_id": "106540352242922", "waba_id": "1",
                    "display_phone_number": secrets.display, "access_token": secrets.token,
                })),
        )
        .await;

    // A card number where it does not belong, and billing details.
    for body in [
        json!({"name": "4000 0566 5566 5556"}),
        json!({"name": format!("Billing {}", secrets.business_name), "tax_id": "GB987654321"}),
    ] {
        client
            .send(
                client
                    .http
                    .patch(format!("{}/v1/billing/details", client.base))
                    .bearer_auth(&key)
                    .json(&body),
            )
            .await;
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request done"), "the capture works: {logs}");
    assert!(logs.contains("card number refused"), "{logs}");
    for value in ["4000056655665556", "4000 0566 5566 5556", "GB987654321"] {
        assert!(
            !logs.contains(value),
            "{value} leaked into the logs:\n{logs}"
        );
    }
    assert!(logs.contains("account created"));
    for value in secrets
        .all()
        .into_iter()
        .chain([key.as_str(), "5550783881"])
    {
        assert!(
            !logs.contains(value),
            "{value} leaked into the logs:\n{logs}"
        );
    }
}

/// Meta's webhook on a port of its own, with a fresh app secret: (its URL, the secret).
async fn serve_webhook(app: Arc<shared::services::App>) -> (String, String) {
    let app_secret = format!("app-secret-{}", ulid::Ulid::new());
    let config = webhook::WebhookConfig::new(&app_secret, "verify-token-0123456789").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, webhook::router(app, config)).await });
    (hook, app_secret)
}

/// At `info`, as deployed, an accepted webhook logs no access line (three a message, about
/// 790 bytes of logs); a refused one does.
#[tokio::test(flavor = "current_thread")]
async fn accepted_webhooks_log_no_access_line_at_info() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(shared::telemetry::subscriber(capture.clone(), "info"));
    let dir = tempfile::tempdir().unwrap();
    let (app, standin) = support::local_app_with_standin(dir.path()).await;
    let client = Client::new(support::serve(app.clone()).await);
    sign_up_and_connect(&client, &standin, &Secrets::fresh()).await;
    let (hook, app_secret) = serve_webhook(app).await;
    let t = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{"id": "wamid.quiet1", "status": "sent", "timestamp": t, "recipient_id": "447911123456"}]
    }}]}]})
    .to_string();
    let post = |signature: String| {
        client
            .http
            .post(&hook)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.clone())
    };
    let signed = shared::webhook::signature::sign(app_secret.as_bytes(), body.as_bytes());
    for _ in 0..3 {
        assert_eq!(
            client.send(post(signed.clone())).await.0,
            reqwest::StatusCode::OK
        );
    }
    let forged = format!("sha256={}", "0".repeat(64));
    assert_eq!(
        client.send(post(forged)).await.0,
        reqwest::StatusCode::UNAUTHORIZED
    );

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let access: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("request done") && l.contains("/webhook"))
        .collect();
    assert_eq!(access.len(), 1, "{logs}");
    assert!(access[0].contains("401"), "{}", access[0]);
    // The API's own access lines stay.
    assert!(
        logs.lines()
            .any(|l| l.contains("request done") && l.contains("/v1/numbers")),
        "{logs}"
    );
}

/// Meta's webhooks at TRACE: inbound messages (text, a stop keyword, media with a caption),
/// a failed status, an unreadable payload and a forged one leave no phone, name, text or
/// secret in the logs.
#[tokio::test(flavor = "current_thread")]
async fn webhook_logs_carry_no_personal_data() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(shared::telemetry::subscriber(capture.clone(), "trace"));

    let dir = tempfile::tempdir().unwrap();
    let (app, standin) = support::local_app_with_standin(dir.path()).await;
    let client = Client::new(support::serve(app.clone()).await);
    let secrets = Secrets::fresh();
    sign_up_and_connect(&client, &standin, &secrets).await;
    let (hook, app_secret) = serve_webhook(app).await;

    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (name, text, caption) = (
        format!("Ana {tag}"),
        format!("my order {tag} please"),
        format!("receipt {tag}"),
    );
    let phone = "447911123456";
    let t = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let value = |messages: serde_json::Value| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": name}, "wa_id": phone}],
            "messages": messages
        }}]}]})
    };
    let payloads = [
        value(
            json!([{"from": phone, "id": "wamid.l1", "timestamp": t, "type": "text", "text": {"body": text}}]),
        ),
        value(
            json!([{"from": phone, "id": "wamid.l2", "timestamp": t, "type": "text", "text": {"body": "STOP"}}]),
        ),
        value(
            json!([{"from": phone, "id": "wamid.l3", "timestamp": t, "type": "image",
            "image": {"id": "55501", "mime_type": "image/jpeg", "caption": caption}}]),
        ),
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.out1", "status": "failed", "timestamp": t, "recipient_id": phone,
                "errors": [{"code": 131026, "title": "Message undeliverable", "message": text}]}]
        }}]}]}),
        // Readable as JSON, not as a payload: a dead letter.
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {"metadata": {"phone_number_id": "106540352242922"},
                "messages": [{"from": phone, "text": text}]}}]}]}),
    ];
    for payload in &payloads {
        let body = payload.to_string();
        let (status, _) = client
            .send(
                client
                    .http
                    .post(&hook)
                    .header("content-type", "application/json")
                    .header(
                        "x-hub-signature-256",
                        shared::webhook::signature::sign(app_secret.as_bytes(), body.as_bytes()),
                    )
                    .body(body),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{payload}");
    }
    // A forged one.
    let (status, _) = client
        .send(
            client
                .http
                .post(&hook)
                .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
                .body(payloads[0].to_string()),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("inbound message stored"), "{logs}");
    assert!(logs.contains("dead letter"), "{logs}");
    for value in [
        phone,
        "7911123456",
        name.as_str(),
        text.as_str(),
        caption.as_str(),
        tag.as_str(),
        app_secret.as_str(),
    ] {
        assert!(
            !logs.contains(value),
            "{value} leaked into the logs:\n{logs}"
        );
    }
}
