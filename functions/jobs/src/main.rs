//! The jobs Lambda: wiring only.

use shared::adapters::aws::{table_policy, Role};
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // The role (template.yaml): the table, tenant keys, the bucket, both queues.
    let app = Role::from_env(table_policy::JOBS)?.kms().s3().sqs().app()?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        jobs::lambda::handle(&app, event)
    }))
    .await
}
