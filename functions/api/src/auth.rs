use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use shared::http::{Problem, ProblemType};
use shared::services::{App, Principal, ServiceError};

/// The authenticated caller of a `/v1` route: taken from `Authorization: Bearer <api key>`.
/// Every handler that takes a `Caller` only ever sees its own tenant's data.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Problem> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("Send your API key as `Authorization: Bearer <key>`."))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| unauthorized("The Authorization header must be `Bearer <key>`."))?;
        match app.authenticate(token).await {
            Ok(principal) => {
                // Each request counts against its account's and its key's share.
                app.admit_request(&principal).await?;
                Ok(Caller(principal))
            }
            Err(ServiceError::Unauthorized) => Err(unauthorized(
                "The API key is malformed, unknown or revoked.",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(ProblemType::Unauthorized).with_detail(detail)
}

/// The client's address as the edge saw it: the last entry of `X-Forwarded-For` (API Gateway
/// appends the address it received the request from; entries before it are the client's
/// own say). `None` when no edge set it (the local runner reached directly).
pub fn client_address(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|a| !a.is_empty())
        .map(str::to_owned)
}
