//! Handlers: parse the request into domain types, call the service, shape the answer.

pub mod accounts;
pub mod api_keys;
pub mod billing;
pub mod broadcasts;
pub mod contacts;
pub mod conversations;
pub mod imports;
pub mod media;
pub mod messages;
pub mod numbers;
pub mod privacy;
pub mod templates;
pub mod webhook_endpoints;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

/// `201 Created` with the new resource's path in `Location`.
pub fn created<T: Serialize>(location: String, body: T) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

/// `openapi.yaml`, turned into JSON when the function is built (`build.rs`).
pub async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!(concat!(env!("OUT_DIR"), "/openapi.json")),
    )
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
