//! The webhook Lambda: wiring only. Handlers live in the library and are tested without Lambda.

use std::sync::Arc;

use shared::services::App;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = webhook::WebhookConfig::from_env()?;
    let ports = shared::adapters::aws::ports_from_env().await?;
    lambda_http::run(webhook::router(Arc::new(App::new(ports)), config)).await
}
