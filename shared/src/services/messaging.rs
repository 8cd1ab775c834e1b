//! Outbound messages: checked and queued by the API, sent by the sender.
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

use serde::{Deserialize, Serialize};

use super::accounts::corrupt;
use super::broadcasts::BroadcastGate;
use super::{from_millis, to_millis, App, ServiceError};
use crate::domain::{
    now, AccountId, Body, Bsuid, Contact, ContactId, Message, MessageError, MessageId,
    MessageStatus, PhoneNumber, PhoneNumberId, StatusChange, Timestamp,
};
use crate::graph::messages::{Content, SendRequest};
use crate::graph::{Backoff, Failure, GraphError};
use crate::ports::{
    Condition, Cursor, Item, Key, OutgoingMessage, Query, StoreError, Update, Value, Write,
};
use crate::table;

const ENTITY: &str = "message";

/// Who a message is for, as the caller names them.
#[derive(Clone, Debug)]
pub enum Recipient {
    Contact(ContactId),
    Phone(PhoneNumber),
    UserId(Bsuid),
}

#[derive(Clone, Debug)]
pub struct NewMessage {
    pub from: PhoneNumberId,
    pub to: Recipient,
    pub content: Content,
    /// The wamid of the message this one answers.
    pub reply_to: Option<String>,
}

/// The queue message that asks the sender to send one stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTask {
    pub account_id: AccountId,
    pub message_id: MessageId,
}

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

/// Filters of `GET /v1/messages`.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
}

impl App {
    /// Checks the sending rules, stores the message (content sealed) and queues it.
    pub async fn send_message(
        &self,
        account: &AccountId,
        new: NewMessage,
    ) -> Result<Message, ServiceError> {
        self.sending_number(account, &new.from).await?;
        let contact = self.recipient(account, &new.to).await?;
        let to = recipient_address(&contact).ok_or(ServiceError::RecipientNotFound)?;
        if new.content.is_template() {
            if contact.opt_out.is_some() {
                return Err(ServiceError::RecipientOptedOut);
            }
            if !contact.opted_in() {
                return Err(ServiceError::RecipientNotOptedIn);
            }
        } else if !self.window_open(account, &new.from, &contact.id).await? {
            return Err(ServiceError::OutsideServiceWindow);
        }
        let template = u64::from(new.content.is_template());
        self.check_send_allowance(account, template).await?;
        let at = now();
        let message = Message {
            id: MessageId::generate(),
            number: new.from,
            contact_id: contact.id,
            address: to,
            body: Body::Outbound(new.content),
            reply_to: new.reply_to,
            status: MessageStatus::Queued,
            wamid: None,
            error: None,
            history: vec![StatusChange {
                status: MessageStatus::Queued,
                at,
                error_code: None,
            }],
            broadcast_id: None,
            attempts: 0,
            pricing: None,
            created_at: at,
            updated_at: at,
        };
        let item = self.message_item(account, &message).await?;
        let counters =
            super::billing::usage::count(account, &[("queued", 1), ("templates", template as i64)]);
        // Two plain writes cost half the units of one transaction. A crash between them leaves
        // a `queued` message that was never handed to the sender and is not counted.
        self.items.put(item, Some(Condition::NotExists)).await?;
        self.items.update(counters).await?;
        self.queue_send(account, &message.id, Duration::ZERO)
            .await?;
        tracing::info!(account_id = %account, message_id = %message.id, kind = message.body.kind(), "message queued");
        crate::metrics::count("messages_queued", 1, &[("type", message.body.kind())]);
        Ok(message)
    }

    /// A connected number of the account that Meta lets send.
    pub(crate) async fn sending_number(
        &self,
        account: &AccountId,
        from: &PhoneNumberId,
    ) -> Result<crate::domain::WhatsAppNumber, ServiceError> {
        let number = match self.number(account, from).await {
            Ok(n) => n,
            Err(ServiceError::NotFound) => return Err(ServiceError::NumberNotConnected),
            Err(e) => return Err(e),
        };
        if let Some(stop) = &number.sending_stopped {
            return Err(ServiceError::NumberStopped {
                code: stop.code,
                reason: stop.reason.clone(),
            });
        }
        Ok(number)
    }

    /// Opens (or extends) the customer service window until `until`; inbound messages do this.
    pub async fn open_window(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        contact: &ContactId,
        until: Timestamp,
    ) -> Result<(), ServiceError> {
        let until_ms = to_millis(until);
        let item = Item::new(table::window(account, number, contact))
            .with("open_until", Value::N(until_ms))
            .expiring_at(until_ms / 1000 + 1);
        let later = Condition::Or(vec![
            Condition::NotExists,
            Condition::LessThan("open_until".into(), Value::N(until_ms)),
        ]);
        match self.items.put(item, Some(later)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The customer service window: open for 24 h after the contact's last message to this
    /// number. Inbound messages (the webhook) open it.
    pub async fn window_open(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        contact: &ContactId,
    ) -> Result<bool, ServiceError> {
        let window = self
            .items
            .get(&table::window(account, number, contact))
            .await?;
        Ok(window
            .and_then(|w| w.opt_n("open_until"))
            .is_some_and(|until| until > to_millis(now())))
    }

    async fn recipient(
        &self,
        account: &AccountId,
        to: &Recipient,
    ) -> Result<Contact, ServiceError> {
        let found = match to {
            Recipient::Contact(id) => match self.contact(account, id).await {
                Ok(c) => Some(c),
                Err(ServiceError::NotFound) => None,
                Err(e) => return Err(e),
            },
            Recipient::Phone(p) => self.find_contact_by_phone(account, p).await?,
            Recipient::UserId(u) => self.find_contact_by_user_id(account, u).await?,
        };
        found.ok_or(ServiceError::RecipientNotFound)
    }

    pub async fn queue_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        delay: Duration,
    ) -> Result<(), ServiceError> {
        let task = SendTask {
            account_id: account.clone(),
            message_id: id.clone(),
        };
        let body = serde_json::to_string(&task).map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.send_queue
            .send(OutgoingMessage::new(body).delayed(delay.min(crate::ports::queue::MAX_DELAY)))
            .await
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        Ok(())
    }

    pub async fn message(
        &self,
        account: &AccountId,
        id: &MessageId,
    ) -> Result<Message, ServiceError> {
        let item = self
            .items
            .get(&table::message(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.message_from_item(account, &item).await
    }

    /// Messages, newest first, optionally of one status.
    pub async fn messages(
        &self,
        account: &AccountId,
        filter: &MessageFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Message>, Option<Cursor>), ServiceError> {
        let condition = filter
            .status
            .map(|s| Condition::Equals("status".into(), Value::S(s.as_str().into())));
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(account))
                    .begins_with(table::MESSAGE_PREFIX)
                    .backward()
                    .limit(limit)
                    .after(cursor)
                    .filter(condition),
            )
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            out.push(self.message_from_item(account, item).await?);
        }
        Ok((out, page.next))
    }

    /// Tries to send a batch of tasks; what to do with each comes back in order.
    pub async fn deliver(
        &self,
        tasks: &[SendTask],
        settings: &SenderSettings,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let keys: Vec<Key> = tasks
            .iter()
            .map(|t| table::message(&t.account_id, &t.message_id))
            .collect();
        let items = self.items.batch_get(&keys).await?;
        let mut out = vec![Delivery::Done; tasks.len()];
        // The sendable ones, grouped by sending number for the token bucket.
        let mut by_number: HashMap<(AccountId, PhoneNumberId), Vec<(usize, Message)>> =
            HashMap::new();
        for (i, (task, item)) in tasks.iter().zip(items).enumerate() {
            let Some(item) = item else { continue };
            let message = self.message_from_item(&task.account_id, &item).await?;
            match message.status {
                MessageStatus::Queued => {
                    if let Some(b) = &message.broadcast_id {
                        match self.broadcast_sendable(&task.account_id, b).await? {
                            BroadcastGate::Send => {}
                            // Paused: resuming queues it again.
                            BroadcastGate::Hold => continue,
                            BroadcastGate::Canceled => {
                                let error = MessageError {
                                    code: 0,
                                    title: super::broadcasts::CANCELED.into(),
                                    details: None,
                                };
                                self.finish(
                                    &task.account_id,
                                    &message,
                                    MessageStatus::Failed,
                                    None,
                                    Some(error),
                                )
                                .await?;
                                continue;
                            }
                        }
                    }
                    by_number
                        .entry((task.account_id.clone(), message.number.clone()))
                        .or_default()
                        .push((i, message))
                }
                MessageStatus::Sending => {
                    out[i] = self
                        .settle_stale_claim(&task.account_id, &message, &item, settings)
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
                    for (_, m) in &messages {
                        let error = MessageError {
                            code: 0,
                            title: "The number was disconnected".into(),
                            details: None,
                        };
                        self.finish(&account, m, MessageStatus::Failed, None, Some(error))
                            .await?;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(stop) = &number.sending_stopped {
                for (_, m) in &messages {
                    let error = MessageError {
                        code: stop.code,
                        title: stop.reason.clone(),
                        details: None,
                    };
                    self.finish(&account, m, MessageStatus::Failed, None, Some(error))
                        .await?;
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
            let token = self.access_token(&account, &number_id).await?;
            for (n, (i, m)) in messages.into_iter().enumerate() {
                if let Some(behind) = (n as u32).checked_sub(granted) {
                    // One token apart: all coming back at once would find the bucket's few
                    // tokens and go round again, most of them, every time.
                    out[i] = Delivery::RetryAfter(next + interval * behind);
                    continue;
                }
                sends.push((i, account.clone(), token.clone(), m));
            }
        }
        let results =
            futures::future::join_all(sends.into_iter().map(|(i, account, token, m)| async move {
                (i, self.send_one(&account, &token, m, settings).await)
            }))
            .await;
        for (i, r) in results {
            out[i] = r?;
        }
        Ok(out)
    }

    /// One message: pair pacing, claim, send, record.
    async fn send_one(
        &self,
        account: &AccountId,
        token: &crate::domain::AccessToken,
        message: Message,
        settings: &SenderSettings,
    ) -> Result<Delivery, ServiceError> {
        if let Some(wait) = self.pace_pair(&message, settings).await? {
            return Ok(Delivery::RetryAfter(wait));
        }
        let claimed_at = now();
        let claim = Update::new(table::message(account, &message.id))
            .set("status", Value::S(MessageStatus::Sending.as_str().into()))
            .set("claimed_at", Value::N(to_millis(claimed_at)))
            .set("updated_at", Value::N(to_millis(claimed_at)))
            .append(
                "history",
                history_value(&StatusChange {
                    status: MessageStatus::Sending,
                    at: claimed_at,
                    error_code: None,
                }),
            )
            .add("attempts", 1)
            .when(Condition::Equals(
                "status".into(),
                Value::S(MessageStatus::Queued.as_str().into()),
            ));
        match self.items.update(claim).await {
            Ok(_) => {}
            // Someone else claimed it, or it changed: theirs to finish.
            Err(StoreError::ConditionFailed { .. }) => return Ok(Delivery::Done),
            Err(e) => return Err(e.into()),
        }
        let attempts = message.attempts + 1;
        let Body::Outbound(content) = &message.body else {
            return Ok(Delivery::Done);
        };
        let mut request = SendRequest::new(message.address.clone(), content.clone());
        if let Some(wamid) = &message.reply_to {
            request = request.replying_to(wamid.clone());
        }
        match self
            .graph
            .send_message(&message.number, token, &request)
            .await
        {
            Ok(response) => {
                let wamid = response.wamid().map(str::to_owned);
                self.finish(account, &message, MessageStatus::Sent, wamid, None)
                    .await?;
                Ok(Delivery::Done)
            }
            Err(e) => {
                self.send_failed(account, &message, attempts, e, settings)
                    .await
            }
        }
    }

    async fn send_failed(
        &self,
        account: &AccountId,
        message: &Message,
        attempts: u32,
        e: GraphError,
        settings: &SenderSettings,
    ) -> Result<Delivery, ServiceError> {
        let error = message_error(&e);
        let failure = e.failure();
        tracing::info!(account_id = %account, message_id = %message.id, code = ?e.code(), failure = ?failure, "send failed");
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
                let release = Update::new(table::message(account, &message.id))
                    .set("status", Value::S(MessageStatus::Queued.as_str().into()))
                    .remove("claimed_at")
                    .append(
                        "history",
                        history_value(&StatusChange {
                            status: MessageStatus::Queued,
                            at: now(),
                            error_code: e.code(),
                        }),
                    )
                    .when(Condition::Equals(
                        "status".into(),
                        Value::S(MessageStatus::Sending.as_str().into()),
                    ));
                match self.items.update(release).await {
                    Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(Delivery::RetryAfter(backoff_delay(backoff, attempts)))
            }
            Failure::Retry(_) | Failure::Permanent => {
                self.finish(account, message, MessageStatus::Failed, None, Some(error))
                    .await?;
                Ok(Delivery::Done)
            }
            Failure::PauseCampaign => {
                // Paused before the outcome is counted: the last message must not complete it.
                self.pause_for(account, message, &error).await?;
                self.finish(account, message, MessageStatus::Failed, None, Some(error))
                    .await?;
                Ok(Delivery::Done)
            }
            Failure::OptedOut => {
                self.finish(account, message, MessageStatus::Failed, None, Some(error))
                    .await?;
                self.opt_out(
                    account,
                    &message.contact_id,
                    super::ingest::STOPPED_MARKETING_REASON,
                )
                .await?;
                Ok(Delivery::Done)
            }
            Failure::NumberStopped => {
                self.pause_for(account, message, &error).await?;
                self.stop_sending(account, &message.number, error.code, &error.title)
                    .await?;
                self.finish(account, message, MessageStatus::Failed, None, Some(error))
                    .await?;
                Ok(Delivery::Done)
            }
            Failure::Unknown => {
                self.finish(account, message, MessageStatus::Unknown, None, Some(error))
                    .await?;
                Ok(Delivery::Done)
            }
        }
    }

    /// Pauses the broadcast a message belongs to, saying which error of Meta's made it.
    async fn pause_for(
        &self,
        account: &AccountId,
        message: &Message,
        error: &MessageError,
    ) -> Result<(), ServiceError> {
        let Some(b) = &message.broadcast_id else {
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
        message: &Message,
        item: &Item,
        settings: &SenderSettings,
    ) -> Result<Delivery, ServiceError> {
        let claimed = item.opt_n("claimed_at").unwrap_or(0);
        let age = Duration::from_millis((to_millis(now()) - claimed).max(0) as u64);
        if age < settings.claim_timeout {
            return Ok(Delivery::RetryAfter(settings.claim_timeout - age));
        }
        let error = MessageError {
            code: 0,
            title: "The sender stopped before the send's outcome was known".into(),
            details: None,
        };
        self.finish(account, message, MessageStatus::Unknown, None, Some(error))
            .await?;
        Ok(Delivery::Done)
    }

    /// Records an outcome of a claimed message (and its wamid lookup).
    async fn finish(
        &self,
        account: &AccountId,
        message: &Message,
        status: MessageStatus,
        wamid: Option<String>,
        error: Option<MessageError>,
    ) -> Result<(), ServiceError> {
        let at = now();
        let change = history_value(&StatusChange {
            status,
            at,
            error_code: error.as_ref().map(|e| e.code),
        });
        let mut update = Update::new(table::message(account, &message.id))
            .set("status", Value::S(status.as_str().into()))
            .set("updated_at", Value::N(to_millis(at)))
            .remove("claimed_at")
            .append("history", change)
            .when(Condition::Or(vec![
                Condition::Equals(
                    "status".into(),
                    Value::S(MessageStatus::Sending.as_str().into()),
                ),
                Condition::Equals(
                    "status".into(),
                    Value::S(MessageStatus::Queued.as_str().into()),
                ),
            ]));
        if let Some(e) = &error {
            update = update.set("error", error_value(e));
        }
        let mut lookup = None;
        if let Some(w) = &wamid {
            update = update.set("wamid", Value::S(w.clone()));
            lookup = Some(
                Item::new(table::wamid(w))
                    .with("account_id", Value::S(account.to_string()))
                    .with("message_id", Value::S(message.id.to_string())),
            );
        }
        let sent_counter = (status == MessageStatus::Sent)
            .then(|| super::billing::usage::count(account, &[("sent", 1)]));
        let outcome = match &message.broadcast_id {
            // A broadcast's `outstanding` counter decides when it is complete: it moves with
            // the message in one transaction, or the broadcast could never finish.
            Some(b) => {
                let mut writes = vec![Write::Update(update)];
                writes.extend(lookup.map(Write::put));
                writes.extend(sent_counter.map(Write::Update));
                writes.extend(
                    super::broadcasts::outcome_counters(account, b, status, error.as_ref())
                        .map(Write::Update),
                );
                self.items.transact(writes).await
            }
            // A single message's writes go one by one, at half a transaction's units: the
            // wamid lookup first (harmless if the outcome then loses to another sender), the
            // counter last (a crash before it leaves one send uncounted).
            None => {
                if let Some(item) = lookup {
                    self.items.put(item, None).await?;
                }
                match self.items.update(update).await {
                    Ok(_) => match sent_counter {
                        Some(c) => self.items.update(c).await.map(|_| ()),
                        None => Ok(()),
                    },
                    Err(StoreError::ConditionFailed { .. }) => {
                        Err(StoreError::ConditionFailed { index: Some(0) })
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match outcome {
            Ok(()) => {
                let code = error.as_ref().map(|e| e.code.to_string());
                match (status, code) {
                    (MessageStatus::Failed, Some(c)) => {
                        crate::metrics::count("messages_failed", 1, &[("code", &c)])
                    }
                    (s, _) => crate::metrics::count(&format!("messages_{}", s.as_str()), 1, &[]),
                }
                if let Some(b) = &message.broadcast_id {
                    self.complete_broadcast_if_done(account, b).await?;
                }
                if let Some(w) = &wamid {
                    // Statuses that overtook this record, and the conversation's last message.
                    self.apply_pending_statuses(account, w, &message.id).await?;
                    let preview = super::conversations::outbound_preview(&message.body);
                    self.note_in_conversation(account, message, preview.as_deref())
                        .await?;
                }
                Ok(())
            }
            Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(()),
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
        let key = table::send_rate(number);
        let rate = i64::from(rate.max(1));
        // Tokens in thousandths, so refill is exact at any rate.
        let capacity = (rate * 1000 / 4).max(1000);
        for _ in 0..20 {
            let now_ms = to_millis(now());
            let current = self.items.get(&key).await?;
            let (tokens, at) = match &current {
                Some(item) => (
                    item.opt_n("milli_tokens").unwrap_or(capacity),
                    item.opt_n("at").unwrap_or(now_ms),
                ),
                None => (capacity, now_ms),
            };
            let refilled = (tokens + (now_ms - at).max(0) * rate).min(capacity);
            let granted = (refilled / 1000).min(i64::from(want));
            let missing = 1000 - (refilled - granted * 1000);
            let wait = Duration::from_millis(((missing.max(0) + rate - 1) / rate).max(1) as u64);
            if granted == 0 {
                return Ok((0, wait));
            }
            let item = Item::new(key.clone())
                .with("milli_tokens", Value::N(refilled - granted * 1000))
                .with("at", Value::N(now_ms));
            let condition = match &current {
                Some(c) => match c.opt_n("at") {
                    Some(at) => Condition::Equals("at".into(), Value::N(at)),
                    None => Condition::Exists,
                },
                None => Condition::NotExists,
            };
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
        message: &Message,
        settings: &SenderSettings,
    ) -> Result<Option<Duration>, ServiceError> {
        if settings.pair_interval.is_zero() {
            return Ok(None);
        }
        let now_ms = to_millis(now());
        let interval = settings.pair_interval.as_millis() as i64;
        let key = table::pair(&message.number, &message.contact_id);
        let item = Item::new(key.clone())
            .with("last_ms", Value::N(now_ms))
            .expiring_at(now_ms / 1000 + interval / 1000 + 60);
        let free = Condition::Or(vec![
            Condition::NotExists,
            Condition::LessThan("last_ms".into(), Value::N(now_ms - interval + 1)),
        ]);
        match self.items.put(item, Some(free)).await {
            Ok(()) => Ok(None),
            Err(StoreError::ConditionFailed { .. }) => {
                let last = self
                    .items
                    .get(&key)
                    .await?
                    .and_then(|i| i.opt_n("last_ms"))
                    .unwrap_or(now_ms);
                let wait = (last + interval - now_ms).max(1) as u64;
                Ok(Some(Duration::from_millis(wait)))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn message_item(
        &self,
        account: &AccountId,
        m: &Message,
    ) -> Result<Item, ServiceError> {
        let key = table::message(account, &m.id);
        let (direction, content) = match &m.body {
            Body::Outbound(c) => ("outbound", serde_json::to_string(c)),
            Body::Inbound { raw, .. } => ("inbound", serde_json::to_string(raw)),
        };
        let content = content.map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut item = Item::new(key.clone())
            .with_gsi1(Key::new(
                table::thread(account, &m.contact_id),
                m.id.to_string(),
            ))
            .with("direction", Value::S(direction.into()))
            .with("number", Value::S(m.number.to_string()))
            .with("contact_id", Value::S(m.contact_id.to_string()))
            .with(
                "address",
                self.seal(account, ENTITY, &key, "address", &m.address)
                    .await?,
            )
            .with("type", Value::S(m.body.kind().into()))
            .with(
                "content",
                self.seal(account, ENTITY, &key, "content", &content)
                    .await?,
            )
            .with("status", Value::S(m.status.as_str().into()))
            .with("attempts", Value::N(i64::from(m.attempts)))
            .with(
                "history",
                Value::L(m.history.iter().map(history_value).collect()),
            )
            .with("created_at", Value::N(to_millis(m.created_at)))
            .with("updated_at", Value::N(to_millis(m.updated_at)));
        if let Some(r) = &m.reply_to {
            item = item.with("reply_to", Value::S(r.clone()));
        }
        if let Some(w) = &m.wamid {
            item = item.with("wamid", Value::S(w.clone()));
        }
        if let Some(b) = &m.broadcast_id {
            item = item.with("broadcast_id", Value::S(b.to_string()));
        }
        if let Some(e) = &m.error {
            item = item.with("error", error_value(e));
        }
        // The tenant's retention policy, as an expiry from the start.
        Ok(item.expiring_at(self.message_expiry(account, m.created_at).await?))
    }

    pub(crate) async fn message_from_item(
        &self,
        account: &AccountId,
        item: &Item,
    ) -> Result<Message, ServiceError> {
        let id: MessageId = item
            .key
            .sk
            .strip_prefix(table::MESSAGE_PREFIX)
            .ok_or_else(|| StoreError::Corrupt("message sort key".into()))?
            .parse()
            .map_err(corrupt)?;
        let content = self.open(account, ENTITY, item, "content").await?;
        let body = match item.opt_s("direction") {
            Some("inbound") => Body::Inbound {
                kind: item.s("type")?.to_owned(),
                raw: serde_json::from_str(&content)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            },
            _ => Body::Outbound(
                serde_json::from_str(&content).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
        };
        let history = match item.attrs.get("history") {
            Some(Value::L(l)) => l.iter().filter_map(history_from_value).collect(),
            _ => Vec::new(),
        };
        Ok(Message {
            id,
            number: PhoneNumberId::parse(item.s("number")?).map_err(corrupt)?,
            contact_id: item.s("contact_id")?.parse().map_err(corrupt)?,
            address: self.open(account, ENTITY, item, "address").await?,
            body,
            reply_to: item.opt_s("reply_to").map(str::to_owned),
            status: MessageStatus::parse(item.s("status")?)
                .ok_or_else(|| StoreError::Corrupt("message status".into()))?,
            wamid: item.opt_s("wamid").map(str::to_owned),
            error: match item.attrs.get("error") {
                Some(Value::M(m)) => Some(MessageError {
                    code: match m.get("code") {
                        Some(Value::N(n)) => *n,
                        _ => 0,
                    },
                    title: match m.get("title") {
                        Some(Value::S(s)) => s.clone(),
                        _ => String::new(),
                    },
                    details: match m.get("details") {
                        Some(Value::S(s)) => Some(s.clone()),
                        _ => None,
                    },
                }),
                _ => None,
            },
            history,
            broadcast_id: item
                .opt_s("broadcast_id")
                .map(str::parse)
                .transpose()
                .map_err(corrupt)?,
            attempts: item.opt_n("attempts").unwrap_or(0) as u32,
            pricing: item.attrs.get("pricing").map(super::ingest::value_json),
            created_at: from_millis(item.n("created_at")?)?,
            updated_at: from_millis(item.n("updated_at")?)?,
        })
    }
}

/// What Meta gets as `to`: the phone in digits if the contact has one, else its BSUID.
pub(crate) fn recipient_address(contact: &Contact) -> Option<String> {
    contact
        .phone
        .as_ref()
        .map(|p| p.digits().to_owned())
        .or_else(|| contact.user_id.as_ref().map(|u| u.as_str().to_owned()))
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
        GraphError::Timeout => MessageError {
            code: 0,
            title: "The Graph API did not answer in time; the message may have been sent".into(),
            details: None,
        },
        other => MessageError {
            code: 0,
            title: other.to_string(),
            details: None,
        },
    }
}

pub(crate) fn error_value(e: &MessageError) -> Value {
    let mut m = BTreeMapBuilder::new()
        .with("code", Value::N(e.code))
        .with("title", Value::S(e.title.clone()));
    if let Some(d) = &e.details {
        m = m.with("details", Value::S(d.clone()));
    }
    Value::M(m.build())
}

pub(crate) fn history_value(h: &StatusChange) -> Value {
    let mut m = BTreeMapBuilder::new()
        .with("status", Value::S(h.status.as_str().into()))
        .with("at", Value::N(to_millis(h.at)));
    if let Some(c) = h.error_code {
        m = m.with("error_code", Value::N(c));
    }
    Value::M(m.build())
}

pub(crate) fn history_from_value(v: &Value) -> Option<StatusChange> {
    let Value::M(m) = v else { return None };
    let status = match m.get("status") {
        Some(Value::S(s)) => MessageStatus::parse(s)?,
        _ => return None,
    };
    let at: Timestamp = match m.get("at") {
        Some(Value::N(n)) => from_millis(*n).ok()?,
        _ => return None,
    };
    let error_code = match m.get("error_code") {
        Some(Value::N(n)) => Some(*n),
        _ => None,
    };
    Some(StatusChange {
        status,
        at,
        error_code,
    })
}

/// Builds the map of a `Value::M`.
struct BTreeMapBuilder(std::collections::BTreeMap<String, Value>);

impl BTreeMapBuilder {
    fn new() -> Self {
        Self(Default::default())
    }

    fn with(mut self, k: &str, v: Value) -> Self {
        self.0.insert(k.to_owned(), v);
        self
    }

    fn build(self) -> std::collections::BTreeMap<String, Value> {
        self.0
    }
}
