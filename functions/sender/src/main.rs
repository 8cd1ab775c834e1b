//! The sender Lambda: wiring only.

use shared::services::SenderSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let app = shared::adapters::aws::app_from_env().await?;
    let settings = SenderSettings::default();
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        sender::lambda::handle(&app, &settings, event)
    }))
    .await
}
