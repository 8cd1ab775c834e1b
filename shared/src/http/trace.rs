use std::any::Any;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use super::{Problem, ProblemType};

const REQUEST_ID: &str = "x-request-id";

/// What every HTTP function's router gets: problem+json for unknown routes and methods, a
/// body size limit, panics answered as 500 problems, and one log line per request that names
/// the route template — never the URI, whose path and query may hold personal data.
pub fn standard_layers<S>(router: Router<S>, body_limit: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// Marks a route's successful answers as not worth an access line at `info` (it is logged at
/// `debug`): Meta's webhook gets three calls a message, whose access lines were about 790
/// bytes of logs, some $0.40 per 1M messages (docs/costs.md). Refusals and errors still log
/// at `info`.
#[derive(Clone, Copy, Debug)]
pub struct QuietWhenOk;

/// `routes` with [`QuietWhenOk`] on every answer.
pub fn quiet_when_ok<S>(routes: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes.layer(middleware::map_response(
        |mut response: Response| async move {
            response.extensions_mut().insert(QuietWhenOk);
            response
        },
    ))
}

pub async fn fallback() -> Problem {
    Problem::not_found()
}

pub async fn method_not_allowed() -> Problem {
    Problem::new(ProblemType::MethodNotAllowed)
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    // The payload may quote input; it is not logged.
    tracing::error!("handler panicked");
    Problem::new(ProblemType::Internal).into_response()
}

/// A caller's request id is kept only if it looks like one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && v.bytes().any(|b| b.is_ascii_alphabetic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let id = request_id(&req);
    let span = tracing::info_span!("request", %method, route, request_id = %id);
    let mut response = next.run(req).instrument(span.clone()).await;
    let (status, latency_ms) = (
        response.status().as_u16(),
        started.elapsed().as_millis() as u64,
    );
    let quiet =
        response.status().is_success() && response.extensions().get::<QuietWhenOk>().is_some();
    span.in_scope(|| match quiet {
        true => tracing::debug!(status, latency_ms, "request done"),
        false => tracing::info!(status, latency_ms, "request done"),
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}
