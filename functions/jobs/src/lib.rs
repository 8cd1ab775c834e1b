//! The jobs function: one queue message is one [`Job`] delivery. The Lambda handler reports
//! failed messages back to SQS one by one (`ReportBatchItemFailures`); the local runner drains
//! the same queue and calls [`run`].

use std::time::Instant;

use shared::services::{App, Job, JobOutcome, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("not a job message: {0}")]
    Malformed(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Runs the job in one message body. An error leaves the message on the queue for a retry
/// (and, after the queue's maximum receives, its dead-letter queue).
pub async fn run(
    app: &App,
    message_id: &str,
    body: &str,
    deadline: Option<Instant>,
) -> Result<JobOutcome, JobError> {
    let job = Job::parse(body).map_err(|e| JobError::Malformed(e.to_string()))?;
    let outcome = app.run_job(&job, message_id, deadline).await?;
    Ok(outcome)
}

#[cfg(feature = "aws")]
pub mod lambda {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use lambda_runtime::LambdaEvent;
    use shared::services::App;

    /// The SQS handler: every record is run; those that fail are reported, the rest acked.
    pub async fn handle(
        app: &App,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let deadline = deadline(event.context.deadline);
        let mut response = SqsBatchResponse::default();
        for record in event.payload.records {
            let id = record.message_id.clone().unwrap_or_default();
            let body = record.body.as_deref().unwrap_or_default();
            if let Err(e) = super::run(app, &id, body, Some(deadline)).await {
                tracing::warn!(message_id = %id, error = %e, "job failed; it will be retried");
                response.add_failure(id);
            }
        }
        Ok(response)
    }

    /// Lambda gives the deadline in epoch milliseconds.
    fn deadline(epoch_ms: u64) -> Instant {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Instant::now() + Duration::from_millis(epoch_ms.saturating_sub(now_ms))
    }
}
