//! The API Lambda: wiring only. Handlers live in the library and are tested without Lambda.

use shared::adapters::aws::{table_policy, Role};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    // The role (template.yaml): the table, tenant keys, the bucket, both queues.
    let app = Role::from_env(table_policy::API)?.kms().s3().sqs().app()?;
    lambda_http::run(api::router(Arc::new(app))).await
}
