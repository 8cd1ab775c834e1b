//! The queue: at-least-once delivery with delays, visibility timeouts and a dead-letter queue.
//!
//! A message received and not acknowledged within its visibility timeout comes back; after the
//! queue's maximum receive count it moves to the dead-letter queue instead (SQS redrive). The
//! dead-letter queue is itself a [`Queue`], so operators drain it with the same calls.

use std::time::Duration;

use async_trait::async_trait;

/// Largest delay SQS accepts.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Largest message body SQS accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most messages SQS takes in one batch call; adapters split longer batches.
pub const MAX_BATCH: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// UTF-8 text, usually JSON.
    pub body: String,
    pub delay: Duration,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn check(&self) -> Result<(), QueueError> {
        if self.body.is_empty() || self.body.len() > MAX_BODY_BYTES {
            return Err(QueueError::Invalid(format!(
                "message body must be 1..={MAX_BODY_BYTES} bytes"
            )));
        }
        if self.delay > MAX_DELAY {
            return Err(QueueError::Invalid("delay above 15 minutes".into()));
        }
        Ok(())
    }
}

/// What every adapter refuses before calling its backend.
pub fn check_receive(max: usize) -> Result<(), QueueError> {
    if max == 0 || max > MAX_BATCH {
        return Err(QueueError::Invalid(format!(
            "receive takes 1..={MAX_BATCH} messages"
        )));
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub id: String,
    /// Handle for [`Queue::ack`]; changes with every receive.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid message: {0}")]
    Invalid(String),
    /// Some messages of a batch were not accepted; the indexes name them.
    #[error("{} messages of the batch were not accepted", failed.len())]
    PartialBatch { failed: Vec<usize> },
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Returns the message id.
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Any number of messages; returns their ids in order.
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError>;

    /// Up to `max` (1..=10) visible messages, hidden for `visibility` afterwards; waits up to
    /// `wait` for the first one.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Deletes a received message for good.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;

    /// Deletes received messages for good, as few requests as the queue allows (what the
    /// Lambda SQS trigger does with a batch's successes). A receipt that is no longer valid
    /// is reported as `PartialBatch` by its position; the others are deleted.
    async fn ack_batch(&self, receipts: &[String]) -> Result<(), QueueError>;
}
