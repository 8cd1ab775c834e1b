use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::params;

use super::Db;
use crate::ports::queue::check_receive;
use crate::ports::{OutgoingMessage, Queue, QueueError, ReceivedMessage};

/// How often a waiting receive looks again.
const POLL: Duration = Duration::from_millis(25);

/// A durable queue in the SQLite file, with SQS's semantics: delays, visibility timeouts, and
/// redrive to a dead-letter queue after `max_receives` receives.
#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    name: String,
    redrive: Option<(String, u32)>,
}

impl SqliteQueue {
    pub fn new(db: Db, name: impl Into<String>) -> Self {
        Self {
            db,
            name: name.into(),
            redrive: None,
        }
    }

    /// Messages received `max_receives` times without an ack move to `dead_letter_queue`.
    pub fn with_redrive(mut self, dead_letter_queue: impl Into<String>, max_receives: u32) -> Self {
        self.redrive = Some((dead_letter_queue.into(), max_receives.max(1)));
        self
    }
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        let mut ids = self.send_batch(vec![message]).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Unavailable("no id returned".into()))
    }

    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError> {
        for m in &messages {
            m.check()?;
        }
        let queue = self.name.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let now = now_ms();
                let mut ids = Vec::with_capacity(messages.len());
                for m in messages {
                    let id = ulid::Ulid::new().to_string();
                    tx.execute(
                        "INSERT INTO queue_messages (id, queue, body, visible_at_ms) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![id, queue, m.body, now + millis(m.delay)],
                    )?;
                    ids.push(id);
                }
                tx.commit()?;
                Ok(ids)
            })
            .await
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive(max)?;
        let deadline = Instant::now() + wait;
        loop {
            let queue = self.name.clone();
            let redrive = self.redrive.clone();
            let got = self
                .db
                .call(move |c| {
                    let tx = c.transaction()?;
                    let now = now_ms();
                    let mut out = Vec::new();
                    {
                        let mut stmt = tx.prepare(
                            "SELECT id, body, receive_count FROM queue_messages \
                             WHERE queue = ?1 AND visible_at_ms <= ?2 \
                             ORDER BY visible_at_ms, id",
                        )?;
                        let mut rows = stmt.query(params![queue, now])?;
                        while out.len() < max {
                            let Some(row) = rows.next()? else { break };
                            let id: String = row.get(0)?;
                            let body: String = row.get(1)?;
                            let count: u32 = row.get(2)?;
                            match &redrive {
                                Some((dlq, limit)) if count >= *limit => {
                                    tx.execute(
                                        "UPDATE queue_messages SET queue = ?2, receive_count = 0, \
                                         receipt = NULL, visible_at_ms = ?3 WHERE id = ?1",
                                        params![id, dlq, now],
                                    )?;
                                }
                                _ => {
                                    let receipt = ulid::Ulid::new().to_string();
                                    tx.execute(
                                        "UPDATE queue_messages SET receive_count = ?2, \
                                         receipt = ?3, visible_at_ms = ?4 WHERE id = ?1",
                                        params![id, count + 1, receipt, now + millis(visibility)],
                                    )?;
                                    out.push(ReceivedMessage {
                                        id,
                                        receipt,
                                        body,
                                        receive_count: count + 1,
                                    });
                                }
                            }
                        }
                    }
                    tx.commit()?;
                    Ok::<_, QueueError>(out)
                })
                .await?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(POLL.min(deadline - Instant::now())).await;
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let queue = self.name.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM queue_messages WHERE receipt = ?1 AND queue = ?2",
                    params![receipt, queue],
                )?;
                Ok(())
            })
            .await
    }

    async fn ack_batch(&self, receipts: &[String]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let receipts = receipts.to_vec();
        let queue = self.name.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let mut failed = Vec::new();
                {
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM queue_messages WHERE receipt = ?1 AND queue = ?2",
                    )?;
                    for (i, receipt) in receipts.iter().enumerate() {
                        if delete.execute(params![receipt, queue])? == 0 {
                            failed.push(i);
                        }
                    }
                }
                tx.commit()?;
                match failed.is_empty() {
                    true => Ok(()),
                    false => Err(QueueError::PartialBatch { failed }),
                }
            })
            .await
    }
}
