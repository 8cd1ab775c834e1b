//! Handlers: parse the request into domain types, call the service, shape the answer.

pub mod accounts;
pub mod api_keys;
pub mod contacts;
pub mod imports;
pub mod numbers;

use axum::Json;
use serde_json::{json, Value};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
