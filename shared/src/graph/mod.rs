//! The client of Meta's Graph API (WhatsApp Cloud API): base URL and version from
//! configuration, bearer token per call, typed Graph errors. Message types build on it.

pub mod messages;

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
    #[error("graph unreachable: {0}")]
    Transport(String),
    #[error("graph response not understood: {0}")]
    Decode(String),
    #[error("graph client misconfigured: {0}")]
    Config(String),
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    config: GraphConfig,
}

impl GraphClient {
    pub fn new(config: GraphConfig) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("whatatalk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(e.to_string()))?;
        Ok(Self { http, config })
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
            .http
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
        Self::send(self.http.get(self.url(path)?).bearer_auth(token.expose())).await
    }

    async fn send<R: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<R, GraphError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                GraphError::Timeout
            } else {
                // Without the URL: it is ours, but the error text is all the caller needs.
                GraphError::Transport(e.without_url().to_string())
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                GraphError::Timeout
            } else {
                GraphError::Transport(e.without_url().to_string())
            }
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| GraphError::Decode(e.to_string()));
        }
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
