//! The retention Lambda: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let app = shared::adapters::aws::app_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        retention::lambda::handle(&app, event)
    }))
    .await
}
