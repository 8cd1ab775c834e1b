//! The retention function: once a day (an EventBridge schedule on AWS; the runner's clock and
//! `whatatalk-local retention` locally) it applies every tenant's retention policy. Work is
//! bounded per run; what a run leaves is taken up by the next.

use shared::domain::now;
use shared::services::privacy::retention::RetentionReport;
use shared::services::{App, ServiceError};

/// Items one run may touch: well within a 15-minute invocation.
pub const BUDGET: u64 = 200_000;

/// One run, as of now.
pub async fn run(app: &App) -> Result<RetentionReport, ServiceError> {
    app.run_retention(now(), BUDGET).await
}

#[cfg(feature = "aws")]
pub mod lambda {
    use lambda_runtime::LambdaEvent;
    use serde_json::Value;
    use shared::services::App;

    /// The scheduled event carries nothing we need; the report is the invocation's result.
    pub async fn handle(
        app: &App,
        _event: LambdaEvent<Value>,
    ) -> Result<Value, lambda_runtime::Error> {
        let report = super::run(app).await?;
        Ok(serde_json::to_value(report)?)
    }
}
