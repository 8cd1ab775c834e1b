//! The jobs Lambda: wiring only.

use shared::services::App;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let app = App::new(shared::adapters::aws::ports_from_env().await?);
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        jobs::lambda::handle(&app, event)
    }))
    .await
}
