//! The retention Lambda: wiring only.

use shared::adapters::aws::{table_policy, Role};
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // The role (template.yaml): the table, deleting expired media from the bucket, and the
    // job queue (a closing account whose erasure job was lost is queued again).
    let app = Role::from_env(table_policy::RETENTION)?.s3().sqs().app()?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        retention::lambda::handle(&app, event)
    }))
    .await
}
