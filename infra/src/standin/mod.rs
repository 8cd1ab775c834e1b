//! The Graph API stand-in: Meta's send and media endpoints as the service sees them, for
//! local runs and tests. It answers in Meta's shapes, enforces a per-number throughput (error 130429) and the
//! pair rate per recipient (131056), injects faults on demand, records every request, and can
//! post signed status webhooks for what it accepted.
//!
//! Control it in-process ([`StandIn`]) or over HTTP under `/_standin/`:
//! `GET /_standin/requests`, `POST /_standin/faults` (a [`Fault`]), `PUT /_standin/config`
//! (a [`StandInConfig`]), `DELETE /_standin` (forget requests and faults),
//! `PUT /_standin/media/{id}` (a file users "sent", with its `Content-Type`).
//! Media: uploads (`POST /{version}/{number}/media`, multipart), look-ups (`GET /{version}/{id}`)
//! and downloads (`GET /_standin/media/{id}`, bearer token required, as at Meta).
//! Businesses: which token reaches which WABA and its numbers ([`Business`], added in-process
//! or with `POST /_standin/businesses`), answered at `GET /{version}/{phone-number-id}`,
//! `GET /{version}/{waba-id}/phone_numbers` (paged) and `POST /{version}/{waba-id}/subscribed_apps`;
//! a send from a known number with another business's token is refused as Meta refuses it.
//! Templates per WABA: see [`templates`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::webhook::signature::{sign, HEADER};
use tokio::net::TcpListener;

pub mod templates;

pub use templates::{hello_world, waba_webhook, HeldTemplate, TemplateChange, TemplateSeed};

/// How the stand-in behaves; every field has a default, so `{}` is a valid update.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct StandInConfig {
    /// Messages per second each sending number may send (Meta's default tier is 80).
    pub rate_per_number: u32,
    /// Shortest gap between two messages from one number to one recipient (about 6 s at Meta).
    pub pair_interval_ms: u64,
    /// Where to post status webhooks for accepted messages, if anywhere.
    pub webhook_url: Option<String>,
    /// Signs webhooks (`X-Hub-Signature-256`), as Meta does with the app secret.
    pub app_secret: Option<String>,
    /// Which statuses to post after a send: any of `sent`, `delivered`, `read`.
    pub statuses: Vec<String>,
}

impl Default for StandInConfig {
    fn default() -> Self {
        Self {
            rate_per_number: 80,
            pair_interval_ms: 6_000,
            webhook_url: None,
            app_secret: None,
            statuses: vec!["sent".into(), "delivered".into(), "read".into()],
        }
    }
}

/// A fault to inject into the next matching sends.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this HTTP status and a transient Graph error; nothing is sent.
    ServerError { status: u16, times: u32 },
    /// Accept the message, then answer only after `delay_ms` (past the client's timeout).
    Timeout { delay_ms: u64, times: u32 },
    /// Accept the message, then break the connection instead of answering.
    Reset { times: u32 },
    /// Refuse sends to `to` with this Graph error code (and subcode), `times` times (0: always).
    Error {
        to: String,
        code: i64,
        #[serde(default)]
        subcode: Option<i64>,
        #[serde(default)]
        times: u32,
    },
}

/// One request the stand-in received, and what it did with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recorded {
    pub phone_number_id: String,
    pub body: Value,
    /// `accepted` (the message counts as sent), `rejected` (an error answered) or `invalid`.
    pub outcome: String,
    #[serde(default)]
    pub wamid: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
}

impl Recorded {
    pub fn accepted(&self) -> bool {
        self.outcome == "accepted"
    }
}

/// A business at Meta: one WABA, its numbers, and the tokens (system users) that reach it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Business {
    pub waba_id: String,
    pub tokens: Vec<String>,
    pub numbers: Vec<BusinessNumber>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BusinessNumber {
    pub id: String,
    /// As Meta shows it, e.g. `+1 555-078-3881`.
    pub display_phone_number: String,
    #[serde(default)]
    pub verified_name: Option<String>,
}

impl Business {
    /// One WABA with one number and one token.
    pub fn single(waba_id: &str, token: &str, number_id: &str, display: &str) -> Self {
        Self {
            waba_id: waba_id.into(),
            tokens: vec![token.into()],
            numbers: vec![BusinessNumber {
                id: number_id.into(),
                display_phone_number: display.into(),
                verified_name: None,
            }],
        }
    }
}

/// The business every local runner's stand-in starts with, so the README's first connect works:
/// not a secret, a stand-in's made-up token.
pub fn demo_business() -> Business {
    Business::single(
        DEMO_WABA_ID,
        DEMO_TOKEN,
        DEMO_PHONE_NUMBER_ID,
        "+1 555-078-3881",
    )
}

pub const DEMO_WABA_ID: &str = "102290129340398";
pub const DEMO_PHONE_NUMBER_ID: &str = "106540352242922";
pub const DEMO_TOKEN: &str = "EAAGstandindemotoken0001";

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    config: StandInConfig,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    buckets: HashMap<String, Bucket>,
    pairs: HashMap<(String, String), Instant>,
    next_id: u64,
    media: HashMap<String, StoredMedia>,
    base_url: Option<url::Url>,
    businesses: Vec<Business>,
    /// WABAs our app subscribed to, and with which token.
    subscriptions: Vec<(String, String)>,
    /// Templates per WABA, and those every new WABA starts with (besides `hello_world`).
    templates: Vec<templates::HeldTemplate>,
    seeds: Vec<templates::TemplateSeed>,
    next_template: u64,
}

/// A file the stand-in holds, uploaded or seeded.
#[derive(Clone, Debug)]
pub struct StoredMedia {
    pub mime_type: String,
    pub bytes: axum::body::Bytes,
    /// The number it was uploaded for, if uploaded.
    pub number: Option<String>,
}

/// A stand-in's state; cheap to clone, shared with its router.
#[derive(Clone, Default)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

impl StandIn {
    pub fn new(config: StandInConfig) -> Self {
        let s = Self::default();
        s.lock().config = config;
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn configure(&self, config: StandInConfig) {
        self.lock().config = config;
    }

    pub fn config(&self) -> StandInConfig {
        self.lock().config.clone()
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Messages accepted (sent, as far as Meta is concerned).
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::accepted)
            .collect()
    }

    /// Adds a business (or more numbers and tokens to a known WABA).
    pub fn add_business(&self, business: Business) {
        let waba = business.waba_id.clone();
        self.add_business_only(business);
        self.seed_waba(&waba);
    }

    fn add_business_only(&self, business: Business) {
        let mut s = self.lock();
        match s
            .businesses
            .iter_mut()
            .find(|b| b.waba_id == business.waba_id)
        {
            Some(known) => {
                for t in business.tokens {
                    if !known.tokens.contains(&t) {
                        known.tokens.push(t);
                    }
                }
                for n in business.numbers {
                    if !known.numbers.iter().any(|k| k.id == n.id) {
                        known.numbers.push(n);
                    }
                }
            }
            None => s.businesses.push(business),
        }
    }

    /// WABAs our app is subscribed to, with the token that subscribed.
    pub fn subscriptions(&self) -> Vec<(String, String)> {
        self.lock().subscriptions.clone()
    }

    /// The business holding a number, if any.
    fn owner_of(&self, number: &str) -> Option<Business> {
        self.lock()
            .businesses
            .iter()
            .find(|b| b.numbers.iter().any(|n| n.id == number))
            .cloned()
    }

    fn waba(&self, waba_id: &str) -> Option<Business> {
        self.lock()
            .businesses
            .iter()
            .find(|b| b.waba_id == waba_id)
            .cloned()
    }

    fn token_known(&self, token: &str) -> bool {
        self.lock()
            .businesses
            .iter()
            .any(|b| b.tokens.iter().any(|t| t == token))
    }

    pub fn reset(&self) {
        let mut s = self.lock();
        s.requests.clear();
        s.faults.clear();
        s.buckets.clear();
        s.pairs.clear();
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/{id}/messages", post(send))
            .route("/{version}/{id}/media", post(upload_media))
            .route("/{version}/{id}", get(node).post(templates::edit))
            .route(
                "/{version}/{id}/message_templates",
                get(templates::list)
                    .post(templates::create)
                    .delete(templates::delete),
            )
            .route("/_standin/templates/{id}", post(templates::change))
            .route("/{version}/{id}/phone_numbers", get(waba_numbers))
            .route("/{version}/{id}/subscribed_apps", post(subscribe_app))
            .route("/_standin/businesses", post(add_business_http))
            .route(
                "/_standin/media/{media_id}",
                get(download_media).put(seed_media_http),
            )
            .route("/_standin/requests", get(list_requests))
            .route("/_standin/faults", post(add_fault))
            .route("/_standin/config", put(set_config))
            .route("/_standin", delete(reset))
            .with_state(self.clone())
    }

    /// A stand-in on a free loopback port that knows the [`demo_business`].
    pub async fn start(config: StandInConfig) -> std::io::Result<(StandIn, url::Url)> {
        let standin = StandIn::new(config);
        standin.add_business(demo_business());
        let url = standin.serve(TcpListener::bind("127.0.0.1:0").await?)?;
        Ok((standin, url))
    }

    /// Serves the stand-in on `listener` until the process ends; returns its base URL.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<url::Url> {
        let addr: SocketAddr = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let url = url::Url::parse(&format!("http://{addr}/"))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.lock().base_url = Some(url.clone());
        Ok(url)
    }

    /// Takes the first fault that applies to a send to `to`.
    fn take_fault(&self, to: &str) -> Option<Fault> {
        let mut s = self.lock();
        let at = s.faults.iter().position(|f| match f {
            Fault::Error { to: t, .. } => t == to,
            _ => true,
        })?;
        let fault = s.faults[at].clone();
        let keep = match &mut s.faults[at] {
            Fault::ServerError { times, .. }
            | Fault::Timeout { times, .. }
            | Fault::Reset { times } => {
                *times = times.saturating_sub(1);
                *times > 0
            }
            Fault::Error { times, .. } => {
                if *times == 0 {
                    true
                } else {
                    *times -= 1;
                    *times > 0
                }
            }
        };
        if !keep {
            s.faults.remove(at);
        }
        Some(fault)
    }

    /// The throughput checks; `Some(code)` refuses the send.
    fn admit(&self, number: &str, to: &str) -> Option<i64> {
        let mut s = self.lock();
        let rate = f64::from(s.config.rate_per_number.max(1));
        let pair_gap = Duration::from_millis(s.config.pair_interval_ms);
        let now = Instant::now();
        let bucket = s.buckets.entry(number.to_owned()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(rate);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Some(130429);
        }
        let pair = (number.to_owned(), to.to_owned());
        if let Some(last) = s.pairs.get(&pair) {
            if now.duration_since(*last) < pair_gap {
                return Some(131056);
            }
        }
        if let Some(b) = s.buckets.get_mut(number) {
            b.tokens -= 1.0;
        }
        s.pairs.insert(pair, now);
        None
    }

    fn record(&self, r: Recorded) {
        self.lock().requests.push(r);
    }

    fn next_wamid(&self) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        wamid_for(s.next_id)
    }

    /// Holds a file as if a user had sent it; inbound webhooks name it by `id`.
    pub fn seed_media(&self, id: &str, mime_type: &str, bytes: impl Into<axum::body::Bytes>) {
        self.lock().media.insert(
            id.to_owned(),
            StoredMedia {
                mime_type: mime_type.to_owned(),
                bytes: bytes.into(),
                number: None,
            },
        );
    }

    /// Where [`StandIn::serve`] listens, once it does.
    pub fn base_url(&self) -> Option<url::Url> {
        self.lock().base_url.clone()
    }

    /// A file uploaded or seeded, by id.
    pub fn media(&self, id: &str) -> Option<StoredMedia> {
        self.lock().media.get(id).cloned()
    }

    /// The wamid the next accepted message will get (tests post its statuses early).
    pub fn upcoming_wamid(&self) -> String {
        wamid_for(self.lock().next_id + 1)
    }
}

fn graph_error(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut error = json!({
        "message": format!("({code}) {message}"),
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AStandInTraceId0000000"
    });
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    (status, Json(json!({"error": error}))).into_response()
}

fn title(code: i64) -> &'static str {
    match code {
        130429 => "Rate limit hit",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        131026 => "Message undeliverable",
        131047 => "Re-engagement message",
        131048 => "Spam rate limit hit",
        131050 => "User has stopped marketing messages",
        132015 => "Template is paused",
        368 => "Temporarily blocked for policies violations",
        190 => "Access token has expired",
        _ => "Error",
    }
}

async fn send(
    State(standin): State<StandIn>,
    Path((_version, number)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&headers) {
        return bad_token();
    }
    if let Some(refused) = standin.refuse_foreign(&number, &headers) {
        return refused;
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut record = Recorded {
        phone_number_id: number.clone(),
        body: value.clone(),
        outcome: "invalid".into(),
        wamid: None,
        error_code: None,
    };
    // Mark-as-read.
    if value.get("status").and_then(Value::as_str) == Some("read") {
        record.outcome = "accepted".into();
        standin.record(record);
        return Json(json!({"success": true})).into_response();
    }
    let parsed: Result<shared::graph::messages::SendRequest, _> =
        serde_json::from_value(value.clone());
    let Ok(message) = parsed else {
        standin.record(record);
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2494010),
            "Invalid parameter",
        );
    };
    // `to` wins over `recipient`, as at Meta; neither is an invalid request.
    let Some(to) = message.addressee().map(str::to_owned) else {
        standin.record(record);
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "The parameter to or recipient is required",
        );
    };
    match standin.take_fault(&to) {
        Some(Fault::ServerError { status, .. }) => {
            record.outcome = "rejected".into();
            record.error_code = Some(2);
            standin.record(record);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return graph_error(status, 2, None, "Service temporarily unavailable");
        }
        Some(Fault::Error { code, subcode, .. }) => {
            record.outcome = "rejected".into();
            record.error_code = Some(code);
            standin.record(record);
            return graph_error(StatusCode::BAD_REQUEST, code, subcode, title(code));
        }
        Some(Fault::Timeout { delay_ms, .. }) => {
            let wamid = accept(&standin, record, &number, &to);
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            return sent_response(&to, &wamid, "accepted");
        }
        Some(Fault::Reset { .. }) => {
            accept(&standin, record, &number, &to);
            // Headers, then a body that fails: the connection breaks mid-answer.
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected reset"))
            });
            return (StatusCode::OK, Body::from_stream(broken)).into_response();
        }
        None => {}
    }
    if let shared::graph::messages::Content::Template { template } = &message.content {
        if let Some((code, why)) = standin.template_refusal(&number, &to, template) {
            record.outcome = "rejected".into();
            record.error_code = Some(code);
            standin.record(record);
            return graph_error(StatusCode::BAD_REQUEST, code, None, why);
        }
    }
    if let Some(code) = standin.admit(&number, &to) {
        record.outcome = "rejected".into();
        record.error_code = Some(code);
        standin.record(record);
        return graph_error(StatusCode::BAD_REQUEST, code, None, title(code));
    }
    let held = match &message.content {
        shared::graph::messages::Content::Template { template } => {
            standin.template_paced(&number, &template.name, &template.language.code)
        }
        _ => false,
    };
    let wamid = accept(&standin, record, &number, &to);
    // Template pacing: Meta takes the message and holds it.
    let status = match held {
        true => "held_for_quality_assessment",
        false => "accepted",
    };
    sent_response(&to, &wamid, status)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty())
}

impl StandIn {
    /// A number a known business holds answers only to that business's tokens.
    fn refuse_foreign(&self, number: &str, headers: &HeaderMap) -> Option<Response> {
        let owner = self.owner_of(number)?;
        let token = bearer(headers).unwrap_or_default();
        if owner.tokens.iter().any(|t| t == token) {
            return None;
        }
        Some(no_permission())
    }
}

/// What Meta answers a token that does not reach the object.
fn no_permission() -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        200,
        Some(1349174),
        "Your app doesn't have permission to access this phone number",
    )
}

fn no_such_object(id: &str) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7)
}

fn bad_token() -> Response {
    graph_error(
        StatusCode::UNAUTHORIZED,
        190,
        None,
        "Invalid OAuth access token",
    )
}

async fn upload_media(
    State(standin): State<StandIn>,
    Path((_version, number)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&headers) {
        return bad_token();
    }
    if let Some(refused) = standin.refuse_foreign(&number, &headers) {
        return refused;
    }
    let boundary = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned());
    let parts = boundary.map(|b| form_parts(&body, &b)).unwrap_or_default();
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let (Some(file), Some(kind), Some(product)) =
        (field("file"), field("type"), field("messaging_product"))
    else {
        return graph_error(StatusCode::BAD_REQUEST, 100, None, "Invalid parameter");
    };
    if product.value.as_ref() != b"whatsapp" || file.value.is_empty() {
        return graph_error(StatusCode::BAD_REQUEST, 100, None, "Invalid parameter");
    }
    let id = {
        let mut s = standin.lock();
        s.next_id += 1;
        format!("{}", 4_490_709_327_384_000u64 + s.next_id)
    };
    standin.lock().media.insert(
        id.clone(),
        StoredMedia {
            mime_type: String::from_utf8_lossy(&kind.value).into_owned(),
            bytes: file.value.clone(),
            number: Some(number),
        },
    );
    Json(json!({"id": id})).into_response()
}

struct FormPart {
    name: String,
    value: axum::body::Bytes,
}

/// Just enough of multipart/form-data to read Meta's upload form.
fn form_parts(body: &axum::body::Bytes, boundary: &str) -> Vec<FormPart> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = &body[..];
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content = &rest[head_end + 4..];
        let Some(end) = find(content, format!("\r\n{delimiter}").as_bytes()) else {
            break;
        };
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|n| n.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let offset = content.as_ptr() as usize - body.as_ptr() as usize;
        out.push(FormPart {
            name,
            value: body.slice(offset..offset + end),
        });
        rest = &content[end + 2..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `GET /{id}`: a phone number's fields, or a media's URL (Meta's ids share one space).
async fn node(
    State(standin): State<StandIn>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return bad_token();
    }
    if let Some(owner) = standin.owner_of(&id) {
        let token = bearer(&headers).unwrap_or_default();
        if !owner.tokens.iter().any(|t| t == token) {
            return match standin.token_known(token) {
                true => no_permission(),
                false => bad_token(),
            };
        }
        let Some(n) = owner.numbers.iter().find(|n| n.id == id) else {
            return no_such_object(&id);
        };
        return Json(number_json(n)).into_response();
    }
    media_info(standin, id).await
}

fn number_json(n: &BusinessNumber) -> Value {
    json!({
        "id": n.id,
        "display_phone_number": n.display_phone_number,
        "verified_name": n.verified_name.clone().unwrap_or_else(|| "Stand-in Business".into()),
        "quality_rating": "GREEN",
    })
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /{waba-id}/phone_numbers`: the WABA's numbers, to its own tokens only, in pages.
async fn waba_numbers(
    State(standin): State<StandIn>,
    Path((version, waba_id)): Path<(String, String)>,
    axum::extract::Query(page): axum::extract::Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let waba = match standin.waba_for(&waba_id, &headers) {
        Ok(waba) => waba,
        Err(refused) => return *refused,
    };
    let data: Vec<Value> = waba.numbers.iter().map(number_json).collect();
    Json(standin.paged(data, &page, &format!("{version}/{waba_id}/phone_numbers?"))).into_response()
}

impl StandIn {
    /// The WABA, if the request's token is one of its own; Meta's refusal otherwise.
    fn waba_for(&self, waba_id: &str, headers: &HeaderMap) -> Result<Business, Box<Response>> {
        let Some(token) = bearer(headers) else {
            return Err(Box::new(bad_token()));
        };
        match self.waba(waba_id) {
            Some(waba) if waba.tokens.iter().any(|t| t == token) => Ok(waba),
            _ if self.token_known(token) => Err(Box::new(no_such_object(waba_id))),
            _ => Err(Box::new(bad_token())),
        }
    }

    /// One page of a connection, with Meta's `paging` (cursors, and `next` when more remain);
    /// `next_path` is the path and query of the next page, without the cursor.
    fn paged(&self, all: Vec<Value>, page: &PageQuery, next_path: &str) -> Value {
        let limit = page.limit.unwrap_or(25).clamp(1, 100);
        let start: usize = page
            .after
            .as_deref()
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let total = all.len();
        let data: Vec<Value> = all.into_iter().skip(start).take(limit).collect();
        let end = start + data.len();
        let cursor = |i: usize| base64::engine::general_purpose::STANDARD.encode(i.to_string());
        let mut paging = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
        if end < total {
            paging["next"] = json!(format!(
                "{}{next_path}limit={limit}&after={}",
                self.base_url().map(|u| u.to_string()).unwrap_or_default(),
                cursor(end)
            ));
        }
        json!({"data": data, "paging": paging})
    }
}

/// `POST /{waba-id}/subscribed_apps`: subscribes our app, for the WABA's own tokens only.
async fn subscribe_app(
    State(standin): State<StandIn>,
    Path((_version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return bad_token();
    };
    match standin.waba(&waba_id) {
        Some(waba) if waba.tokens.iter().any(|t| t == token) => {
            let mut s = standin.lock();
            let entry = (waba_id, token.to_owned());
            if !s.subscriptions.contains(&entry) {
                s.subscriptions.push(entry);
            }
            Json(json!({"success": true})).into_response()
        }
        _ if standin.token_known(token) => no_permission(),
        _ => bad_token(),
    }
}

async fn add_business_http(
    State(standin): State<StandIn>,
    Json(business): Json<Business>,
) -> StatusCode {
    standin.add_business(business);
    StatusCode::NO_CONTENT
}

async fn media_info(standin: StandIn, id: String) -> Response {
    let (media, base) = {
        let s = standin.lock();
        (s.media.get(&id).cloned(), s.base_url.clone())
    };
    let (Some(media), Some(base)) = (media, base) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            100,
            Some(33),
            "Unsupported get request. Object does not exist",
        );
    };
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&media.bytes))
    };
    Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{base}_standin/media/{id}"),
        "mime_type": media.mime_type,
        "sha256": digest,
        "file_size": media.bytes.len(),
        "id": id,
    }))
    .into_response()
}

async fn download_media(
    State(standin): State<StandIn>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return bad_token();
    }
    match standin.media(&id) {
        Some(m) => ([("content-type", m.mime_type)], m.bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn seed_media_http(
    State(standin): State<StandIn>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mime = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    standin.seed_media(&id, &mime, body);
    StatusCode::NO_CONTENT
}

fn accept(standin: &StandIn, mut record: Recorded, number: &str, to: &str) -> String {
    let wamid = standin.next_wamid();
    record.outcome = "accepted".into();
    record.wamid = Some(wamid.clone());
    let kind = record
        .body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    standin.record(record);
    let config = standin.config();
    if let Some(url) = config.webhook_url.clone() {
        let standin = standin.clone();
        let (number, to, wamid2) = (number.to_owned(), to.to_owned(), wamid.clone());
        tokio::spawn(async move {
            for status in &config.statuses {
                let payload = status_webhook(&number, &to, &wamid2, status, &kind);
                let _ = standin
                    .post_webhook(&url, config.app_secret.as_deref(), &payload)
                    .await;
            }
        });
    }
    wamid
}

fn wamid_for(n: u64) -> String {
    let raw = format!("standin-{n:020}");
    format!(
        "wamid.{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn sent_response(to: &str, wamid: &str, status: &str) -> Response {
    // A user reached by BSUID is answered with its `user_id`, not a `wa_id`.
    let contact = match shared::domain::Bsuid::parse(to) {
        Ok(_) => json!({"input": to, "user_id": to}),
        Err(_) => json!({"input": to, "wa_id": to.trim_start_matches('+')}),
    };
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": wamid, "message_status": status}]
    }))
    .into_response()
}

/// A status webhook as Meta posts it, with a pricing object for sent and delivered.
pub fn status_webhook(number: &str, to: &str, wamid: &str, status: &str, kind: &str) -> Value {
    let category = if kind == "template" {
        "marketing"
    } else {
        "service"
    };
    let mut s = json!({
        "id": wamid,
        "status": status,
        "timestamp": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
    });
    match shared::domain::Bsuid::parse(to) {
        Ok(_) => s["recipient_user_id"] = json!(to),
        Err(_) => s["recipient_id"] = json!(to.trim_start_matches('+')),
    }
    if status != "read" {
        s["pricing"] = json!({
            "billable": kind == "template",
            "pricing_model": "PMP",
            "type": if kind == "template" { "regular" } else { "free_customer_service" },
            "category": category,
        });
    }
    messages_change(number, json!({"statuses": [s]}))
}

/// A `messages` change of the demo WABA for `number`, as Meta posts one: `fields` (statuses,
/// or contacts and messages) beside the product and the number's metadata.
fn messages_change(number: &str, fields: Value) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
    });
    if let (Some(value), Value::Object(fields)) = (value.as_object_mut(), fields) {
        value.extend(fields);
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{"field": "messages", "value": value}],
        }],
    })
}

/// An inbound text message webhook as Meta posts it: one message from `from` (digits, as Meta
/// writes a `wa_id`), with the sender's profile name.
pub fn message_webhook(number: &str, from: &str, wamid: &str, name: &str, text: &str) -> Value {
    messages_change(
        number,
        json!({
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [{
                "from": from,
                "id": wamid,
                "timestamp": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
                "type": "text",
                "text": {"body": text},
            }],
        }),
    )
}

impl StandIn {
    /// Posts a webhook payload as Meta does: JSON, signed with the app secret.
    pub async fn post_webhook(
        &self,
        url: &str,
        app_secret: Option<&str>,
        payload: &Value,
    ) -> Result<StatusCode, reqwest::Error> {
        let body = payload.to_string();
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(secret) = app_secret {
            req = req.header(HEADER, sign(secret.as_bytes(), body.as_bytes()));
        }
        Ok(StatusCode::from_u16(req.send().await?.status().as_u16()).unwrap_or(StatusCode::OK))
    }
}

async fn list_requests(State(standin): State<StandIn>) -> Json<Vec<Recorded>> {
    Json(standin.requests())
}

async fn add_fault(State(standin): State<StandIn>, Json(fault): Json<Fault>) -> StatusCode {
    standin.inject(fault);
    StatusCode::NO_CONTENT
}

async fn set_config(
    State(standin): State<StandIn>,
    Json(config): Json<StandInConfig>,
) -> StatusCode {
    standin.configure(config);
    StatusCode::NO_CONTENT
}

async fn reset(State(standin): State<StandIn>) -> StatusCode {
    standin.reset();
    StatusCode::NO_CONTENT
}
