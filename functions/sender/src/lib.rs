//! The sender: takes queued send tasks, sends what the pacing allows, and puts the rest back
//! with a delay. The Lambda runs it on SQS batches; the local runner on its embedded queue.

use shared::services::{App, Delivery, SendTask, SenderSettings};

/// What became of one queue message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Done or rescheduled: acknowledge it.
    Ack,
    /// Leave it for the queue to deliver again (and, after enough tries, dead-letter it).
    Fail(String),
}

/// Handles a batch of queue message bodies, in order.
pub async fn handle(app: &App, bodies: &[&str], settings: &SenderSettings) -> Vec<Handled> {
    let mut out = vec![Handled::Ack; bodies.len()];
    let mut tasks = Vec::with_capacity(bodies.len());
    let mut slots = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.iter().enumerate() {
        match serde_json::from_str::<SendTask>(body) {
            Ok(t) => {
                tasks.push(t);
                slots.push(i);
            }
            Err(e) => out[i] = Handled::Fail(format!("not a send task: {e}")),
        }
    }
    let deliveries = match app.deliver(&tasks, settings).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "send batch failed; it will be retried");
            for i in slots {
                out[i] = Handled::Fail(e.to_string());
            }
            return out;
        }
    };
    for ((task, delivery), i) in tasks.iter().zip(deliveries).zip(slots) {
        if let Delivery::RetryAfter(delay) = delivery {
            // A fresh queue message with the delay; this one is done.
            if let Err(e) = app
                .queue_send(&task.account_id, &task.message_id, delay)
                .await
            {
                out[i] = Handled::Fail(e.to_string());
            }
        }
    }
    out
}

#[cfg(feature = "aws")]
pub mod lambda {
    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use lambda_runtime::LambdaEvent;
    use shared::services::{App, SenderSettings};

    /// The SQS handler: failed messages are reported one by one (`ReportBatchItemFailures`).
    pub async fn handle(
        app: &App,
        settings: &SenderSettings,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let records = event.payload.records;
        let bodies: Vec<&str> = records
            .iter()
            .map(|r| r.body.as_deref().unwrap_or_default())
            .collect();
        let handled = super::handle(app, &bodies, settings).await;
        let mut response = SqsBatchResponse::default();
        for (record, h) in records.iter().zip(handled) {
            if let super::Handled::Fail(why) = h {
                let id = record.message_id.clone().unwrap_or_default();
                tracing::warn!(message_id = %id, error = %why, "send task failed; it will be retried");
                response.add_failure(id);
            }
        }
        Ok(response)
    }
}
