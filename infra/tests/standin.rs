//! The Graph stand-in's own promises: Meta's answer shapes, its limits, and signed status
//! webhooks for what it accepts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use infra::standin::{StandIn, StandInConfig};
use serde_json::{json, Value};

type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let router = Router::new()
        .route(
            "/webhook",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let sig = headers["x-hub-signature-256"].to_str().unwrap().to_owned();
                    assert_eq!(
                        sig,
                        shared::webhook::signature::sign(b"app-secret", &body),
                        "signed over the raw body"
                    );
                    r.lock()
                        .unwrap()
                        .push((sig, serde_json::from_slice(&body).unwrap()));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

fn text(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": "hi"}})
}

#[tokio::test]
async fn accepted_sends_post_signed_status_webhooks() {
    let (hook, received) = receiver().await;
    let standin = StandIn::new(StandInConfig {
        webhook_url: Some(hook),
        app_secret: Some("app-secret".into()),
        ..StandInConfig::default()
    });
    let base = standin
        .serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let http = reqwest::Client::new();
    let sent: Value = http
        .post(base.join("v23.0/106540352242922/messages").unwrap())
        .bearer_auth("EAAGtoken")
        .json(&text("447911123456"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wamid = sent["messages"][0]["id"].as_str().unwrap().to_owned();
    for _ in 0..50 {
        if received.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = received.lock().unwrap().clone();
    let statuses: Vec<&str> = got
        .iter()
        .map(|(_, v)| {
            v["entry"][0]["changes"][0]["value"]["statuses"][0]["status"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(statuses, ["sent", "delivered", "read"]);
    let first = &got[0].1["entry"][0]["changes"][0]["value"];
    assert_eq!(first["metadata"]["phone_number_id"], "106540352242922");
    assert_eq!(first["statuses"][0]["id"], wamid.as_str());
    assert_eq!(first["statuses"][0]["pricing"]["category"], "service");
}

#[tokio::test]
async fn limits_and_refusals_come_in_meta_shapes() {
    let standin = StandIn::new(StandInConfig {
        rate_per_number: 2,
        pair_interval_ms: 10_000,
        ..StandInConfig::default()
    });
    let base = standin
        .serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let url = base.join("v23.0/1/messages").unwrap();
    let http = reqwest::Client::new();
    let send = |to: &str| {
        http.post(url.clone())
            .bearer_auth("EAAGtoken")
            .json(&text(to))
            .send()
    };
    assert!(send("1").await.unwrap().status().is_success());
    let pair: Value = send("1").await.unwrap().json().await.unwrap();
    assert_eq!(pair["error"]["code"], 131056, "same recipient too soon");
    assert!(send("2").await.unwrap().status().is_success());
    let rate: Value = send("3").await.unwrap().json().await.unwrap();
    assert_eq!(
        rate["error"]["code"], 130429,
        "third message in the same second at tier 2"
    );
    let unauthenticated = http
        .post(url.clone())
        .json(&text("4"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let invalid: Value = http
        .post(url)
        .bearer_auth("EAAG")
        .json(&json!({"to": "1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(invalid["error"]["code"], 100);
    assert_eq!(standin.accepted().len(), 2);
}
