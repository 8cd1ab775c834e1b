//! The sender Lambda: wiring only.

use shared::services::{App, SenderSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let app = App::new(shared::adapters::aws::ports_from_env().await?);
    let settings = SenderSettings::default();
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        sender::lambda::handle(&app, &settings, event)
    }))
    .await
}
