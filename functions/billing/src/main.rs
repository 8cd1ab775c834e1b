//! The billing Lambda: wiring only. The handler lives in the library and is tested without Lambda.

use shared::adapters::aws::{table_policy, Role};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = billing::BillingWebhookConfig::from_env()?;
    // The role (template.yaml): the table and tenant keys (sealed billing details).
    let app = Role::from_env(table_policy::BILLING)?.kms().app()?;
    lambda_http::run(billing::router(Arc::new(app), config)).await
}
