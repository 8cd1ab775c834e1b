//! The client of Meta's Graph API (WhatsApp Cloud API): base URL and version from
//! configuration, bearer token per call, typed Graph errors. Message types build on it.

pub mod media;
pub mod messages;
pub mod numbers;
pub mod templates;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::AccessToken;

/// Where and how to reach the Graph API.
#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// `https://graph.facebook.com` in production, the stand-in locally and in tests.
    pub base_url: Url,
    /// e.g. `v23.0`.
    pub version: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

pub const DEFAULT_VERSION: &str = "v23.0";

impl GraphConfig {
    /// `WHATATALK_GRAPH_URL` and `WHATATALK_GRAPH_VERSION`, defaulting to Meta's production
    /// endpoint and [`DEFAULT_VERSION`].
    pub fn from_env() -> Result<Self, GraphError> {
        let base = std::env::var("WHATATALK_GRAPH_URL")
            .unwrap_or_else(|_| "https://graph.facebook.com/".into());
        let base = Url::parse(&base)
            .map_err(|e| GraphError::Config(format!("WHATATALK_GRAPH_URL: {e}")))?;
        let version =
            std::env::var("WHATATALK_GRAPH_VERSION").unwrap_or_else(|_| DEFAULT_VERSION.into());
        Ok(Self::new(base, version))
    }

    pub fn new(base_url: Url, version: impl Into<String>) -> Self {
        Self {
            base_url,
            version: version.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
        }
    }
}

/// Meta's error object (`{"error": {...}}`), kept whole so callers can classify by code.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct GraphApiError {
    #[serde(default)]
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub code: i64,
    #[serde(rename = "error_subcode", default)]
    pub subcode: Option<i64>,
    #[serde(rename = "error_user_title", default)]
    pub title: Option<String>,
    #[serde(default)]
    pub error_data: Option<GraphErrorData>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct GraphErrorData {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphApiError,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with an error object.
    #[error("graph error {} (http {status})", error.code)]
    Api {
        status: u16,
        error: Box<GraphApiError>,
    },
    /// Meta answered with a status and a body that is not an error object (a proxy, an outage).
    #[error("graph http {status} without an error object")]
    Http { status: u16 },
    #[error("graph request timed out")]
    Timeout,
    /// The connection could not be made: the request never left.
    #[error("graph unreachable: {0}")]
    Connect(String),
    /// The connection broke after the request may have left.
    #[error("graph connection broken: {0}")]
    Transport(String),
    #[error("graph response not understood: {0}")]
    Decode(String),
    #[error("graph client misconfigured: {0}")]
    Config(String),
    /// A download was larger than the caller accepts.
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: u64 },
}

#[derive(Clone)]
pub struct GraphClient {
    /// Built on first use: a function that never calls Meta (billing, retention) neither sets
    /// up TLS at start nor links the HTTP client into its binary.
    http: Arc<OnceLock<Result<reqwest::Client, String>>>,
    config: GraphConfig,
}

impl GraphClient {
    pub fn new(config: GraphConfig) -> Self {
        Self {
            http: Arc::default(),
            config,
        }
    }

    fn http(&self) -> Result<&reqwest::Client, GraphError> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(self.config.connect_timeout)
                    .timeout(self.config.request_timeout)
                    .user_agent(concat!("whatatalk/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| GraphError::Config(e.clone()))
    }

    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// `{base}/{version}/{path}`.
    pub fn url(&self, path: &str) -> Result<Url, GraphError> {
        self.config
            .base_url
            .join(&format!(
                "{}/{}",
                self.config.version,
                path.trim_start_matches('/')
            ))
            .map_err(|e| GraphError::Config(e.to_string()))
    }

    pub async fn post_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
        body: &B,
    ) -> Result<R, GraphError> {
        let request = self
            .http()?
            .post(self.url(path)?)
            .bearer_auth(token.expose())
            .json(body);
        Self::send(request).await
    }

    pub async fn get_json<R: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
    ) -> Result<R, GraphError> {
        self.bodiless(reqwest::Method::GET, path, token).await
    }

    pub async fn delete_json<R: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
    ) -> Result<R, GraphError> {
        self.bodiless(reqwest::Method::DELETE, path, token).await
    }

    async fn bodiless<R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &AccessToken,
    ) -> Result<R, GraphError> {
        Self::send(
            self.http()?
                .request(method, self.url(path)?)
                .bearer_auth(token.expose()),
        )
        .await
    }

    async fn send<R: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<R, GraphError> {
        let response = Self::respond(request).await?;
        let bytes = response.bytes().await.map_err(body_error)?;
        serde_json::from_slice(&bytes).map_err(|e| GraphError::Decode(e.to_string()))
    }

    /// Sends `request` and returns a successful response with its body unread; any other
    /// answer becomes the error Meta sent.
    async fn respond(request: reqwest::RequestBuilder) -> Result<reqwest::Response, GraphError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                GraphError::Timeout
            } else if e.is_connect() {
                GraphError::Connect(e.without_url().to_string())
            } else {
                // Without the URL: it is ours, but the error text is all the caller needs.
                GraphError::Transport(e.without_url().to_string())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.map_err(body_error)?;
        match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(env) => Err(GraphError::Api {
                status: status.as_u16(),
                error: Box::new(env.error),
            }),
            Err(_) => Err(GraphError::Http {
                status: status.as_u16(),
            }),
        }
    }
}

/// A connection's `paging`, as the Graph API pages every list.
#[derive(Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    /// Present only when another page exists.
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

impl Paging {
    /// The cursor of the next page, when there is one.
    pub(crate) fn next_cursor(self) -> Option<String> {
        self.next?;
        self.cursors?.after
    }
}

/// A value for a query string.
pub(crate) fn query_value(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

fn body_error(e: reqwest::Error) -> GraphError {
    if e.is_timeout() {
        GraphError::Timeout
    } else {
        GraphError::Transport(e.without_url().to_string())
    }
}

/// What a failed send means for the message, and what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Nothing was sent; try again after a pause (`backoff` says how the pause grows).
    Retry(Backoff),
    /// Meta refused the message for good.
    Permanent,
    /// The recipient stopped marketing messages (131050): record the opt-out.
    OptedOut,
    /// The number cannot send at all until its owner acts (190 expired token, 368 restricted).
    NumberStopped,
    /// Meta asks to slow down a campaign (131048 spam rate, 132015 paused template).
    PauseCampaign,
    /// The request may have been sent and its answer was lost: never resend on our own.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Throughput or transient errors: short, growing pauses.
    Exponential,
    /// 131056, the pair rate: 4^n seconds, as Meta advises.
    PairRate,
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// Sorts a failed send. Codes from Meta's error reference; an unknown code is permanent
    /// (a retry would most likely fail the same way).
    pub fn failure(&self) -> Failure {
        match self {
            GraphError::Api { status, error } => match error.code {
                131056 => Failure::Retry(Backoff::PairRate),
                // Throughput, app rate limits, "something went wrong", service unavailable,
                // transient and unknown server errors.
                130429 | 80007 | 4 | 131000 | 131016 | 1 | 2 => {
                    Failure::Retry(Backoff::Exponential)
                }
                131050 => Failure::OptedOut,
                190 | 368 | 131031 => Failure::NumberStopped,
                131048 | 132015 => Failure::PauseCampaign,
                _ if *status >= 500 => Failure::Retry(Backoff::Exponential),
                _ => Failure::Permanent,
            },
            GraphError::Http { status } if *status >= 500 || *status == 429 => {
                Failure::Retry(Backoff::Exponential)
            }
            GraphError::Http { .. } => Failure::Permanent,
            GraphError::Connect(_) => Failure::Retry(Backoff::Exponential),
            GraphError::Timeout | GraphError::Transport(_) | GraphError::Decode(_) => {
                Failure::Unknown
            }
            GraphError::Config(_) | GraphError::TooLarge { .. } => Failure::Permanent,
        }
    }
}
