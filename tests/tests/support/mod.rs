//! The one HTTP test harness: a client whose every answer is held to openapi.yaml, the API
//! router served on a random loopback port on either backend ([`spawn`]), and raw reads of
//! the emulated AWS resources.
#![allow(dead_code)]

use std::sync::Arc;

use infra::standin::{Business, StandIn};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shared::services::App;

/// Tells the stand-in that `token`'s business holds number `id` under the demo WABA.
pub fn owns(standin: &StandIn, id: &str, display: &str, token: &str) {
    standin.add_business(Business::single(
        infra::standin::DEMO_WABA_ID,
        token,
        id,
        display,
    ));
}

/// [`spawn`] with these API limits.
pub async fn spawn_limited(limits: shared::domain::ApiLimits) -> TestApi {
    let dir = tempfile::tempdir().unwrap();
    let (standin, url) = StandIn::start(Default::default()).await.unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let app = shared::testing::test_app_with_graph(dir.path(), url)
        .await
        .with_api_limits(limits);
    let app = Arc::new(app);
    let base = serve(app.clone()).await;
    TestApi {
        client: Client::new(base),
        app,
        standin,
        _dir: dir,
    }
}

/// A stand-in (knowing the demo business) and an app on the local adapters sending to it,
/// whatever the test backend.
pub async fn local_app_with_standin(dir: &std::path::Path) -> (Arc<App>, StandIn) {
    let (standin, url) = StandIn::start(Default::default()).await.unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let graph = shared::graph::GraphClient::new(shared::graph::GraphConfig::new(
        url,
        shared::graph::DEFAULT_VERSION,
    ));
    let app = shared::testing::local_app_with_graph(dir, graph);
    (Arc::new(app), standin)
}

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

    /// Sends the request; the answer is held to openapi.yaml (see [`conforms`]).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let req = req.build().unwrap();
        let (method, path) = (req.method().clone(), req.url().path().to_owned());
        let resp = self.http.execute(req).await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = resp.text().await.unwrap();
        if !status.is_success() {
            assert_eq!(content_type, "application/problem+json", "{status} {text}");
        }
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        conforms(method.as_str(), &path, status, &content_type, &body);
        (status, body)
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

    /// Connects number `id` under the demo WABA with `token`, after telling the stand-in that
    /// this token's business holds the number (as Meta would know).
    pub async fn connect_number(
        &self,
        standin: &StandIn,
        key: &str,
        id: &str,
        display: &str,
        token: &str,
    ) -> Value {
        let waba = infra::standin::DEMO_WABA_ID;
        self.connect_number_in(standin, key, waba, id, display, token)
            .await
    }

    /// [`Client::connect_number`] under WABA `waba` (a WABA's numbers are one account's).
    pub async fn connect_number_in(
        &self,
        standin: &StandIn,
        key: &str,
        waba: &str,
        id: &str,
        display: &str,
        token: &str,
    ) -> Value {
        standin.add_business(Business::single(waba, token, id, display));
        let (s, body) = self
            .send(
                self.http
                    .post(format!("{}/v1/numbers", self.base))
                    .bearer_auth(key)
                    .json(&json!({
                        "phone_number_id": id,
                        "waba_id": waba,
                        "display_phone_number": display,
                        "access_token": token,
                    })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    /// A JSON request with an optional API key; an error answer must be problem+json.
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
        self.send(req).await
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

    /// POSTs `payload` to `/webhook` signed with the app secret, as Meta does.
    pub async fn post_meta_webhook(&self, payload: &Value, app_secret: &str) -> StatusCode {
        let body = payload.to_string();
        self.http
            .post(format!("{}/webhook", self.base))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                shared::webhook::signature::sign(app_secret.as_bytes(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// The API router on a random loopback port, on the local adapters in a temp dir or, under
/// `WHATATALK_TEST_BACKEND=aws`, on the emulators; with the app behind it, for raw reads.
pub struct TestApi {
    pub client: Client,
    pub app: Arc<App>,
    pub standin: StandIn,
    _dir: tempfile::TempDir,
}

/// A tenant made through the API.
pub struct Tenant {
    pub account_id: String,
    pub key: String,
    pub key_id: String,
}

pub async fn spawn() -> TestApi {
    if std::env::var("RUST_LOG").is_ok() {
        shared::telemetry::init();
    }
    spawn_limited(shared::domain::ApiLimits::default()).await
}

impl std::ops::Deref for TestApi {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestApi {
    pub async fn signup(&self, name: &str, email: &str) -> Tenant {
        let body = self.client.signup(name, email).await;
        Tenant {
            account_id: body["account_id"].as_str().unwrap().to_owned(),
            key: body["api_key"].as_str().unwrap().to_owned(),
            key_id: body["api_key_id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn connect_number(&self, tenant: &Tenant, id: &str, token: &str) -> Value {
        self.client
            .connect_number(&self.standin, &tenant.key, id, "+1 555 078 3881", token)
            .await
    }
}

/// The stable part of a problem's `type`.
pub fn problem_type(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://whatatalk.dev/problems/"))
        .unwrap_or("<none>")
}

fn spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| serde_yaml::from_str(include_str!("../../../openapi.yaml")).unwrap())
}

/// The documented operation a request reaches: the path template that matches with the most
/// literal segments (`/v1/contacts/imports` before `/v1/contacts/{contact_id}`).
fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> Option<(&'a str, &'a Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    spec["paths"]
        .as_object()?
        .iter()
        .filter_map(|(template, ops)| {
            let op = ops.get(method.to_ascii_lowercase())?;
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    *t == *s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                });
            let literals = parts.iter().filter(|t| !t.starts_with('{')).count();
            fits.then_some((literals, template.as_str(), op))
        })
        .max_by_key(|(literals, _, _)| *literals)
        .map(|(_, template, op)| (template, op))
}

/// Every answer an end-to-end test gets through [`Client::send`] is held to openapi.yaml: its
/// status must be documented for the operation (or fall to `default`), and a JSON body must
/// match the documented schema. Paths the spec does not describe (upload links) are skipped.
fn conforms(method: &str, path: &str, status: StatusCode, content_type: &str, body: &Value) {
    let spec = spec();
    let Some((template, op)) = operation(spec, method, path) else {
        return;
    };
    let responses = &op["responses"];
    let mut response = responses
        .get(status.as_str())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{method} {template}: {status} is not documented"));
    if let Some(r) = response["$ref"].as_str() {
        response = spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} is not in openapi.yaml"));
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.ends_with("json") {
        return;
    }
    let schema = response["content"][media]["schema"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {template}: {status} {media} is not documented"));
    // The schema as the root of a document that also holds the components its $refs name.
    let mut root = Value::Object(schema.clone());
    root["components"] = spec["components"].clone();
    if let Err(e) = jsonschema::validate(&root, body) {
        panic!(
            "{method} {template} answered {status} with a body openapi.yaml does not allow: \
             {e} (at {})\n{body:#}",
            e.instance_path()
        );
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
pub async fn sign_up_and_connect(client: &Client, standin: &StandIn, s: &Secrets) -> String {
    let account = client.signup(&s.business_name, &s.email).await;
    let key = account["api_key"].as_str().unwrap().to_owned();
    client
        .connect_number(
            standin,
            &key,
            infra::standin::DEMO_PHONE_NUMBER_ID,
            &s.display,
            &s.token,
        )
        .await;
    key
}

/// Raw reads of the emulated AWS resources, around the adapters.
#[cfg(feature = "aws")]
pub mod aws {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::adapters::aws::AwsClients;

    /// Every item of the table (a Scan, page by page).
    pub async fn scan(clients: &AwsClients, table: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = clients
                .dynamodb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            out.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return out;
            }
        }
    }

    /// An item's attribute names and values as bytes, to search for a value.
    pub fn item_bytes(item: &HashMap<String, AttributeValue>) -> Vec<u8> {
        fn value(v: &AttributeValue, out: &mut Vec<u8>) {
            match v {
                AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
                AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
                AttributeValue::L(l) => l.iter().for_each(|v| value(v, out)),
                AttributeValue::M(m) => m.iter().for_each(|(k, v)| {
                    out.extend_from_slice(k.as_bytes());
                    value(v, out)
                }),
                other => out.extend_from_slice(format!("{other:?}").as_bytes()),
            }
        }
        let mut out = Vec::new();
        for (k, v) in item {
            out.extend_from_slice(k.as_bytes());
            value(v, &mut out);
        }
        out
    }

    /// Every object's key in the bucket (a listing, page by page).
    pub async fn object_keys(clients: &AwsClients, bucket: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = clients
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return out;
            }
        }
    }
}
