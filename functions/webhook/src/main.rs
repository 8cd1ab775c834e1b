//! The webhook Lambda: wiring only. Handlers live in the library and are tested without Lambda.

use shared::adapters::aws::{table_policy, Role};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = webhook::WebhookConfig::from_env()?;
    // The role (template.yaml): the table, tenant keys, the bucket (dead letters), the job queue
    // (media fetches).
    let app = Role::from_env(table_policy::WEBHOOK)?
        .kms()
        .s3()
        .sqs()
        .app()?;
    lambda_http::run(webhook::router(Arc::new(app), config)).await
}
