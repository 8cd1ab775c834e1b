//! Shared by the end-to-end tests: an HTTP client for the API, and the API served on either
//! backend.
#![allow(dead_code)]

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::services::App;

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn signup(&self, name: &str, email: &str) -> Value {
        let (s, body) = self
            .send(
                self.http
                    .post(format!("{}/v1/signup", self.base))
                    .json(&json!({"business_name": name, "email": email})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn connect_number(&self, key: &str, id: &str, display: &str, token: &str) -> Value {
        let (s, body) = self
            .send(
                self.http
                    .post(format!("{}/v1/numbers", self.base))
                    .bearer_auth(key)
                    .json(&json!({
                        "phone_number_id": id,
                        "waba_id": "102290129340398",
                        "display_phone_number": display,
                        "access_token": token,
                    })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(key),
        )
        .await
    }
}

/// Serves the API router on a random loopback port; returns its base URL.
pub async fn serve(app: Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api::router(app)).await });
    base
}

/// Personal values no storage, log or listing may show in clear.
pub struct Secrets {
    pub business_name: String,
    pub email: String,
    pub display: String,
    pub token: String,
}

impl Secrets {
    /// Unique per call, so a hit can only come from this test.
    pub fn fresh() -> Self {
        let tag = ulid::Ulid::new().to_string().to_lowercase();
        Self {
            business_name: format!("Bakery {tag}"),
            email: format!("owner.{tag}@example.com"),
            display: "+15550783881".into(),
            token: format!("EAAGtoken{tag}"),
        }
    }

    pub fn all(&self) -> [&str; 3] {
        [&self.business_name, &self.email, &self.token]
    }
}

/// Signs up and connects a number with these values; returns the API key.
pub async fn sign_up_and_connect(client: &Client, s: &Secrets) -> String {
    let account = client.signup(&s.business_name, &s.email).await;
    let key = account["api_key"].as_str().unwrap().to_owned();
    client
        .connect_number(&key, "106540352242922", &s.display, &s.token)
        .await;
    key
}
