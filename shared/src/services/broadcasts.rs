//! Broadcasts: one template to an audience (contacts with given tags, or a list of contacts),
//! now or at `send_at`.
//!
//! A fan-out job walks the audience a page at a time. For each contact it writes, in one
//! transaction, a target marker (broadcast, contact), the message or the reason it was skipped,
//! and the broadcast's counters: the marker is written only if absent, so a retried fan-out can
//! neither count nor send anyone twice. Messages are then queued for the sender; a retry queues
//! again what is still `queued`, which the sender's claim makes harmless.

use std::time::Duration;

use futures::TryStreamExt;

use super::messages::queued_message;
use super::{App, Job, JobOutcome, ServiceError};
use crate::domain::{
    month_of, now, AccountId, Audience, Broadcast, BroadcastCounts, BroadcastId, BroadcastStatus,
    Contact, MessageId, MessageStatus, PhoneNumberId, Skip, Timestamp, UsageDelta,
};
use crate::graph::messages::{Content, Template};
use crate::ports::{Condition, Cursor, Item, Key, StoreError, Write};
use crate::records::{self, broadcast, contact, message, usage};

const PAGE: u32 = 200;
/// Most contacts an estimate reads.
pub const ESTIMATE_MAX: u64 = 10_000;

/// Contacts with any of `tags`: one pass over the contacts, a contact with several of the
/// tags counted once.
fn tag_filter(tags: &[crate::domain::Tag]) -> Option<Condition> {
    let mut conditions: Vec<Condition> = tags.iter().map(contact::tagged).collect();
    if conditions.len() == 1 {
        conditions.pop()
    } else {
        Some(Condition::Or(conditions))
    }
}

/// What a broadcast would reach and cost, before it is made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BroadcastEstimate {
    /// Opted in and not opted out: the contacts it would message.
    pub reachable: u64,
    /// In the audience but without consent, or opted out.
    pub skipped: u64,
    /// Meta's charges at the configured rates, in micro-units of `currency`.
    pub cost_micros: u64,
    pub currency: Option<String>,
    /// More contacts than [`ESTIMATE_MAX`]: the figures count the first ones.
    pub capped: bool,
}

#[derive(Clone, Debug)]
pub struct NewBroadcast {
    pub from: PhoneNumberId,
    pub template: Template,
    /// Template parameters filled from each contact (none: the same message to everyone).
    pub personalization: Vec<crate::domain::Personalization>,
    pub audience: Audience,
    pub send_at: Option<Timestamp>,
}

/// What the fan-out made of one contact.
enum Targeted {
    /// A new message, to send.
    Queued(MessageId),
    /// A message an earlier run made that is still waiting: to send again.
    Again(MessageId),
    /// Skipped, or already on its way.
    Decided,
    /// Meta's messaging limit for the day is reached: left undecided for a later run.
    LimitReached,
}

/// Meta's messaging limit of the sending WABA's business, and today's count against it.
struct Reach {
    waba: String,
    limit: u64,
    day: String,
    expires_at: i64,
}

/// Whether a broadcast's queued messages may go out now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BroadcastGate {
    Send,
    /// Paused: the sender lets go of them; resuming queues them again.
    Hold,
    /// Canceled (or erased): they are never sent.
    Canceled,
}

impl App {
    pub async fn create_broadcast(
        &self,
        account: &AccountId,
        new: NewBroadcast,
    ) -> Result<Broadcast, ServiceError> {
        let number = self.sending_number(account, &new.from).await?;
        self.check_template_message(account, &number.waba_id, &new.template)
            .await?;
        crate::domain::Personalization::check_all(&new.personalization, &new.template)
            .map_err(|e| ServiceError::invalid("personalization", &e.0))?;
        self.check_send_allowance(account, 1).await?;
        let at = now();
        let scheduled = new.send_at.is_some_and(|t| t > at);
        let b = Broadcast {
            id: BroadcastId::generate(),
            from: new.from,
            template: new.template,
            personalization: new.personalization,
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
        let (item, definition) = broadcast::to_items(account, &b)?;
        let mut writes = vec![
            Write::put_new(item),
            Write::put_new(definition),
            Write::Update(usage::count(
                account,
                &month_of(at),
                &b.id.to_string(),
                UsageDelta {
                    broadcasts: 1,
                    ..Default::default()
                },
            )),
        ];
        if let (true, Some(t)) = (scheduled, b.send_at) {
            writes.push(Write::put(broadcast::schedule_item(account, &b.id, t)));
        }
        self.items.transact(writes).await?;
        if !scheduled {
            self.enqueue(&fanout(account, &b.id)).await?;
        }
        tracing::info!(account_id = %account, broadcast_id = %b.id, scheduled, "broadcast created");
        Ok(b)
    }

    pub async fn broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<Broadcast, ServiceError> {
        let item = self.found(&broadcast::key(account, id)).await?;
        self.broadcast_of(&item).await
    }

    /// A broadcast from its item, with its definition and counters read beside it.
    pub(crate) async fn broadcast_of(&self, item: &Item) -> Result<Broadcast, ServiceError> {
        let definition = match broadcast::definition_key(item) {
            Some(key) => self.items.get(&key).await?,
            None => None,
        };
        let counts = self.broadcast_counts(item).await?;
        Ok(broadcast::from_items(item, definition.as_ref(), &counts)?)
    }

    /// The counter shards of the broadcast whose item this is (one query).
    async fn broadcast_counts(&self, item: &Item) -> Result<Vec<Item>, ServiceError> {
        let query = broadcast::counts_of(item)?;
        Ok(records::items(&*self.items, query).try_collect().await?)
    }

    /// Broadcasts, newest first.
    pub async fn broadcasts(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Broadcast>, Option<Cursor>), ServiceError> {
        let query = broadcast::all(account)
            .backward()
            .limit(limit)
            .after(cursor);
        let page = self.items.query(query).await?;
        let definitions = records::companions(
            &*self.items,
            page.items.iter().filter_map(broadcast::definition_key),
        )
        .await?;
        let counts =
            futures::future::try_join_all(page.items.iter().map(|i| self.broadcast_counts(i)))
                .await?;
        let broadcasts = page
            .items
            .iter()
            .zip(&counts)
            .map(|(item, counts)| {
                let d = broadcast::definition_key(item).and_then(|k| definitions.get(&k));
                broadcast::from_items(item, d, counts)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((broadcasts, page.next))
    }

    pub async fn pause_broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
        reason: &str,
    ) -> Result<Broadcast, ServiceError> {
        let paused = self
            .move_broadcast(
                account,
                id,
                &[BroadcastStatus::Running, BroadcastStatus::Scheduled],
                BroadcastStatus::Paused,
                Some(reason),
            )
            .await?;
        self.raise_broadcast(account, crate::domain::EventType::BroadcastPaused, &paused)
            .await?;
        Ok(paused)
    }

    /// A page of the broadcast's recipients in contact order: what the fan-out decided for
    /// each, and the message's status, error and times (none once retention removed it).
    pub async fn broadcast_recipients(
        &self,
        account: &AccountId,
        id: &BroadcastId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<crate::domain::BroadcastRecipient>, Option<Cursor>), ServiceError> {
        // The broadcast is the tenant's: another's id is a 404, not an empty page.
        self.found(&broadcast::key(account, id)).await?;
        let limit = limit.min(crate::ports::item_store::MAX_BATCH_GET as u32);
        let page = self
            .items
            .query(broadcast::targets(account, id).limit(limit).after(cursor))
            .await?;
        let ids: Vec<MessageId> = page
            .items
            .iter()
            .filter_map(broadcast::target_message)
            .collect();
        let at: Vec<_> = ids.iter().map(|m| (account, m)).collect();
        let found: Vec<Item> = self
            .message_items_at(&at)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let mut messages: std::collections::HashMap<_, _> = self
            .messages_of(account, &found)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let mut out = Vec::with_capacity(page.items.len());
        for marker in &page.items {
            out.push(crate::domain::BroadcastRecipient {
                contact_id: broadcast::target_contact(marker, id)?,
                outcome: broadcast::target_outcome(marker).to_owned(),
                message: broadcast::target_message(marker).and_then(|m| messages.remove(&m)),
            });
        }
        Ok((out, page.next))
    }

    /// Pauses every running or scheduled broadcast of the template (its name and language,
    /// from a number under its WABA) with Meta's reason: Meta would refuse its messages.
    pub(crate) async fn pause_broadcasts_of(
        &self,
        account: &AccountId,
        template: &crate::domain::Template,
        status: &crate::domain::TemplateStatus,
        reason: Option<&str>,
    ) -> Result<u32, ServiceError> {
        let mut numbers = Vec::new();
        let mut items = records::items(&*self.items, records::number::all(account));
        while let Some(item) = items.try_next().await? {
            if item.opt_s("waba_id") == Some(template.waba_id.as_str()) {
                numbers.push(records::number::id_of(&item)?);
            }
        }
        let mut affected = Vec::new();
        let mut all = records::items(&*self.items, broadcast::all(account));
        while let Some(item) = all.try_next().await? {
            let live = matches!(
                broadcast::status(&item)?,
                BroadcastStatus::Running | BroadcastStatus::Scheduled
            );
            if !live {
                continue;
            }
            let b = self.broadcast_of(&item).await?;
            if numbers.contains(&b.from)
                && b.template.name == template.name.as_str()
                && b.template.language.code == template.language.as_str()
            {
                affected.push(b.id);
            }
        }
        let why = format!(
            "template {} ({}) is {} at Meta{}",
            template.name,
            template.language,
            status.as_str(),
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        let mut paused = 0;
        for id in affected {
            match self.pause_broadcast(account, &id, &why).await {
                Ok(_) => paused += 1,
                // Finished or paused meanwhile.
                Err(ServiceError::BroadcastState(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if paused > 0 {
            tracing::warn!(account_id = %account, paused, status = status.as_str(), "broadcasts paused: their template stopped");
        }
        Ok(paused)
    }

    /// Resumes a paused broadcast: the fan-out continues and its queued messages go out; one
    /// paused before its start time is scheduled again for that time.
    pub async fn resume_broadcast(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<Broadcast, ServiceError> {
        // Meta would refuse its messages while its template cannot send (paused, say).
        let current = self.broadcast(account, id).await?;
        let not_yet = current.started_at.is_none() && current.send_at.is_some_and(|at| at > now());
        if current.status == BroadcastStatus::Paused && not_yet {
            // Its schedule entry is still there (entries go when due): it starts on time.
            return self
                .move_broadcast(
                    account,
                    id,
                    &[BroadcastStatus::Paused],
                    BroadcastStatus::Scheduled,
                    None,
                )
                .await;
        }
        if current.status == BroadcastStatus::Paused {
            let number = self.sending_number(account, &current.from).await?;
            self.check_template_message(account, &number.waba_id, &current.template)
                .await?;
        }
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
        self.items.update(broadcast::requeue(account, id)).await?;
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
        let update = broadcast::change_status(account, id, from, to, reason, now());
        match self.items.update(update).await {
            Ok(item) => self.broadcast_of(&item).await,
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
        let page = self.items.query(broadcast::due(now()).limit(100)).await?;
        let mut started = 0;
        for entry in &page.items {
            let (account, id) = broadcast::scheduled(entry)?;
            match self
                .items
                .update(broadcast::start_scheduled(&account, &id, now()))
                .await
            {
                Ok(_) => {
                    self.enqueue(&fanout(&account, &id)).await?;
                    started += 1;
                }
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.items.delete(&entry.key, None).await?;
        }
        Ok(started)
    }

    /// The fan-out job: one page of the audience per step, resumable from the stored cursor.
    pub async fn run_fanout(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<JobOutcome, ServiceError> {
        loop {
            let item = self.found(&broadcast::key(account, id)).await?;
            if broadcast::status(&item)? != BroadcastStatus::Running {
                return Ok(JobOutcome::Done);
            }
            let b = self.broadcast_of(&item).await?;
            let place = broadcast::fanout(&item)?;
            if place.requeue || place.done {
                // Resumed (the sender let go of what it held while paused), or the audience is
                // done and this is a retry: what was made so far and still waits goes out.
                self.requeue_targets(account, &b).await?;
            }
            if place.requeue {
                self.items.update(broadcast::requeued(account, id)).await?;
            }
            if place.done {
                return Ok(JobOutcome::Done);
            }
            let (contacts, next) = self
                .audience_page(account, &b.audience, place.cursor)
                .await?;
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
                    return Ok(JobOutcome::Done);
                }
                Err(e) => return Err(e),
            };
            // Messages the plan's broadcast size still allows; the fan-out is the only writer
            // of `queued` and runs one page at a time, so the count is exact.
            let mut room = billing.plan.broadcast_size.saturating_sub(b.counts.queued);
            let reach = self.reach(account, &b.from).await?;
            let mut to_send = Vec::new();
            let mut limited = false;
            for c in &contacts {
                match self
                    .target(account, &b, c, room == 0, reach.as_ref())
                    .await?
                {
                    Targeted::Queued(m) => {
                        to_send.push(m);
                        room = room.saturating_sub(1);
                    }
                    // Counted by the earlier run already.
                    Targeted::Again(m) => to_send.push(m),
                    Targeted::Decided => {}
                    Targeted::LimitReached => {
                        limited = true;
                        break;
                    }
                }
            }
            self.queue_sends(account, &to_send, Duration::ZERO).await?;
            if let (true, Some(r)) = (limited, &reach) {
                // The place is not saved: a resume walks this page again, and the contacts
                // decided already are passed over by their markers.
                let why = format!(
                    "messaging limit: Meta lets this business reach {} people a day with business-initiated messages, and today's are used; resume tomorrow or once Meta raises the limit",
                    r.limit
                );
                tracing::warn!(account_id = %account, broadcast_id = %id, limit = r.limit, "broadcast paused: messaging limit reached");
                match self.pause_broadcast(account, id, &why).await {
                    Ok(_) | Err(ServiceError::BroadcastState(_)) => {}
                    Err(e) => return Err(e),
                }
                return Ok(JobOutcome::Done);
            }
            match self
                .items
                .update(broadcast::fanout_at(account, id, next.as_ref()))
                .await
            {
                // Paused or canceled meanwhile: the next step will see it.
                Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            if next.is_none() {
                tracing::info!(account_id = %account, broadcast_id = %id, "broadcast fan-out done");
                self.complete_broadcast_if_done(account, id).await?;
                return Ok(JobOutcome::Done);
            }
        }
    }

    /// Who a broadcast to `audience` would reach, and what Meta would charge for it at the
    /// configured rates (by each contact's market and the template's category): read before
    /// confirming. Counts at most [`ESTIMATE_MAX`] contacts.
    pub async fn estimate_broadcast(
        &self,
        account: &AccountId,
        audience: &Audience,
        category: &str,
    ) -> Result<BroadcastEstimate, ServiceError> {
        let rates = self.billing_config.meta_rates.as_ref();
        let category = category.to_ascii_lowercase();
        let mut out = BroadcastEstimate {
            currency: rates.map(|r| r.currency.clone()),
            ..Default::default()
        };
        let mut tally = |c: &Contact| {
            if !c.opted_in() {
                out.skipped += 1;
                return;
            }
            out.reachable += 1;
            let market = c.phone.as_ref().and_then(|p| p.region());
            let market = market.as_ref().map(|m| m.as_str());
            out.cost_micros += rates.and_then(|r| r.rate(market, &category)).unwrap_or(0);
        };
        let sealer = self.sealer(account, ESTIMATE_MAX * contact::SEALED).await?;
        let mut counted = 0u64;
        let mut capped = false;
        match audience {
            Audience::Tags(tags) => {
                let query = contact::all(account).limit(PAGE).filter(tag_filter(tags));
                let mut items = records::items(&*self.items, query);
                while let Some(item) = items.try_next().await? {
                    if counted == ESTIMATE_MAX {
                        capped = true;
                        break;
                    }
                    tally(&contact::from_item(&sealer, &item)?);
                    counted += 1;
                }
            }
            Audience::Contacts(ids) => {
                for chunk in ids.chunks(PAGE as usize) {
                    let keys: Vec<Key> = chunk
                        .iter()
                        .map(|id| crate::table::contact(account, id))
                        .collect();
                    for item in self.items.batch_get(&keys).await?.into_iter().flatten() {
                        tally(&contact::from_item(&sealer, &item)?);
                    }
                }
            }
        }
        out.capped = capped;
        Ok(out)
    }

    async fn audience_page(
        &self,
        account: &AccountId,
        audience: &Audience,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Contact>, Option<Cursor>), ServiceError> {
        let sealer = self
            .sealer(account, u64::from(PAGE) * contact::SEALED)
            .await?;
        match audience {
            Audience::Tags(tags) => {
                let query = contact::all(account)
                    .limit(PAGE)
                    .after(cursor)
                    .filter(tag_filter(tags));
                Ok(records::list(&*self.items, query, |i| contact::from_item(&sealer, i)).await?)
            }
            Audience::Contacts(ids) => {
                // The cursor here is the position in the list.
                let start = broadcast::list_position(cursor.as_ref());
                let end = (start + PAGE as usize).min(ids.len());
                let keys: Vec<Key> = ids[start.min(end)..end]
                    .iter()
                    .map(|id| crate::table::contact(account, id))
                    .collect();
                let mut contacts = Vec::new();
                for item in self.items.batch_get(&keys).await?.into_iter().flatten() {
                    contacts.push(contact::from_item(&sealer, &item)?);
                }
                let next = (end < ids.len()).then(|| broadcast::list_cursor(end));
                Ok((contacts, next))
            }
        }
    }

    /// The messaging limit the sending number's WABA is under today, if Meta stated one.
    async fn reach(
        &self,
        account: &AccountId,
        from: &PhoneNumberId,
    ) -> Result<Option<Reach>, ServiceError> {
        let number = self.sending_number(account, from).await?;
        let route = self
            .items
            .get(&crate::table::waba_route(number.waba_id.as_str()))
            .await?;
        let Some(limit) = route.as_ref().and_then(records::number::messaging_limit) else {
            return Ok(None);
        };
        let at = now();
        Ok(Some(Reach {
            waba: number.waba_id.as_str().to_owned(),
            limit,
            day: format!(
                "{:04}-{:02}-{:02}",
                at.year(),
                u8::from(at.month()),
                at.day()
            ),
            expires_at: at.unix_timestamp() + 2 * 86_400,
        }))
    }

    /// Decides one contact of a broadcast, at most once. `full`: the plan's broadcast size is
    /// reached; `reach`: Meta's messaging limit, counted with each new message.
    async fn target(
        &self,
        account: &AccountId,
        b: &Broadcast,
        c: &Contact,
        full: bool,
        reach: Option<&Reach>,
    ) -> Result<Targeted, ServiceError> {
        let address = c.address();
        let skip = if c.opt_out.is_some() {
            Some(Skip::OptedOut)
        } else if !c.opted_in() {
            Some(Skip::NoConsent)
        } else if address.is_none() {
            Some(Skip::Invalid)
        } else if full {
            Some(Skip::PlanLimit)
        } else {
            None
        };
        let (writes, created) = match (skip, address) {
            (None, Some(address)) => {
                let content = Content::Template {
                    template: crate::domain::Personalization::apply(
                        &b.personalization,
                        &b.template,
                        c,
                    ),
                };
                let mut m = queued_message(b.from.clone(), c, address, content);
                m.broadcast_id = Some(b.id.clone());
                let mut writes = broadcast::target_writes(account, &b.id, &c.id, &m.id);
                let puts = self.message_items(account, &m).await?.puts();
                writes.splice(1..1, puts);
                writes.push(Write::Update(usage::count(
                    account,
                    &month_of(m.created_at),
                    &m.id.to_string(),
                    UsageDelta {
                        queued: 1,
                        templates: 1,
                        ..Default::default()
                    },
                )));
                if let Some(r) = reach {
                    writes.push(Write::Update(broadcast::reached(
                        account,
                        &r.waba,
                        &r.day,
                        r.limit,
                        r.expires_at,
                    )));
                }
                (writes, Some(m.id))
            }
            (why, _) => (
                broadcast::skip_writes(account, &b.id, &c.id, why.unwrap_or(Skip::Invalid)),
                None,
            ),
        };
        let reach_write = (created.is_some() && reach.is_some()).then(|| writes.len() - 1);
        match self.items.transact(writes).await {
            Ok(()) => Ok(created.map_or(Targeted::Decided, Targeted::Queued)),
            Err(StoreError::ConditionFailed { index: Some(i) }) if Some(i) == reach_write => {
                Ok(Targeted::LimitReached)
            }
            // Decided by an earlier run of the fan-out, which may have stopped before its
            // messages reached the send queue or before it saved its place (a pause landing
            // between the two, whose held messages left the queue; a crash): nothing to
            // count, and a message still waiting goes to the queue again. (The sender sends a
            // message once however often it is queued.)
            Err(StoreError::ConditionFailed { index: Some(0) }) => {
                self.waiting_target(account, &broadcast::target(account, &b.id, &c.id))
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
        let Some(id) = self
            .items
            .get(marker)
            .await?
            .as_ref()
            .and_then(broadcast::target_message)
        else {
            return Ok(Targeted::Decided);
        };
        let item = self.message_item(account, &id).await?;
        Ok(match item.as_ref().map(message::status).transpose()? {
            Some(MessageStatus::Queued) => Targeted::Again(id),
            _ => Targeted::Decided,
        })
    }

    /// Queues again the broadcast's messages still `queued` (after a retry or a resume).
    async fn requeue_targets(
        &self,
        account: &AccountId,
        b: &Broadcast,
    ) -> Result<(), ServiceError> {
        let mut pages =
            records::pages(&*self.items, broadcast::targets(account, &b.id).limit(PAGE));
        while let Some(page) = pages.try_next().await? {
            let ids: Vec<MessageId> = page
                .items
                .iter()
                .filter_map(broadcast::target_message)
                .collect();
            let at: Vec<_> = ids.iter().map(|id| (account, id)).collect();
            let mut queued = Vec::new();
            for (id, item) in ids.iter().zip(self.message_items_at(&at).await?) {
                if item.as_ref().map(message::status).transpose()? == Some(MessageStatus::Queued) {
                    queued.push(id.clone());
                }
            }
            self.queue_sends(account, &queued, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// Marks a running broadcast completed once its audience is walked and no message is
    /// waiting for an outcome.
    pub(crate) async fn complete_broadcast_if_done(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<(), ServiceError> {
        let update = broadcast::complete_if_done(account, id, now());
        // Every outcome asks, and a refused condition bills a write: strongly consistent reads
        // of the small broadcast item, then of its counter shards, cost less. The fan-out's
        // counting is all written before the item says it is done, and the outcome that
        // leaves none outstanding reads after its own write: it sees the broadcast done.
        let Some(current) = self.items.get(&update.key).await? else {
            return Ok(());
        };
        if !update
            .condition
            .as_ref()
            .is_none_or(|c| c.holds(Some(&current)))
        {
            return Ok(());
        }
        let counts = self.broadcast_counts(&current).await?;
        if broadcast::outstanding(&current, &counts) > 0 {
            return Ok(());
        }
        match self.items.update(update).await {
            Ok(item) => {
                let b = self.broadcast_of(&item).await?;
                self.raise_broadcast(account, crate::domain::EventType::BroadcastCompleted, &b)
                    .await
            }
            Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a broadcast's queued messages may go out now.
    pub(crate) async fn broadcast_sendable(
        &self,
        account: &AccountId,
        id: &BroadcastId,
    ) -> Result<BroadcastGate, ServiceError> {
        let Some(item) = self.items.get(&broadcast::key(account, id)).await? else {
            return Ok(BroadcastGate::Canceled);
        };
        Ok(match broadcast::status(&item).ok() {
            Some(BroadcastStatus::Paused) => BroadcastGate::Hold,
            Some(BroadcastStatus::Canceled) => BroadcastGate::Canceled,
            _ => BroadcastGate::Send,
        })
    }
}

fn fanout(account: &AccountId, id: &BroadcastId) -> Job {
    Job::BroadcastFanout {
        account_id: account.clone(),
        broadcast_id: id.clone(),
    }
}
