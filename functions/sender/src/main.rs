//! The sender Lambda: wiring only.

use shared::adapters::aws::{table_policy, Role};
use shared::services::SenderSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // The role (template.yaml): the table, tenant keys, the send queue (retries).
    let app = Role::from_env(table_policy::SENDER)?.kms().sqs().app()?;
    let settings = SenderSettings::default();
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        sender::lambda::handle(&app, &settings, event)
    }))
    .await
}
