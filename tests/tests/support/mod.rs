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

#[cfg(feature = "aws")]
pub mod aws {
    use std::sync::Arc;

    use shared::adapters::aws::{self, AwsClients, AwsSettings, DynamoItemStore, SqsQueue};
    use shared::services::App;

    /// An App on the AWS adapters against the emulators, with its own table, key, bucket and
    /// queues. Returns the clients and settings too, for raw inspection.
    pub async fn app() -> (Arc<App>, AwsClients, AwsSettings) {
        assert!(
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
                .is_ok_and(|v| v.starts_with("http://127.0.0.1")),
            "run the tests through infra/test.sh"
        );
        let clients = AwsClients::from_env(true).await;
        let name = |p: &str| format!("{p}-{}", ulid::Ulid::new().to_string().to_lowercase());
        let table = name("table");
        DynamoItemStore::create_table(&clients.dynamodb, &table)
            .await
            .unwrap();
        let key = clients.kms.create_key().send().await.unwrap();
        let bucket = name("bucket");
        clients
            .s3
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let (send_queue_url, _) =
            SqsQueue::create_with_dead_letter_queue(&clients.sqs, &name("sends"), 5)
                .await
                .unwrap();
        let (job_queue_url, _) =
            SqsQueue::create_with_dead_letter_queue(&clients.sqs, &name("jobs"), 5)
                .await
                .unwrap();
        let settings = AwsSettings {
            table,
            kms_key_id: key.key_metadata().unwrap().key_id().to_owned(),
            bucket,
            send_queue_url,
            job_queue_url,
            s3_path_style: true,
        };
        let app = Arc::new(App::new(aws::ports(&clients, &settings)));
        (app, clients, settings)
    }
}
