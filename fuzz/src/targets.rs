//! The code each target runs an input through, and what counts as a failure there.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::domain::{ApiLimits, Region};
use shared::services::imports::csv::CsvStream;
use shared::services::imports::rows::{header, parse_row};
use tower::ServiceExt;

pub enum Target {
    /// Meta's webhook payloads: `shared::webhook::parse`.
    Webhook,
    /// Contact files: the CSV reader, the header and every row.
    Csv(tokio::runtime::Runtime),
    /// The payment provider's events: `shared::payments::PaymentEvent::parse`.
    Payments,
    /// The API's JSON bodies, through the real router on the local adapters: no answer may be
    /// a 500 (a panic in a handler is one), and every refusal is problem+json.
    Api(Box<ApiTarget>),
}

pub struct ApiTarget {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    key: String,
    /// Routes of the seeds, for inputs whose envelope no longer parses.
    routes: Vec<(Method, String)>,
    _dir: tempfile::TempDir,
}

impl Target {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "webhook" => Target::Webhook,
            "csv" => Target::Csv(tokio::runtime::Builder::new_current_thread().build()?),
            "payments" => Target::Payments,
            "api" => Target::Api(Box::new(ApiTarget::new()?)),
            other => anyhow::bail!("no target {other}; the targets are {:?}", super::TARGETS),
        })
    }

    /// Whether its seeds are JSON (and so mutated node by node too).
    pub fn json(&self) -> bool {
        !matches!(self, Target::Csv(_))
    }

    /// `Ok(accepted)`, or why the input is a failure.
    pub fn run(&mut self, input: &[u8]) -> Result<bool, String> {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match self {
            Target::Webhook => Ok(shared::webhook::parse(input).is_ok()),
            Target::Payments => Ok(shared::payments::PaymentEvent::parse(input).is_ok()),
            Target::Csv(rt) => Ok(rt.block_on(csv(input))),
            Target::Api(api) => api.run(input),
        }));
        match outcome {
            Ok(result) => result,
            Err(panic) => Err(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }
}

async fn csv(input: &[u8]) -> bool {
    let mut stream = CsvStream::new(input);
    let mut rows = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => break,
            Err(_) => return false,
        }
    }
    let Some(first) = rows.first() else {
        return false;
    };
    let Ok(h) = header(first) else {
        return false;
    };
    let region = Region::parse("GB").ok();
    let mut accepted = false;
    for (i, raw) in rows.iter().enumerate().skip(1) {
        accepted |= parse_row(&h, i as u64 + 1, raw, region).is_ok();
    }
    accepted
}

impl ApiTarget {
    fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let app = shared::testing::local_app(dir.path()).with_api_limits(ApiLimits {
            per_account: u32::MAX,
            per_key: u32::MAX,
            signups_per_hour: u32::MAX,
        });
        let router = api::router(Arc::new(app));
        let signup = serde_json::json!({"business_name": "Fuzz", "email": "fuzz@example.com"});
        let (status, body) = runtime.block_on(call(
            &router,
            Method::POST,
            "/v1/signup",
            None,
            signup.to_string().into_bytes(),
        ));
        anyhow::ensure!(status == StatusCode::CREATED, "signup: {status} {body}");
        let key = body["api_key"].as_str().unwrap_or_default().to_owned();
        let routes = super::corpus("api")?
            .iter()
            .filter_map(|seed| serde_json::from_slice::<Value>(seed).ok())
            .filter_map(|v| {
                let method = Method::from_bytes(v["method"].as_str()?.as_bytes()).ok()?;
                Some((method, v["path"].as_str()?.to_owned()))
            })
            .collect();
        Ok(Self {
            runtime,
            router,
            key,
            routes,
            _dir: dir,
        })
    }

    /// An input is an envelope `{"method", "path", "body"}`; one that no longer parses is sent
    /// as the raw body of one of the seeds' routes.
    fn run(&mut self, input: &[u8]) -> Result<bool, String> {
        let envelope = serde_json::from_slice::<Value>(input).ok().and_then(|v| {
            let method = Method::from_bytes(v.get("method")?.as_str()?.as_bytes()).ok()?;
            let path = v.get("path")?.as_str()?.to_owned();
            let body = v.get("body").map(|b| b.to_string().into_bytes());
            Some((method, path, body.unwrap_or_default()))
        });
        let (method, path, body) = match envelope {
            Some(e) if e.1.starts_with('/') => e,
            _ => {
                let i = input.iter().map(|b| *b as usize).sum::<usize>() % self.routes.len().max(1);
                let (m, p) = self
                    .routes
                    .get(i)
                    .cloned()
                    .unwrap_or((Method::POST, "/v1/contacts".into()));
                (m, p, input.to_vec())
            }
        };
        // A path that is not a valid URI is refused before it reaches us.
        if path.parse::<axum::http::Uri>().is_err() {
            return Ok(false);
        }
        let (status, answer) = self.runtime.block_on(call(
            &self.router,
            method.clone(),
            &path,
            Some(&self.key),
            body,
        ));
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Err(format!("{method} {path} answered 500: {answer}"));
        }
        if !status.is_success() && answer.get("type").and_then(Value::as_str).is_none() {
            return Err(format!(
                "{method} {path} answered {status} without a problem: {answer}"
            ));
        }
        Ok(status.is_success())
    }
}

async fn call(
    router: &axum::Router,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        request = request.header("authorization", format!("Bearer {k}"));
    }
    let Ok(request) = request.body(Body::from(body)) else {
        return (StatusCode::BAD_REQUEST, Value::Null);
    };
    let Ok(response) = router.clone().oneshot(request).await;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}
