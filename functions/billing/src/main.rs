//! The billing Lambda: wiring only. The handler lives in the library and is tested without Lambda.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = billing::BillingWebhookConfig::from_env()?;
    let app = shared::adapters::aws::app_from_env().await?;
    lambda_http::run(billing::router(Arc::new(app), config)).await
}
