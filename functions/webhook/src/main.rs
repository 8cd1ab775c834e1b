//! The webhook Lambda: wiring only. Handlers live in the library and are tested without Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = webhook::WebhookConfig::from_env()?;
    let app = shared::adapters::aws::app_from_env().await?;
    lambda_http::run(webhook::router(Arc::new(app), config)).await
}
