use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use crate::ports::queue::{check_receive, MAX_BATCH};
use crate::ports::{OutgoingMessage, Queue, QueueError, ReceivedMessage};

/// A queue on SQS. Redrive to the dead-letter queue is a property of the queue itself
/// (template.yaml, or [`SqsQueue::create_with_dead_letter_queue`] in tests).
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> QueueError {
    QueueError::Unavailable(super::describe(&err).1)
}

fn seconds(d: Duration) -> i32 {
    // SQS counts whole seconds; round up so a delay or timeout is never shorter than asked.
    i32::try_from(d.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Creates `name` and `name-dlq`, with messages moving to the latter after `max_receives`
    /// receives. Returns (queue url, dead-letter queue url).
    pub async fn create_with_dead_letter_queue(
        client: &Client,
        name: &str,
        max_receives: u32,
    ) -> Result<(String, String), QueueError> {
        let dlq = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .map_err(classify)?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
        let attrs = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(classify)?;
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": max_receives,
        })
        .to_string();
        let main = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .map_err(classify)?;
        Ok((main.queue_url().unwrap_or_default().to_owned(), dlq_url))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        message.check()?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body)
            .delay_seconds(seconds(message.delay))
            .send()
            .await
            .map_err(classify)?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError> {
        for m in &messages {
            m.check()?;
        }
        let mut ids = vec![String::new(); messages.len()];
        let mut failed = Vec::new();
        for (chunk_no, chunk) in messages.chunks(MAX_BATCH).enumerate() {
            let base = chunk_no * MAX_BATCH;
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id((base + i).to_string())
                        .message_body(m.body.clone())
                        .delay_seconds(seconds(m.delay))
                        .build()
                        .map_err(|e| QueueError::Invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(classify)?;
            for ok in out.successful() {
                if let Ok(i) = ok.id().parse::<usize>() {
                    if let Some(slot) = ids.get_mut(i) {
                        *slot = ok.message_id().to_owned();
                    }
                }
            }
            failed.extend(
                out.failed()
                    .iter()
                    .filter_map(|f| f.id().parse::<usize>().ok()),
            );
        }
        if failed.is_empty() {
            Ok(ids)
        } else {
            failed.sort_unstable();
            Err(QueueError::PartialBatch { failed })
        }
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive(max)?;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max as i32)
            .visibility_timeout(seconds(visibility))
            .wait_time_seconds(seconds(wait).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .messages()
            .iter()
            .map(|m| ReceivedMessage {
                id: m.message_id().unwrap_or_default().to_owned(),
                receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn ack_batch(&self, receipts: &[String]) -> Result<(), QueueError> {
        let mut failed = Vec::new();
        for (chunk_no, chunk) in receipts.chunks(MAX_BATCH).enumerate() {
            let base = chunk_no * MAX_BATCH;
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id((base + i).to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| QueueError::Invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(classify)?;
            failed.extend(
                out.failed()
                    .iter()
                    .filter_map(|f| f.id().parse::<usize>().ok()),
            );
        }
        if failed.is_empty() {
            Ok(())
        } else {
            failed.sort_unstable();
            Err(QueueError::PartialBatch { failed })
        }
    }
}
