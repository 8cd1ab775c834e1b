use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::{Problem, ProblemType};

/// A JSON request body, strictly: `Content-Type: application/json`, within the router's body
/// limit, and deserialised with the path of the first error in the message. Request types use
/// `#[serde(deny_unknown_fields)]`, so a misspelt field is an error, not silently dropped.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        if !is_json {
            return Err(Problem::new(ProblemType::UnsupportedMediaType)
                .with_detail("Send the body as JSON with Content-Type: application/json."));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(ProblemType::PayloadTooLarge)
            } else {
                Problem::new(ProblemType::MalformedRequest)
                    .with_detail("The body could not be read.")
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let detail = if path == "." {
                format!("Invalid JSON: {inner}")
            } else {
                format!("Invalid JSON at `{path}`: {inner}")
            };
            Problem::new(ProblemType::MalformedRequest).with_detail(detail)
        })?;
        de.end().map_err(|_| {
            Problem::new(ProblemType::MalformedRequest)
                .with_detail("Invalid JSON: trailing characters after the value")
        })?;
        Ok(ApiJson(value))
    }
}

/// Query parameters, strictly: unknown parameters and bad values are a `malformed-request`
/// problem (axum's own `Query` answers plain text).
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                Problem::new(ProblemType::MalformedRequest)
                    .with_detail(format!("Invalid query parameters: {e}"))
            })
    }
}
