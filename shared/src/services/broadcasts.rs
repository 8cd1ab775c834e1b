//! Broadcasts: one template to an audience (contacts with given tags, or a list of contacts),
//! now or at `send_at`.
//!
//! A fan-out job walks the audience a page at a time. For each contact it writes, in one
//! transaction, a target marker (broadcast, contact), the message or the reason it was skipped,
//! and the broadcast's counters: the marker is written only if absent, so a retried fan-out can
//! neither count nor send anyone twice. Messages are then queued for the sender; a retry queues
//! again what is still `queued`, which the sender's claim makes harmless.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::accounts::corrupt;
use super::messaging::{recipient_address, SendTask};
use super::{from_millis, to_millis, App, Job, ServiceError};
use crate::domain::{
    now, AccountId, Body, BroadcastId, Contact, ContactId, Message, MessageId, MessageStatus,
    PhoneNumberId, StatusChange, Tag, Timestamp,
};
use crate::graph::messages::{Content, Template};
use crate::ports::{
    Condition, Cursor, Item, Key, OutgoingMessage, Query, StoreError, Update, Value, Write,
};
use crate::table;

const PAGE: u32 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastStatus {
    Scheduled,
    Running,
    Paused,
    Completed,
    Canceled,
}

impl BroadcastStatus {
    fn as_str(self) -> &'static str {
        match self {
            BroadcastStatus::Scheduled => "scheduled",
            BroadcastStatus::Running => "running",
            BroadcastStatus::Paused => "paused",
            BroadcastStatus::Completed => "completed",
            BroadcastStatus::Canceled => "canceled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            BroadcastStatus::Scheduled,
            BroadcastStatus::Running,
            BroadcastStatus::Paused,
            BroadcastStatus::Completed,
            BroadcastStatus::Canceled,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// Who a broadcast goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Contacts carrying any of these tags.
    Tags(Vec<Tag>),
    /// These contacts (at most [`MAX_LISTED_CONTACTS`]).
    Contacts(Vec<ContactId>),
}

pub const MAX_LISTED_CONTACTS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct NewBroadcast {
    pub from: PhoneNumberId,
    pub template: Template,
    pub audience: Audience,
    pub send_at: Option<Timestamp>,
}

/// Every counter of a broadcast; `failed_by_code` keys are Meta's error codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BroadcastCounts {
    pub targeted: u64,
    pub skipped_opted_out: u64,
    pub skipped_no_consent: u64,
    pub skipped_invalid: u64,
    /// Past the plan's broadcast size: the broadcast reaches its first contacts only.
    pub skipped_plan_limit: u64,
    pub queued: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub failed_by_code: BTreeMap<String, u64>,
}

const COUNTERS: [&str; 10] = [
    "targeted",
    "skipped_opted_out",
    "skipped_no_consent",
    "skipped_invalid",
    "skipped_plan_limit",
    "queued",
    "sent",
    "delivered",
    "read",
    "failed",
];

#[derive(Clone, Debug)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub from: PhoneNumberId,
    pub template: Template,
    pub audience: Audience,
    pub send_at: Option<Timestamp>,
    pub status: BroadcastStatus,
    /// Why it paused itself (Meta's error), or who paused it.
    pub pause_reason: Option<String>,
    pub counts: BroadcastCounts,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

pub(crate) fn broadcast_key(account: &AccountId, id: &BroadcastId) -> Key {
    Key::new(table::account_partition(account), format!("BROADCAST#{id}"))
}

/// What the fan-out made of one contact.
enum Targeted {
    /// A new message, to send.
    Queued(MessageId),
    /// A message an earlier run made that is still waiting: to send again.
    Again(MessageId),
    /// Skipped, or already on its way.
    Decided,
}

pub(crate) fn target_key(account: &AccountId, id: &BroadcastId, contact: &ContactId) -> Key {
    Key::new(
        table::account_partition(account),
        format!("BROADCASTTARGET#{id}#{contact}"),
    )
}

/// Scheduled broadcasts, by due time, across tenants.
fn schedule_key(at_ms: i64, account: &AccountId, id: &BroadcastId) -> Key {
    Key::new("SCHEDULE", format!("{at_ms:016}#{account}#{id}"))
}

fn status_is(s: BroadcastStatus) -> Condition {
    Condition::Equals("status".into(), Value::S(s.as_str().into()))
}

impl App {
    pub async fn create_broadcast(
        &self,
        account: &AccountId,
        new: NewBroadcast,
    ) -> Result<Broadcast, ServiceError> {
        self.sending_number(account, &new.from).await?;
        self.check_send_allowance(account, 1).await?;
        let at = now();
        let scheduled = new.send_at.is_some_and(|t| t > at);
        let broadcast = Broadcast {
            id: BroadcastId::generate(),
            from: new.from,
            template: new.template,
            audience: new.audience,
            send_at: new.send_at,
            status: if scheduled {
                BroadcastStatus::Scheduled
            } else {
                BroadcastStatus::Running
            },
            pause_reason: None,
            counts: BroadcastCounts::default(),
            created_at: at,
            started_at: (!scheduled).then_some(at),
            finished_at: None,
        };
        let mut writes = vec![
            Write::put_new(broadcast_item(account, &broadcast)?),
            Write::Update(super::billing::usage::count(account, &[("broadcasts", 1)])),
        ];
        if let (true, Some(t)) = (scheduled, broadcast.send_at) {
            writes.push(Write::put(
                Item::new(schedule_key(to_millis(t), account, &broadcast.id))
                    .with("account_id", Value::S(account.to_string()))
                    .with("broadcast_id", Value::S(broadcast.id.to_string())),
            ));
        }
        self.items.transact(writes).await?;
        if !scheduled {
            self.enqueue(&fanout(account, &broadcast.id)).await?;
        }
        tracing::info!(account_id = %account, broadcast_id = %broadcast.id, scheduled, "broadcast created");
        Ok(broadcast)
    }

    pub async fn broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<Broadcast, ServiceError> {
        let item = self
            .items
            .get(&broadcast_key(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        broadcast_from_item(&item)
    }

    /// Broadcasts, newest first.
    pub async fn broadcasts(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Broadcast>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(account))
                    .begins_with("BROADCAST#")
                    .backward()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let list = page
            .items
            .iter()
            .map(broadcast_from_item)
            .collect::<Result<_, _>>()?;
        Ok((list, page.next))
    }

    pub async fn pause_broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
        reason: &str,
    ) -> Result<Broadcast, ServiceError> {
        self.move_broadcast(
            account,
            id,
            &[BroadcastStatus::Running, BroadcastStatus::Scheduled],
            BroadcastStatus::Paused,
            Some(reason),
        )
        .await
    }

    /// Resumes a paused broadcast: the fan-out continues and its queued messages go out.
    pub async fn resume_broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<Broadcast, ServiceError> {
        let b = self
            .move_broadcast(
                account,
                id,
                &[BroadcastStatus::Paused],
                BroadcastStatus::Running,
                None,
            )
            .await?;
        // The sender let go of the tasks it held while paused: the fan-out queues again the
        // messages made so far before it goes on (`run_fanout`).
        self.items
            .update(Update::new(broadcast_key(account, id)).set("requeue", Value::S("yes".into())))
            .await?;
        self.enqueue(&fanout(account, id)).await?;
        Ok(b)
    }

    /// Cancels a broadcast: nothing more is queued, and queued messages are not sent.
    pub async fn cancel_broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<Broadcast, ServiceError> {
        self.move_broadcast(
            account,
            id,
            &[
                BroadcastStatus::Scheduled,
                BroadcastStatus::Running,
                BroadcastStatus::Paused,
            ],
            BroadcastStatus::Canceled,
            None,
        )
        .await
    }

    async fn move_broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
        from: &[BroadcastStatus],
        to: BroadcastStatus,
        reason: Option<&str>,
    ) -> Result<Broadcast, ServiceError> {
        let mut update = Update::new(broadcast_key(account, id))
            .set("status", Value::S(to.as_str().into()))
            .when(Condition::Or(from.iter().map(|s| status_is(*s)).collect()));
        update = match reason {
            Some(r) => update.set("pause_reason", Value::S(r.into())),
            None => update.remove("pause_reason"),
        };
        if to == BroadcastStatus::Running {
            update = update.set("started_at", Value::N(to_millis(now())));
        }
        match self.items.update(update).await {
            Ok(item) => broadcast_from_item(&item),
            Err(StoreError::ConditionFailed { .. }) => {
                let current = self.broadcast(account, id).await?;
                Err(ServiceError::BroadcastState(current.status.as_str().into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the scheduled broadcasts that are due; the runner's clock and, on AWS, a
    /// one-minute schedule call it (as a `Job::Tick`).
    pub async fn start_due_broadcasts(&self) -> Result<usize, ServiceError> {
        let due = format!("{:016}$", to_millis(now()));
        let page = self
            .items
            .query(
                Query::partition("SCHEDULE")
                    .sort(crate::ports::SortCondition::LessThan(due))
                    .limit(100),
            )
            .await?;
        let mut started = 0;
        for item in &page.items {
            let account: AccountId = item.s("account_id")?.parse().map_err(corrupt)?;
            let id: BroadcastId = item.s("broadcast_id")?.parse().map_err(corrupt)?;
            let update = Update::new(broadcast_key(&account, &id))
                .set("status", Value::S(BroadcastStatus::Running.as_str().into()))
                .set("started_at", Value::N(to_millis(now())))
                .when(status_is(BroadcastStatus::Scheduled));
            match self.items.update(update).await {
                Ok(_) => {
                    self.enqueue(&fanout(&account, &id)).await?;
                    started += 1;
                }
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.items.delete(&item.key, None).await?;
        }
        Ok(started)
    }

    /// The fan-out job: one page of the audience per step, resumable from the stored cursor.
    pub async fn run_fanout(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<super::JobOutcome, ServiceError> {
        loop {
            let item = self
                .items
                .get(&broadcast_key(account, id))
                .await?
                .ok_or(ServiceError::NotFound)?;
            let broadcast = broadcast_from_item(&item)?;
            if broadcast.status != BroadcastStatus::Running {
                return Ok(super::JobOutcome::Done);
            }
            let cursor = item
                .opt_s("fanout_cursor")
                .map(Cursor::decode)
                .transpose()?;
            let resumed = item.opt_s("requeue").is_some();
            let done = item.opt_s("fanout_done").is_some();
            if resumed || done {
                // Resumed (the sender let go of what it held while paused), or the audience is
                // done and this is a retry: what was made so far and still waits goes out.
                self.requeue_targets(account, &broadcast).await?;
            }
            if resumed {
                self.items
                    .update(Update::new(broadcast_key(account, id)).remove("requeue"))
                    .await?;
            }
            if done {
                return Ok(super::JobOutcome::Done);
            }
            let (contacts, next) = self.audience_page(account, &broadcast, cursor).await?;
            // The page must fit the subscription and allowance; if not, the broadcast waits,
            // paused, for a payment or a plan change (and a resume).
            let billing = match self
                .check_send_allowance(account, contacts.len() as u64)
                .await
            {
                Ok(b) => b,
                Err(ServiceError::PaymentRequired { reason, .. }) => {
                    tracing::warn!(account_id = %account, broadcast_id = %id, reason = %reason, "broadcast paused: payment required");
                    match self.pause_broadcast(account, id, "payment_required").await {
                        Ok(_) | Err(ServiceError::BroadcastState(_)) => {}
                        Err(e) => return Err(e),
                    }
                    return Ok(super::JobOutcome::Done);
                }
                Err(e) => return Err(e),
            };
            // Messages the plan's broadcast size still allows; the fan-out is the only writer
            // of `queued` and runs one page at a time, so the count is exact.
            let mut room = billing
                .plan
                .broadcast_size
                .saturating_sub(broadcast.counts.queued);
            let mut to_send = Vec::new();
            for contact in &contacts {
                match self.target(account, &broadcast, contact, room == 0).await? {
                    Targeted::Queued(m) => {
                        to_send.push(m);
                        room = room.saturating_sub(1);
                    }
                    // Counted by the earlier run already.
                    Targeted::Again(m) => to_send.push(m),
                    Targeted::Decided => {}
                }
            }
            self.queue_sends(account, &to_send).await?;
            let mut update = Update::new(broadcast_key(account, id));
            update = match &next {
                Some(c) => update.set("fanout_cursor", Value::S(c.encode())),
                None => update.set("fanout_done", Value::S("yes".into())),
            };
            self.items
                .update(update.when(status_is(BroadcastStatus::Running)))
                .await
                .or_else(|e| match e {
                    // Paused or canceled meanwhile: the next step will see it.
                    StoreError::ConditionFailed { .. } => Ok(item.clone()),
                    e => Err(e),
                })?;
            if next.is_none() {
                tracing::info!(account_id = %account, broadcast_id = %id, "broadcast fan-out done");
                self.complete_broadcast_if_done(account, id).await?;
                return Ok(super::JobOutcome::Done);
            }
        }
    }

    async fn audience_page(
        &self,
        account: &AccountId,
        b: &Broadcast,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Contact>, Option<Cursor>), ServiceError> {
        match &b.audience {
            Audience::Tags(tags) => {
                // One pass over the contacts; a contact with several of the tags counts once.
                let mut conditions: Vec<Condition> = tags
                    .iter()
                    .map(|t| Condition::Contains("tags".into(), Value::S(t.as_str().into())))
                    .collect();
                let filter = if conditions.len() == 1 {
                    conditions.pop()
                } else {
                    Some(Condition::Or(conditions))
                };
                let page = self
                    .items
                    .query(
                        Query::partition(table::account_partition(account))
                            .begins_with(table::CONTACT_PREFIX)
                            .limit(PAGE)
                            .after(cursor)
                            .filter(filter),
                    )
                    .await?;
                let mut contacts = Vec::with_capacity(page.items.len());
                for item in &page.items {
                    contacts.push(self.contact_from_item(account, item).await?);
                }
                Ok((contacts, page.next))
            }
            Audience::Contacts(ids) => {
                // The cursor here is the position in the list.
                let start = cursor.map_or(0, |c| c.last.sk.parse::<usize>().unwrap_or(0));
                let end = (start + PAGE as usize).min(ids.len());
                let keys: Vec<Key> = ids[start..end]
                    .iter()
                    .map(|id| table::contact(account, id))
                    .collect();
                let mut contacts = Vec::new();
                for item in self.items.batch_get(&keys).await?.into_iter().flatten() {
                    contacts.push(self.contact_from_item(account, &item).await?);
                }
                let next = (end < ids.len()).then(|| Cursor {
                    last: Key::new("list", end.to_string()),
                    last_gsi1: None,
                });
                Ok((contacts, next))
            }
        }
    }

    /// Decides one contact of a broadcast, at most once: `Some` if a message was created.
    /// `full`: the plan's broadcast size is reached.
    async fn target(
        &self,
        account: &AccountId,
        b: &Broadcast,
        contact: &Contact,
        full: bool,
    ) -> Result<Targeted, ServiceError> {
        let marker = target_key(account, &b.id, &contact.id);
        let skip = if contact.opt_out.is_some() {
            Some("skipped_opted_out")
        } else if !contact.opted_in() {
            Some("skipped_no_consent")
        } else if recipient_address(contact).is_none() {
            Some("skipped_invalid")
        } else if full {
            Some("skipped_plan_limit")
        } else {
            None
        };
        let counters = |name: &str| {
            let mut update = Update::new(broadcast_key(account, &b.id))
                .add("targeted", 1)
                .add(name, 1);
            if name == "queued" {
                // Until its outcome is known; the broadcast completes when none is left.
                update = update.add("outstanding", 1);
            }
            Write::Update(update)
        };
        let (writes, created) = match skip {
            Some(reason) => (
                vec![
                    Write::put_new(Item::new(marker).with("outcome", Value::S(reason.into()))),
                    counters(reason),
                ],
                None,
            ),
            None => {
                let at = now();
                let message = Message {
                    id: MessageId::generate(),
                    number: b.from.clone(),
                    contact_id: contact.id.clone(),
                    address: recipient_address(contact).unwrap_or_default(),
                    body: Body::Outbound(Content::Template {
                        template: b.template.clone(),
                    }),
                    reply_to: None,
                    status: MessageStatus::Queued,
                    wamid: None,
                    error: None,
                    history: vec![StatusChange {
                        status: MessageStatus::Queued,
                        at,
                        error_code: None,
                    }],
                    broadcast_id: Some(b.id.clone()),
                    attempts: 0,
                    pricing: None,
                    created_at: at,
                    updated_at: at,
                };
                let marker_item = Item::new(marker)
                    .with("outcome", Value::S("queued".into()))
                    .with("message_id", Value::S(message.id.to_string()));
                (
                    vec![
                        Write::put_new(marker_item),
                        Write::put_new(self.message_item(account, &message).await?),
                        counters("queued"),
                        Write::Update(super::billing::usage::count(
                            account,
                            &[("queued", 1), ("templates", 1)],
                        )),
                    ],
                    Some(message.id),
                )
            }
        };
        match self.items.transact(writes).await {
            Ok(()) => Ok(created.map_or(Targeted::Decided, Targeted::Queued)),
            // Decided by an earlier run of the fan-out, which may have stopped before its
            // messages reached the send queue or before it saved its place (a pause landing
            // between the two, whose held messages left the queue; a crash): nothing to
            // count, and a message still waiting goes to the queue again. (The sender sends a
            // message once however often it is queued.)
            Err(StoreError::ConditionFailed { index: Some(0) }) => {
                self.waiting_target(account, &target_key(account, &b.id, &contact.id))
                    .await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The message an existing target marker names, if it is still `queued`.
    async fn waiting_target(
        &self,
        account: &AccountId,
        marker: &Key,
    ) -> Result<Targeted, ServiceError> {
        let Some(id) = self.items.get(marker).await?.and_then(|i| {
            i.opt_s("message_id")
                .and_then(|m| m.parse::<MessageId>().ok())
        }) else {
            return Ok(Targeted::Decided);
        };
        let status = self.items.get(&table::message(account, &id)).await?;
        Ok(
            match status.as_ref().and_then(|m| m.opt_s("status")) == Some("queued") {
                true => Targeted::Again(id),
                false => Targeted::Decided,
            },
        )
    }

    async fn queue_sends(
        &self,
        account: &AccountId,
        ids: &[MessageId],
    ) -> Result<(), ServiceError> {
        if ids.is_empty() {
            return Ok(());
        }
        let bodies = ids
            .iter()
            .map(|id| {
                let task = SendTask {
                    account_id: account.clone(),
                    message_id: id.clone(),
                };
                serde_json::to_string(&task).map(OutgoingMessage::new)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.send_queue
            .send_batch(bodies)
            .await
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        Ok(())
    }

    /// Queues again the broadcast's messages still `queued` (after a retry or a resume).
    async fn requeue_targets(
        &self,
        account: &AccountId,
        b: &Broadcast,
    ) -> Result<(), ServiceError> {
        let mut cursor = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .begins_with(format!("BROADCASTTARGET#{}#", b.id))
                        .limit(PAGE)
                        .after(cursor),
                )
                .await?;
            let ids: Vec<MessageId> = page
                .items
                .iter()
                .filter_map(|i| i.opt_s("message_id").and_then(|m| m.parse().ok()))
                .collect();
            let keys: Vec<Key> = ids.iter().map(|id| table::message(account, id)).collect();
            let mut queued = Vec::new();
            for (id, item) in ids.iter().zip(self.items.batch_get(&keys).await?) {
                if item
                    .and_then(|i| i.opt_s("status").map(str::to_owned))
                    .as_deref()
                    == Some("queued")
                {
                    queued.push(id.clone());
                }
            }
            self.queue_sends(account, &queued).await?;
            match page.next {
                Some(c) => cursor = Some(c),
                None => return Ok(()),
            }
        }
    }

    /// Marks a running broadcast completed once its audience is walked and no message is
    /// waiting for an outcome.
    pub(crate) async fn complete_broadcast_if_done(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<(), ServiceError> {
        let update = Update::new(broadcast_key(account, id))
            .set(
                "status",
                Value::S(BroadcastStatus::Completed.as_str().into()),
            )
            .set("finished_at", Value::N(to_millis(now())))
            .when(Condition::And(vec![
                status_is(BroadcastStatus::Running),
                Condition::Equals("fanout_done".into(), Value::S("yes".into())),
                Condition::Or(vec![
                    Condition::AttributeNotExists("outstanding".into()),
                    Condition::Equals("outstanding".into(), Value::N(0)),
                ]),
            ]));
        match self.items.update(update).await {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a broadcast's queued messages may go out now (`Some(false)`: hold them).
    pub(crate) async fn broadcast_sendable(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<BroadcastGate, ServiceError> {
        let Some(item) = self.items.get(&broadcast_key(account, id)).await? else {
            return Ok(BroadcastGate::Canceled);
        };
        Ok(
            match item.opt_s("status").and_then(BroadcastStatus::parse) {
                Some(BroadcastStatus::Paused) => BroadcastGate::Hold,
                Some(BroadcastStatus::Canceled) => BroadcastGate::Canceled,
                _ => BroadcastGate::Send,
            },
        )
    }
}

/// The counter update for a broadcast message's outcome; the sender writes it in the same
/// transaction as the outcome itself, so each message counts once. A message of a canceled
/// broadcast counts nowhere.
pub(crate) fn outcome_counters(
    account: &AccountId,
    id: &BroadcastId,
    status: MessageStatus,
    error: Option<&crate::domain::MessageError>,
) -> Option<Update> {
    let update = Update::new(broadcast_key(account, id)).add("outstanding", -1);
    match status {
        MessageStatus::Sent => Some(update.add("sent", 1)),
        MessageStatus::Failed | MessageStatus::Unknown => {
            let code = error.map_or(0, |e| e.code);
            if error.is_some_and(|e| e.code == 0 && e.title == CANCELED) {
                return None;
            }
            Some(
                update
                    .add("failed", 1)
                    .add(&format!("failed_code_{code}"), 1),
            )
        }
        _ => None,
    }
}

pub(crate) const CANCELED: &str = "The broadcast was canceled";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BroadcastGate {
    Send,
    Hold,
    Canceled,
}

fn fanout(account: &AccountId, id: &BroadcastId) -> Job {
    Job::BroadcastFanout {
        account_id: account.clone(),
        broadcast_id: id.clone(),
    }
}

fn broadcast_item(account: &AccountId, b: &Broadcast) -> Result<Item, ServiceError> {
    let template =
        serde_json::to_string(&b.template).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let audience = match &b.audience {
        Audience::Tags(tags) => Value::M(BTreeMap::from([(
            "tags".to_owned(),
            Value::L(tags.iter().map(|t| Value::S(t.as_str().into())).collect()),
        )])),
        Audience::Contacts(ids) => Value::M(BTreeMap::from([(
            "contact_ids".to_owned(),
            Value::L(ids.iter().map(|c| Value::S(c.to_string())).collect()),
        )])),
    };
    let mut item = Item::new(broadcast_key(account, &b.id))
        .with("from", Value::S(b.from.to_string()))
        .with("template", Value::S(template))
        .with("audience", audience)
        .with("status", Value::S(b.status.as_str().into()))
        .with("created_at", Value::N(to_millis(b.created_at)));
    for c in COUNTERS {
        item = item.with(c, Value::N(0));
    }
    if let Some(t) = b.send_at {
        item = item.with("send_at", Value::N(to_millis(t)));
    }
    if let Some(t) = b.started_at {
        item = item.with("started_at", Value::N(to_millis(t)));
    }
    Ok(item)
}

pub(crate) fn broadcast_from_item(item: &Item) -> Result<Broadcast, ServiceError> {
    let id: BroadcastId = item
        .key
        .sk
        .strip_prefix("BROADCAST#")
        .ok_or_else(|| StoreError::Corrupt("broadcast sort key".into()))?
        .parse()
        .map_err(corrupt)?;
    let template: Template = serde_json::from_str(item.s("template")?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::L(l)) => l
                .iter()
                .filter_map(|v| match v {
                    Value::S(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let audience = match item.attrs.get("audience") {
        Some(Value::M(m)) if m.contains_key("tags") => Audience::Tags(
            strings(m.get("tags"))
                .iter()
                .filter_map(|t| Tag::parse(t).ok())
                .collect(),
        ),
        Some(Value::M(m)) => Audience::Contacts(
            strings(m.get("contact_ids"))
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        ),
        _ => return Err(StoreError::Corrupt("broadcast audience".into()).into()),
    };
    let n = |name: &str| item.opt_n(name).unwrap_or(0).max(0) as u64;
    let failed_by_code = item
        .attrs
        .iter()
        .filter_map(|(k, v)| match (k.strip_prefix("failed_code_"), v) {
            (Some(code), Value::N(n)) => Some((code.to_owned(), (*n).max(0) as u64)),
            _ => None,
        })
        .collect();
    Ok(Broadcast {
        id,
        from: PhoneNumberId::parse(item.s("from")?).map_err(corrupt)?,
        template,
        audience,
        send_at: item.opt_n("send_at").map(from_millis).transpose()?,
        status: BroadcastStatus::parse(item.s("status")?)
            .ok_or_else(|| StoreError::Corrupt("broadcast status".into()))?,
        pause_reason: item.opt_s("pause_reason").map(str::to_owned),
        counts: BroadcastCounts {
            targeted: n("targeted"),
            skipped_opted_out: n("skipped_opted_out"),
            skipped_no_consent: n("skipped_no_consent"),
            skipped_invalid: n("skipped_invalid"),
            skipped_plan_limit: n("skipped_plan_limit"),
            queued: n("queued"),
            sent: n("sent"),
            delivered: n("delivered"),
            read: n("read"),
            failed: n("failed"),
            failed_by_code,
        },
        created_at: from_millis(item.n("created_at")?)?,
        started_at: item.opt_n("started_at").map(from_millis).transpose()?,
        finished_at: item.opt_n("finished_at").map(from_millis).transpose()?,
    })
}
