//! The sender: takes send tasks off the queue and sends their messages to Meta.
//!
//! Never twice: the sender claims a message (queued → sending, a conditional write) before the
//! HTTP call, so a redelivered queue message finds it claimed. A send whose answer is lost
//! (timeout, broken connection, crash after the claim) ends `unknown` and is never resent on
//! our own; the owner sees it in `GET /v1/messages?status=unknown`.
//!
//! Never too fast: each number's tier is a token bucket in the item store, shared by every
//! sender instance; each (number, contact) pair waits its interval between messages.

use std::collections::HashMap;
use std::time::Duration;

use super::broadcasts::BroadcastGate;
use super::messages::SendTask;
use super::{App, ServiceError};
use crate::domain::{
    month_of, now, AccountId, Body, BroadcastId, Message, MessageError, MessageId, MessageStatus,
    PhoneNumberId, UsageDelta,
};
use crate::graph::messages::SendRequest;
use crate::graph::{Backoff, Failure, GraphError};
use crate::ports::{Item, Key, StoreError, Write};
use crate::records::{broadcast, message, sending, to_millis, usage};

/// What the sender should do with a task after trying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Finished (sent, failed, unknown, or nothing left to do): acknowledge it.
    Done,
    /// Try again after this long (throughput, pair rate, transient errors).
    RetryAfter(Duration),
}

/// Longest a batch waits in place for send tokens before the rest goes back to the queue.
const MAX_TOKEN_WAIT: Duration = Duration::from_secs(2);

/// How the sender behaves; `Default` is Meta's published limits.
#[derive(Clone, Copy, Debug)]
pub struct SenderSettings {
    /// Shortest gap between two messages from one number to one contact.
    pub pair_interval: Duration,
    /// Sends of one message before it fails for good on retryable errors.
    pub max_attempts: u32,
    /// A claim older than this without an outcome is a lost send: `unknown`.
    pub claim_timeout: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            pair_interval: Duration::from_secs(6),
            max_attempts: 8,
            // Twice the Graph client's request timeout.
            claim_timeout: Duration::from_secs(40),
        }
    }
}

/// How a message ended, as the sender records it.
struct Outcome {
    status: MessageStatus,
    wamid: Option<String>,
    error: Option<MessageError>,
    /// Meta holds it for a paced template's quality assessment.
    held: bool,
}

impl Outcome {
    fn failed(error: MessageError) -> Self {
        Self {
            status: MessageStatus::Failed,
            wamid: None,
            error: Some(error),
            held: false,
        }
    }

    fn unknown(error: MessageError) -> Self {
        Self {
            status: MessageStatus::Unknown,
            wamid: None,
            error: Some(error),
            held: false,
        }
    }
}

fn error(code: i64, title: impl Into<String>) -> MessageError {
    MessageError {
        code,
        title: title.into(),
        details: None,
    }
}

/// A message of a batch the sender holds: its place in the batch, the message, and the key of
/// its item (writes go where it was read: a message stored before the shards stays there).
type Held = (usize, Message, Key);

impl App {
    /// Tries to send a batch of tasks; what to do with each comes back in order.
    pub async fn deliver(
        &self,
        tasks: &[SendTask],
        settings: &SenderSettings,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let ids: Vec<_> = tasks
            .iter()
            .map(|t| (&t.account_id, &t.message_id))
            .collect();
        let items = self.message_items_at(&ids).await?;
        let apart = crate::records::companions(
            &*self.items,
            items.iter().flatten().filter_map(message::content_key),
        )
        .await?;
        let mut out = vec![Delivery::Done; tasks.len()];
        // The sendable ones, grouped by sending number for the token bucket.
        let mut by_number: HashMap<(AccountId, PhoneNumberId), Vec<Held>> = HashMap::new();
        // The broadcasts of the batch's messages: each one's state is read once a batch, and
        // whether it is complete asked once after the batch, not once a message (a batch is
        // mostly one broadcast's, and its item would take two reads a message).
        let mut broadcasts: HashMap<(AccountId, BroadcastId), Option<BroadcastGate>> =
            HashMap::new();
        for (i, (task, item)) in tasks.iter().zip(items).enumerate() {
            let Some(item) = item else { continue };
            let sealer = self.sealer(&task.account_id, message::SEALED).await?;
            let content = message::content_key(&item).and_then(|k| apart.get(&k));
            let m = message::from_items(&sealer, &item, content)?;
            // Its broadcast's gate, read for the first of its queued messages in the batch.
            let gate = match &m.broadcast_id {
                Some(b) => {
                    let gate = broadcasts
                        .entry((task.account_id.clone(), b.clone()))
                        .or_default();
                    if gate.is_none() && m.status == MessageStatus::Queued {
                        *gate = Some(self.broadcast_sendable(&task.account_id, b).await?);
                    }
                    *gate
                }
                None => None,
            };
            match m.status {
                MessageStatus::Queued => {
                    match gate {
                        None | Some(BroadcastGate::Send) => {}
                        // Paused: resuming queues it again.
                        Some(BroadcastGate::Hold) => continue,
                        Some(BroadcastGate::Canceled) => {
                            let canceled = Outcome {
                                status: MessageStatus::Canceled,
                                wamid: None,
                                error: None,
                                held: false,
                            };
                            self.finish(&task.account_id, &m, &item.key, canceled)
                                .await?;
                            continue;
                        }
                    }
                    by_number
                        .entry((task.account_id.clone(), m.number.clone()))
                        .or_default()
                        .push((i, m, item.key.clone()))
                }
                MessageStatus::Sending => {
                    out[i] = self
                        .settle_stale_claim(&task.account_id, &m, &item, settings)
                        .await?
                }
                _ => {}
            }
        }
        let mut sends = Vec::new();
        for ((account, number_id), messages) in by_number {
            let number = match self.number(&account, &number_id).await {
                Ok(n) => n,
                Err(ServiceError::NotFound) => {
                    for (_, m, at) in &messages {
                        let ended = Outcome::failed(error(0, "The number was disconnected"));
                        self.finish(&account, m, at, ended).await?;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(stop) = &number.sending_stopped {
                for (_, m, at) in &messages {
                    let ended = Outcome::failed(error(stop.code, stop.reason.clone()));
                    self.finish(&account, m, at, ended).await?;
                }
                continue;
            }
            // Short waits for tokens are spent here rather than on a trip through the queue.
            let wanted = messages.len() as u32;
            let rate = number.messages_per_second.max(1);
            let interval = Duration::from_micros(1_000_000 / u64::from(rate));
            let mut granted = 0;
            let mut next = Duration::ZERO;
            let waited_since = std::time::Instant::now();
            while granted < wanted {
                let got;
                (got, next) = self
                    .take_send_tokens(&number_id, rate, wanted - granted)
                    .await?;
                granted += got;
                if granted == wanted {
                    break;
                }
                // One sleep until the rest, or as many as the bucket holds, are there.
                let burst = (rate / 4).clamp(1, wanted - granted);
                let until = next + interval * (burst - 1);
                if waited_since.elapsed() + until > MAX_TOKEN_WAIT {
                    break;
                }
                tokio::time::sleep(until).await;
            }
            // Read again after the wait: a stop made meanwhile (the account closing, say)
            // holds for these sends.
            let token = match self.sending_credentials(&account, &number_id).await {
                Ok((token, None)) => Ok(token),
                Ok((_, Some(stop))) => Err(error(stop.code, stop.reason)),
                Err(ServiceError::NotFound) => Err(error(0, "The number was disconnected")),
                Err(e) => return Err(e),
            };
            let token = match token {
                Ok(token) => token,
                Err(ended) => {
                    for (_, m, at) in &messages {
                        self.finish(&account, m, at, Outcome::failed(ended.clone()))
                            .await?;
                    }
                    continue;
                }
            };
            for (n, (i, m, at)) in messages.into_iter().enumerate() {
                if let Some(behind) = (n as u32).checked_sub(granted) {
                    // One token apart: all coming back at once would find the bucket's few
                    // tokens and go round again, most of them, every time.
                    out[i] = Delivery::RetryAfter(next + interval * behind);
                    continue;
                }
                sends.push((i, account.clone(), token.clone(), m, at));
            }
        }
        let results = futures::future::join_all(sends.into_iter().map(
            |(i, account, token, m, at)| async move {
                let id = m.id.clone();
                let r = self.send_one(&account, &token, m, &at, settings).await;
                (i, account, id, r)
            },
        ))
        .await;
        // The batch's sends count in one write per account, not one per message. A crash
        // before it leaves the batch's sends uncounted (as one per message could leave one).
        let mut sent: HashMap<AccountId, (MessageId, i64)> = HashMap::new();
        let mut failure = None;
        for (i, account, id, r) in results {
            match r {
                Ok((delivery, counted)) => {
                    out[i] = delivery;
                    if counted {
                        sent.entry(account).or_insert((id, 0)).1 += 1;
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        for (account, (first, n)) in sent {
            let delta = UsageDelta {
                sent: n,
                ..Default::default()
            };
            let count = usage::count(&account, &month_of(now()), &first.to_string(), delta);
            self.items.update(count).await?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        for (account, b) in broadcasts.keys() {
            self.complete_broadcast_if_done(account, b).await?;
        }
        Ok(out)
    }

    /// One message: pair pacing, claim, send, record; and whether it was sent and recorded
    /// here, uncounted yet, for the batch's count.
    async fn send_one(
        &self,
        account: &AccountId,
        token: &crate::domain::AccessToken,
        m: Message,
        at: &Key,
        settings: &SenderSettings,
    ) -> Result<(Delivery, bool), ServiceError> {
        if let Some(wait) = self.pace_pair(&m, settings).await? {
            return Ok((Delivery::RetryAfter(wait), false));
        }
        match self.items.update(message::claim(at, now())).await {
            Ok(_) => {}
            // Someone else claimed it, or it changed: theirs to finish.
            Err(StoreError::ConditionFailed { .. }) => return Ok((Delivery::Done, false)),
            Err(e) => return Err(e.into()),
        }
        let attempts = m.attempts + 1;
        let Body::Outbound(content) = &m.body else {
            return Ok((Delivery::Done, false));
        };
        let mut request = SendRequest::new(m.address.clone(), content.clone());
        if let Some(wamid) = &m.reply_to {
            request = request.replying_to(wamid.clone());
        }
        match self.graph.send_message(&m.number, token, &request).await {
            Ok(response) => {
                let sent = Outcome {
                    status: MessageStatus::Sent,
                    wamid: response.wamid().map(str::to_owned),
                    error: None,
                    held: response.held_for_quality_assessment(),
                };
                let recorded = self.finish(account, &m, at, sent).await?;
                // A broadcast's message counts in its outcome's transaction.
                Ok((Delivery::Done, recorded && m.broadcast_id.is_none()))
            }
            Err(e) => Ok((
                self.send_failed(account, &m, at, attempts, e, settings)
                    .await?,
                false,
            )),
        }
    }

    async fn send_failed(
        &self,
        account: &AccountId,
        m: &Message,
        at: &Key,
        attempts: u32,
        e: GraphError,
        settings: &SenderSettings,
    ) -> Result<Delivery, ServiceError> {
        let err = message_error(&e);
        let failure = e.failure();
        tracing::info!(account_id = %account, message_id = %m.id, code = ?e.code(), failure = ?failure, "send failed");
        if let Failure::Retry(_) = failure {
            let code = e
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "transport".into());
            crate::metrics::count("send_retries", 1, &[("code", &code)]);
        }
        match failure {
            Failure::Retry(backoff) if attempts < settings.max_attempts => {
                // Back to the queue: the send did not happen.
                match self
                    .items
                    .update(message::release(at, now(), e.code()))
                    .await
                {
                    Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(Delivery::RetryAfter(backoff_delay(backoff, attempts)))
            }
            Failure::Retry(_) | Failure::Permanent => {
                self.finish(account, m, at, Outcome::failed(err)).await?;
                Ok(Delivery::Done)
            }
            Failure::PauseCampaign => {
                // Paused before the outcome is counted: the last message must not complete it.
                self.pause_for(account, m, &err).await?;
                self.finish(account, m, at, Outcome::failed(err)).await?;
                Ok(Delivery::Done)
            }
            Failure::OptedOut => {
                self.finish(account, m, at, Outcome::failed(err)).await?;
                self.opt_out(
                    account,
                    &m.contact_id,
                    super::ingest::STOPPED_MARKETING_REASON,
                )
                .await?;
                Ok(Delivery::Done)
            }
            Failure::NumberStopped => {
                self.pause_for(account, m, &err).await?;
                self.stop_sending(account, &m.number, err.code, &err.title)
                    .await?;
                self.finish(account, m, at, Outcome::failed(err)).await?;
                Ok(Delivery::Done)
            }
            Failure::Unknown => {
                self.finish(account, m, at, Outcome::unknown(err)).await?;
                Ok(Delivery::Done)
            }
        }
    }

    /// Pauses the broadcast a message belongs to, saying which error of Meta's made it.
    async fn pause_for(
        &self,
        account: &AccountId,
        m: &Message,
        error: &MessageError,
    ) -> Result<(), ServiceError> {
        let Some(b) = &m.broadcast_id else {
            return Ok(());
        };
        let reason = format!("Meta error {}: {}", error.code, error.title);
        match self.pause_broadcast(account, b, &reason).await {
            Ok(_) | Err(ServiceError::BroadcastState(_)) | Err(ServiceError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A redelivered task whose message is still `sending`: if the claim is old, the send's
    /// outcome is lost for good (the sender died after claiming): `unknown`.
    async fn settle_stale_claim(
        &self,
        account: &AccountId,
        m: &Message,
        item: &Item,
        settings: &SenderSettings,
    ) -> Result<Delivery, ServiceError> {
        let claimed = message::claimed_at_ms(item);
        let age = Duration::from_millis((to_millis(now()) - claimed).max(0) as u64);
        if age < settings.claim_timeout {
            return Ok(Delivery::RetryAfter(settings.claim_timeout - age));
        }
        let lost = error(0, "The sender stopped before the send's outcome was known");
        self.finish(account, m, &item.key, Outcome::unknown(lost))
            .await?;
        Ok(Delivery::Done)
    }

    /// Records the outcome of a message still in flight (and its wamid lookup); `false` when
    /// another sender recorded it first.
    async fn finish(
        &self,
        account: &AccountId,
        m: &Message,
        at: &Key,
        outcome: Outcome,
    ) -> Result<bool, ServiceError> {
        let Outcome {
            status,
            wamid,
            error,
            held,
        } = outcome;
        let update = message::outcome(at, status, now(), wamid.as_deref(), error.as_ref(), held);
        let lookup = match wamid.as_deref() {
            Some(w) => {
                let expires_at = self.message_expiry(account, m.created_at).await?;
                Some(message::lookup_item(account, w, &m.id, expires_at))
            }
            None => None,
        };
        let written = match &m.broadcast_id {
            // A broadcast's `outstanding` counter decides when it is complete: it moves with
            // the message in one transaction, or the broadcast could never finish.
            Some(b) => {
                let mut writes = vec![Write::Update(update)];
                writes.extend(lookup.map(Write::put));
                // Counted here, not with the batch's: a plain write to a usage shard while a
                // fan-out's transaction holds it would cancel that transaction.
                if status == MessageStatus::Sent {
                    writes.push(Write::Update(usage::count(
                        account,
                        &month_of(now()),
                        &m.id.to_string(),
                        UsageDelta {
                            sent: 1,
                            ..Default::default()
                        },
                    )));
                }
                writes.extend(
                    broadcast::outcome_counters(account, b, &m.id, status, error.as_ref(), held)
                        .map(Write::Update),
                );
                self.items.transact(writes).await
            }
            // A single message's writes go one by one, at half a transaction's units: the
            // wamid lookup first (so a crash after the send still routes Meta's statuses).
            None => {
                if let Some(item) = lookup {
                    self.items.put(item, None).await?;
                }
                let recorded = match (self.items.update(update).await, wamid.as_deref()) {
                    (Ok(_), _) => Ok(()),
                    // Meta's statuses reached the message through the lookup before the
                    // outcome did: its wamid (and the send's count) are still to record.
                    (Err(StoreError::ConditionFailed { .. }), Some(w)) => self
                        .items
                        .update(message::overtaken(at, now(), w, held))
                        .await
                        .map(|_| ()),
                    (Err(e), _) => Err(e),
                };
                match recorded {
                    Err(StoreError::ConditionFailed { .. }) => {
                        Err(StoreError::ConditionFailed { index: Some(0) })
                    }
                    other => other,
                }
            }
        };
        match written {
            Ok(()) => {
                let code = error.as_ref().map(|e| e.code.to_string());
                match (status, code) {
                    (MessageStatus::Failed, Some(c)) => {
                        crate::metrics::count("messages_failed", 1, &[("code", &c)])
                    }
                    (s, _) => crate::metrics::count(&format!("messages_{}", s.as_str()), 1, &[]),
                }
                if let Some(w) = &wamid {
                    // Statuses that overtook this record, and the conversation's last message.
                    self.apply_pending_statuses(account, w, &m.id).await?;
                    let preview = super::conversations::outbound_preview(&m.body);
                    self.note_in_conversation(account, m, preview.as_deref())
                        .await?;
                }
                Ok(true)
            }
            Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes up to `want` send tokens from the number's bucket, refilled at the number's rate.
    /// The bucket holds a quarter of a second's tokens, not a whole second's: requests reach
    /// Meta with varying latency, and a small burst keeps any second of arrivals within the
    /// tier as long as the jitter stays under 750 ms. Returns how many were granted and, if not
    /// all, how long until the next token.
    pub(crate) async fn take_send_tokens(
        &self,
        number: &PhoneNumberId,
        rate: u32,
        want: u32,
    ) -> Result<(u32, Duration), ServiceError> {
        let key = sending::bucket(number);
        let rate = i64::from(rate.max(1));
        // Tokens in thousandths, so refill is exact at any rate.
        let capacity = (rate * 1000 / 4).max(1000);
        for _ in 0..20 {
            let now_ms = to_millis(now());
            let current = self.items.get(&key).await?;
            let (tokens, at) = match current.as_ref().map(sending::bucket_state) {
                Some((tokens, at)) => (tokens.unwrap_or(capacity), at.unwrap_or(now_ms)),
                None => (capacity, now_ms),
            };
            let refilled = (tokens + (now_ms - at).max(0) * rate).min(capacity);
            let granted = (refilled / 1000).min(i64::from(want));
            let missing = 1000 - (refilled - granted * 1000);
            let wait = Duration::from_millis(((missing.max(0) + rate - 1) / rate).max(1) as u64);
            if granted == 0 {
                return Ok((0, wait));
            }
            let (item, condition) =
                sending::bucket_item(number, refilled - granted * 1000, now_ms, current.as_ref());
            match self.items.put(item, Some(condition)).await {
                Ok(()) => return Ok((granted as u32, wait)),
                // Another sender took tokens meanwhile: read again.
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok((0, Duration::from_millis(50)))
    }

    /// Reserves the pair's next slot; `Some(wait)` if the last message was too recent.
    async fn pace_pair(
        &self,
        m: &Message,
        settings: &SenderSettings,
    ) -> Result<Option<Duration>, ServiceError> {
        if settings.pair_interval.is_zero() {
            return Ok(None);
        }
        let now_ms = to_millis(now());
        let interval = settings.pair_interval.as_millis() as i64;
        let (item, free) = sending::pair_slot(&m.number, &m.contact_id, now_ms, interval);
        match self.items.put(item, Some(free)).await {
            Ok(()) => Ok(None),
            Err(StoreError::ConditionFailed { .. }) => {
                let last = self
                    .items
                    .get(&sending::pair(&m.number, &m.contact_id))
                    .await?
                    .as_ref()
                    .and_then(sending::last_send_ms)
                    .unwrap_or(now_ms);
                let wait = (last + interval - now_ms).max(1) as u64;
                Ok(Some(Duration::from_millis(wait)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn backoff_delay(backoff: Backoff, attempts: u32) -> Duration {
    match backoff {
        // 4^n seconds: 4, 16, 64, 256, then SQS's 15-minute ceiling.
        Backoff::PairRate => Duration::from_secs(4u64.saturating_pow(attempts.min(5))),
        // 0.5, 1, 2, 4 … seconds, capped at a minute.
        Backoff::Exponential => Duration::from_millis((250u64 << attempts.min(8)).min(60_000)),
    }
}

fn message_error(e: &GraphError) -> MessageError {
    match e {
        GraphError::Api { error, .. } => MessageError {
            code: error.code,
            title: error.title.clone().unwrap_or_else(|| error.message.clone()),
            details: error.error_data.as_ref().and_then(|d| d.details.clone()),
        },
        GraphError::Timeout => error(
            0,
            "The Graph API did not answer in time; the message may have been sent",
        ),
        other => error(0, other.to_string()),
    }
}
