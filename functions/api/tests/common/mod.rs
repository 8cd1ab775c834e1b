//! Starts the real router on a random loopback port, on local adapters in a temp dir, and
//! talks HTTP to it.
#![allow(dead_code)]

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub struct TestApi {
    pub base: String,
    pub http: reqwest::Client,
    /// The app behind the router, for reading raw storage.
    pub app: Arc<shared::services::App>,
    _dir: tempfile::TempDir,
}

pub struct Tenant {
    pub account_id: String,
    pub key: String,
    pub key_id: String,
}

pub async fn spawn() -> TestApi {
    if std::env::var("RUST_LOG").is_ok() {
        shared::telemetry::init();
    }
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(shared::testing::test_app(dir.path()).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = api::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    TestApi {
        base,
        http: reqwest::Client::new(),
        app,
        _dir: dir,
    }
}

impl TestApi {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        if !status.is_success() {
            assert_eq!(
                ct.as_deref(),
                Some("application/problem+json"),
                "{status} {text}"
            );
        }
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    pub async fn signup(&self, name: &str, email: &str) -> Tenant {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/signup",
                None,
                Some(json!({"business_name": name, "email": email})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Tenant {
            account_id: body["account_id"].as_str().unwrap().to_owned(),
            key: body["api_key"].as_str().unwrap().to_owned(),
            key_id: body["api_key_id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn connect_number(&self, tenant: &Tenant, id: &str, token: &str) -> Value {
        let (status, body) = self
            .post(
                "/v1/numbers",
                &tenant.key,
                json!({
                    "phone_number_id": id,
                    "waba_id": "102290129340398",
                    "display_phone_number": "+1 555 078 3881",
                    "access_token": token,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

pub fn problem_type(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://whatatalk.dev/problems/"))
        .unwrap_or("<none>")
}
