//! Events to the business's own systems: webhook endpoints (registered, changed, disabled,
//! their secret rotated), events raised where things happen, and their delivery.
//!
//! Raising an event never calls out: an event whose account has an endpoint wanting its type
//! is sealed and queued (one queue message per account for all the events a webhook or a
//! request raised, see [`App::collecting_events`]). A job then stores each event once (its id
//! is derived from its cause, so the same cause raised twice is one event) and starts one
//! delivery per endpoint that wants it, each its own job: one slow or dead endpoint holds up
//! only its own deliveries. An attempt is one POST signed per Standard Webhooks with a 10 s
//! deadline: 2xx is delivered, 410 disables the endpoint, anything else is tried again with
//! exponential backoff and jitter for three days (SQS delays stop at 15 minutes, so a long
//! wait is several hops), after which the endpoint is disabled and the account told (a
//! notice). Each attempt is kept in the delivery's log for the retention period.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::{App, Job, JobOutcome, Principal, ServiceError};
use crate::domain::{
    now, AccountId, DisabledReason, Endpoint, EndpointId, EndpointUrl, EventId, EventType,
    EventTypes, Notice, Permission, Timestamp, NOTICE_DAYS,
};
use crate::events::guard::Reach;
use crate::events::signature::{self, SigningSecret};
use crate::events::Event;
use crate::ports::queue::MAX_DELAY;
use crate::ports::{Condition, OutgoingMessage, StoreError};
use crate::records::endpoint::{self as record, Attempt, Delivery, DeliveryState};
use crate::records::{self, notice};

/// Most endpoints an account may register.
pub const MAX_ENDPOINTS: usize = 20;
/// How long deliveries are retried, from their first attempt.
pub const RETRY_PERIOD: Duration = Duration::from_secs(3 * 24 * 3600);
/// How long a rotated-out secret goes on signing by default.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// Longest overlap a rotation may ask for.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);
/// The first bytes of an answer the log keeps.
pub const ANSWER_BYTES: usize = 256;
/// How long a job holds a delivery's attempt: the 10 s deadline and what follows it.
const CLAIM: Duration = Duration::from_secs(60);
const CLAIM_MS: i64 = CLAIM.as_millis() as i64;
/// How long an account's subscriptions are trusted by a warm function.
const SUBSCRIPTIONS_TTL: Duration = Duration::from_secs(30);

/// What an account's endpoints want, remembered briefly: every raised event asks.
pub(crate) type SubscriptionCache = super::recent::Recent<BTreeSet<EventType>>;

/// Events raised while a webhook or request is handled, sent as one job per account when it
/// ends (see [`App::collecting_events`]).
type Outbox = Mutex<Vec<(AccountId, QueuedEvent)>>;

tokio::task_local! {
    static OUTBOX: Outbox;
}

/// An event on its way to the job that stores and delivers it: its data sealed for the
/// event's own item, so the queue never holds it in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Epoch milliseconds.
    pub at: i64,
    /// Base64 of the sealed data.
    pub data: String,
}

/// A new endpoint as a caller asks for it.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub description: String,
    pub events: EventTypes,
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<EndpointUrl>,
    pub description: Option<String>,
    pub events: Option<EventTypes>,
    /// `Some(false)` disables it, `Some(true)` enables it again.
    pub enabled: Option<bool>,
}

/// The first retry's delay on a deployment; it doubles from there.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);

/// The delay before attempt `n + 1` after `n` failed ones: `first` doubling, at most 6
/// hours, with up to a fifth of it added at random so retries of many deliveries spread out.
pub fn backoff(first: Duration, failed: u32) -> Duration {
    let base = first
        .saturating_mul(1u32 << failed.saturating_sub(1).min(16))
        .min(Duration::from_secs(6 * 3600));
    let jitter = rand::random::<f64>() * 0.2;
    base + base.mul_f64(jitter)
}

impl App {
    /// Runs `work`, sending the events it raises as one job per account at its end (an
    /// inbound webhook's messages and statuses cost one queue message, not one each). Events
    /// raised where no collection runs are sent at once.
    pub async fn collecting_events<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, ServiceError> {
        let (result, outbox) = OUTBOX
            .scope(Mutex::new(Vec::new()), async {
                let r = work.await;
                let taken = OUTBOX.with(|o| std::mem::take(&mut *lock(o)));
                (r, taken)
            })
            .await;
        // Sent even when the work failed part way: what it did before the failure raised real
        // events, and not every step raises again when the cause comes back (an opt-out
        // already recorded); those that do carry the same ids.
        let mut by_account: Vec<(AccountId, Vec<QueuedEvent>)> = Vec::new();
        for (account, event) in outbox {
            match by_account.iter_mut().find(|(a, _)| *a == account) {
                Some((_, events)) => events.push(event),
                None => by_account.push((account, vec![event])),
            }
        }
        for (account_id, events) in by_account {
            self.enqueue(&Job::Events { account_id, events }).await?;
        }
        result
    }

    /// Raises an event for the account's endpoints that want its type; nothing if none does.
    pub(crate) async fn raise(
        &self,
        account: &AccountId,
        kind: EventType,
        id: EventId,
        at: Timestamp,
        data: serde_json::Value,
    ) -> Result<(), ServiceError> {
        if kind != EventType::EndpointTest && !self.subscriptions(account).await?.contains(&kind) {
            return Ok(());
        }
        let event = Event::new(id, kind, at, data);
        let sealer = self.sealer(account, 1).await?;
        let queued = QueuedEvent {
            id: event.id.clone(),
            kind,
            at: records::to_millis(at),
            data: STANDARD.encode(record::seal_data(&sealer, &event)?),
        };
        let collected = OUTBOX.try_with(|o| lock(o).push((account.clone(), queued.clone())));
        if collected.is_err() {
            self.enqueue(&Job::Events {
                account_id: account.clone(),
                events: vec![queued],
            })
            .await?;
        }
        Ok(())
    }

    /// `message.received`: the message as the API shows it.
    pub(crate) async fn raise_message_received(
        &self,
        account: &AccountId,
        message: &crate::domain::Message,
    ) -> Result<(), ServiceError> {
        let cause = message.wamid.as_deref().unwrap_or_default();
        let id = EventId::derived(
            message.created_at,
            &[&account.to_string(), "message.received", cause],
        );
        let data = serde_json::to_value(crate::views::message::MessageView::from(message.clone()))
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.raise(
            account,
            EventType::MessageReceived,
            id,
            message.created_at,
            data,
        )
        .await
    }

    /// `message.status`: a status Meta reported for one of our messages, with its rank (the
    /// order the message's own status follows) so receivers can order what arrives unordered.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn raise_message_status(
        &self,
        account: &AccountId,
        message: &crate::domain::MessageId,
        contact: &crate::domain::ContactId,
        wamid: &str,
        status: crate::domain::MessageStatus,
        at: Timestamp,
        error: Option<&crate::domain::MessageError>,
    ) -> Result<(), ServiceError> {
        let name = serde_json::to_value(status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let id = EventId::derived(at, &[&account.to_string(), "message.status", wamid, &name]);
        let data = serde_json::json!({
            "message_id": message.to_string(),
            "contact_id": contact.to_string(),
            "wamid": wamid,
            "status": name,
            "rank": status.rank(),
            "error": error,
        });
        self.raise(account, EventType::MessageStatus, id, at, data)
            .await
    }

    /// `contact.created`: the contact as the API shows it.
    pub(crate) async fn raise_contact_created(
        &self,
        account: &AccountId,
        contact: &crate::domain::Contact,
    ) -> Result<(), ServiceError> {
        let at = contact.created_at;
        let id = EventId::derived(
            at,
            &[
                &account.to_string(),
                "contact.created",
                &contact.id.to_string(),
            ],
        );
        let data = serde_json::to_value(crate::views::contact::ContactView::from(contact.clone()))
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.raise(account, EventType::ContactCreated, id, at, data)
            .await
    }

    /// `contact.opted_out` / `contact.opted_in`: a change of whether the contact agreed to
    /// hear from the business (an opt-out recorded or lifted, consent given), from `before`
    /// to `after`.
    pub(crate) async fn raise_consent_change(
        &self,
        account: &AccountId,
        before: &crate::domain::Contact,
        after: &crate::domain::Contact,
    ) -> Result<(), ServiceError> {
        let agreed = |c: &crate::domain::Contact| c.consent.as_ref().is_some_and(|k| k.opted_in);
        let kind = match (&before.opt_out, &after.opt_out) {
            (None, Some(_)) => EventType::ContactOptedOut,
            (Some(_), None) => EventType::ContactOptedIn,
            _ if !agreed(before) && agreed(after) => EventType::ContactOptedIn,
            _ if agreed(before) && !agreed(after) => EventType::ContactOptedOut,
            _ => return Ok(()),
        };
        let at = after.updated_at;
        let id = EventId::derived(
            at,
            &[&account.to_string(), kind.as_str(), &after.id.to_string()],
        );
        let data = serde_json::to_value(crate::views::contact::ContactView::from(after.clone()))
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.raise(account, kind, id, at, data).await
    }

    /// `conversation.assigned`: who a contact's conversation is assigned to now (`null`:
    /// nobody), and who did it.
    pub(crate) async fn raise_assigned(
        &self,
        by: &Principal,
        contact: &crate::domain::ContactId,
        to: Option<&crate::domain::UserId>,
    ) -> Result<(), ServiceError> {
        let at = now();
        let data = serde_json::json!({
            "contact_id": contact.to_string(),
            "assignee": to.map(|u| u.to_string()),
            "assigned_by": by.actor.to_string(),
        });
        self.raise(
            &by.account_id,
            EventType::ConversationAssigned,
            EventId::random(at),
            at,
            data,
        )
        .await
    }

    /// `import.completed`: an import finished (`completed`, or `failed` with why), with its
    /// counts; the error report is at `GET /v1/contacts/imports/{id}`.
    pub(crate) async fn raise_import_finished(
        &self,
        account: &AccountId,
        import: &crate::domain::ImportId,
    ) -> Result<(), ServiceError> {
        let i = self.import(account, import).await?;
        let at = i.finished_at.unwrap_or_else(now);
        let id = EventId::derived(
            at,
            &[&account.to_string(), "import.completed", &i.id.to_string()],
        );
        let data = serde_json::json!({
            "import_id": i.id.to_string(),
            "status": i.status,
            "counts": i.counts,
            "failure": i.failure,
            "errors_truncated": i.errors_truncated,
        });
        self.raise(account, EventType::ImportCompleted, id, at, data)
            .await
    }

    /// `export.ready`: an export can be downloaded (`GET /v1/exports/{id}` gives the link).
    pub(crate) async fn raise_export_ready(
        &self,
        account: &AccountId,
        export: &crate::domain::ExportId,
        size: u64,
    ) -> Result<(), ServiceError> {
        let at = now();
        let id = EventId::derived(
            at,
            &[&account.to_string(), "export.ready", &export.to_string()],
        );
        let data = serde_json::json!({"export_id": export.to_string(), "size": size});
        self.raise(account, EventType::ExportReady, id, at, data)
            .await
    }

    /// `broadcast.completed` / `broadcast.paused`: the broadcast as the API shows it, with
    /// its counts (and, paused, why: by a caller, or by the sender for a number's quality).
    pub(crate) async fn raise_broadcast(
        &self,
        account: &AccountId,
        kind: EventType,
        b: &crate::domain::Broadcast,
    ) -> Result<(), ServiceError> {
        let at = now();
        // A completion happens once; pauses may repeat, each its own event.
        let id = match kind {
            EventType::BroadcastCompleted => EventId::derived(
                at,
                &[&account.to_string(), kind.as_str(), &b.id.to_string()],
            ),
            _ => EventId::random(at),
        };
        let data = serde_json::to_value(crate::views::broadcast::BroadcastView::from(b.clone()))
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.raise(account, kind, id, at, data).await
    }

    /// `template.status`: Meta's review or quality changed a template's status.
    pub(crate) async fn raise_template_status(
        &self,
        account: &AccountId,
        t: &crate::domain::Template,
        status: &crate::domain::TemplateStatus,
        reason: Option<&str>,
    ) -> Result<(), ServiceError> {
        let at = now();
        let data = serde_json::json!({
            "template_id": t.id.as_str(),
            "waba_id": t.waba_id.as_str(),
            "name": t.name.as_str(),
            "language": t.language.as_str(),
            "status": status.as_str(),
            "reason": reason,
        });
        self.raise(
            account,
            EventType::TemplateStatus,
            EventId::random(at),
            at,
            data,
        )
        .await
    }

    /// `number.sending_stopped`: a number stopped sending until its owner acts.
    pub(crate) async fn raise_sending_stopped(
        &self,
        account: &AccountId,
        number: &crate::domain::PhoneNumberId,
        stop: &crate::domain::SendingStopped,
    ) -> Result<(), ServiceError> {
        let data = serde_json::json!({
            "phone_number_id": number.as_str(),
            "code": stop.code,
            "reason": stop.reason,
            "resume_with": format!("PATCH /v1/numbers/{} with a new access_token", number.as_str()),
        });
        let id = EventId::random(stop.at);
        self.raise(account, EventType::NumberSendingStopped, id, stop.at, data)
            .await
    }

    /// `subscription.changed`: a payment event changed the account's subscription. Its id
    /// and time are the provider's event's, so one applied twice is the same event.
    pub(crate) async fn raise_subscription_changed(
        &self,
        account: &AccountId,
        provider_event: &crate::payments::PaymentEvent,
    ) -> Result<(), ServiceError> {
        // The plan and state only: the billing details (sealed) are not part of the event.
        let (b, _) = self.standing(account).await?;
        let at = records::from_secs(provider_event.created)?;
        let id = EventId::derived(
            at,
            &[
                &account.to_string(),
                "subscription.changed",
                &provider_event.id,
            ],
        );
        let data = serde_json::json!({
            "plan_id": b.plan.id,
            "subscription_state": b.state.map(|s| s.as_str()),
            "sending_allowed": b.sending_allowed,
        });
        self.raise(account, EventType::SubscriptionChanged, id, at, data)
            .await
    }

    /// The event types the account's enabled endpoints want (cached briefly).
    async fn subscriptions(
        &self,
        account: &AccountId,
    ) -> Result<BTreeSet<EventType>, ServiceError> {
        let key = account.to_string();
        if let Some(hit) = self.subscriptions.get(&key, |_| SUBSCRIPTIONS_TTL) {
            return Ok(hit);
        }
        let items = records::items(&*self.items, record::all(account))
            .try_collect::<Vec<_>>()
            .await?;
        let wanted: BTreeSet<EventType> = EventType::ALL
            .into_iter()
            .filter(|t| items.iter().any(|i| record::wants(i, *t)))
            .collect();
        self.subscriptions.put(&key, wanted.clone());
        Ok(wanted)
    }

    pub async fn create_endpoint(
        &self,
        by: &Principal,
        new: NewEndpoint,
    ) -> Result<(Endpoint, SigningSecret), ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        self.check_reach(&new.url)?;
        let account = &by.account_id;
        let existing = records::items(&*self.items, record::all(account))
            .try_collect::<Vec<_>>()
            .await?;
        if existing.len() >= MAX_ENDPOINTS {
            return Err(ServiceError::invalid(
                "url",
                &format!("an account has at most {MAX_ENDPOINTS} endpoints"),
            ));
        }
        let endpoint = Endpoint {
            id: EndpointId::generate(),
            url: new.url,
            description: new.description,
            events: new.events,
            disabled: None,
            previous_secret_until: None,
            created_at: now(),
        };
        let secret = SigningSecret::generate();
        let sealer = self.sealer(account, record::SEALED).await?;
        self.items
            .put(
                record::to_item(&sealer, &endpoint, &secret)?,
                Some(Condition::NotExists),
            )
            .await?;
        self.subscriptions.forget(&account.to_string());
        tracing::info!(account_id = %account, endpoint_id = %endpoint.id, "webhook endpoint created");
        self.audit(
            account,
            &by.actor,
            crate::domain::AuditAction::WebhookEndpointCreated,
            Some(crate::domain::AuditTarget::new(
                "webhook_endpoint",
                &endpoint.id,
            )),
        )
        .await?;
        Ok((endpoint, secret))
    }

    fn check_reach(&self, url: &EndpointUrl) -> Result<(), ServiceError> {
        match self.event_reach.refusal(url) {
            Some(why) => Err(ServiceError::invalid("url", why)),
            None => Ok(()),
        }
    }

    pub async fn endpoints(&self, by: &Principal) -> Result<Vec<Endpoint>, ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        let query = record::all(account).limit(MAX_ENDPOINTS as u32 + 1);
        let (list, _) = self
            .list_sealed(account, query, record::SEALED, record::from_item)
            .await?;
        Ok(list)
    }

    pub async fn endpoint(
        &self,
        by: &Principal,
        id: &EndpointId,
    ) -> Result<Endpoint, ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        self.found_sealed(
            account,
            &crate::table::endpoint(account, id),
            record::SEALED,
            record::from_item,
        )
        .await
    }

    pub async fn update_endpoint(
        &self,
        by: &Principal,
        id: &EndpointId,
        changes: EndpointChanges,
    ) -> Result<Endpoint, ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        if let Some(url) = &changes.url {
            self.check_reach(url)?;
        }
        let nothing = changes.url.is_none()
            && changes.description.is_none()
            && changes.events.is_none()
            && changes.enabled.is_none();
        if nothing {
            return self.endpoint(by, id).await;
        }
        let sealer = self.sealer(account, record::SEALED).await?;
        let update = record::change(
            &sealer,
            id,
            changes.url.as_ref(),
            changes.description.as_deref(),
            changes.events.as_ref(),
        )?;
        let update = match changes.enabled {
            Some(true) => update.remove("disabled"),
            Some(false) => update.set(
                "disabled",
                crate::ports::Value::S(DisabledReason::Manual.as_str().into()),
            ),
            None => update,
        };
        self.items.update(update).await.map_err(not_found)?;
        self.subscriptions.forget(&account.to_string());
        self.endpoint(by, id).await
    }

    /// Deletes an endpoint; its deliveries stay in the log until they expire.
    pub async fn delete_endpoint(
        &self,
        by: &Principal,
        id: &EndpointId,
    ) -> Result<(), ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        self.items
            .delete(
                &crate::table::endpoint(account, id),
                Some(Condition::Exists),
            )
            .await
            .map_err(not_found)?;
        self.subscriptions.forget(&account.to_string());
        tracing::info!(account_id = %account, endpoint_id = %id, "webhook endpoint deleted");
        self.audit(
            account,
            &by.actor,
            crate::domain::AuditAction::WebhookEndpointDeleted,
            Some(crate::domain::AuditTarget::new("webhook_endpoint", id)),
        )
        .await?;
        Ok(())
    }

    /// A new secret, shown once; the old one goes on signing for `overlap` (both signatures
    /// are sent meanwhile), so receivers can switch without losing an event.
    pub async fn rotate_endpoint_secret(
        &self,
        by: &Principal,
        id: &EndpointId,
        overlap: Duration,
    ) -> Result<SigningSecret, ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        if overlap > MAX_OVERLAP {
            return Err(ServiceError::invalid(
                "overlap_seconds",
                &format!("is at most {}", MAX_OVERLAP.as_secs()),
            ));
        }
        let account = &by.account_id;
        let item = self.found(&crate::table::endpoint(account, id)).await?;
        let sealer = self.sealer(account, 3).await?;
        let secret = SigningSecret::generate();
        let until = now() + overlap;
        self.items
            .update(record::rotate(&sealer, &item, &secret, until)?)
            .await
            .map_err(not_found)?;
        tracing::info!(account_id = %account, endpoint_id = %id, "webhook secret rotated");
        self.audit(
            account,
            &by.actor,
            crate::domain::AuditAction::WebhookSecretRotated,
            Some(crate::domain::AuditTarget::new("webhook_endpoint", id)),
        )
        .await?;
        Ok(secret)
    }

    /// Sends an `endpoint.test` event to one endpoint now (through the queue like any other).
    pub async fn test_endpoint(
        &self,
        by: &Principal,
        id: &EndpointId,
    ) -> Result<EventId, ServiceError> {
        let endpoint = self.endpoint(by, id).await?;
        let at = now();
        let event_id = EventId::random(at);
        let account = &by.account_id;
        let event = Event::new(
            event_id.clone(),
            EventType::EndpointTest,
            at,
            serde_json::json!({"endpoint_id": endpoint.id.to_string()}),
        );
        self.store_event(account, &event).await?;
        self.start_delivery(account, &endpoint.id, &event, at)
            .await?;
        Ok(event_id)
    }

    /// An endpoint's deliveries, newest event first.
    pub async fn deliveries(
        &self,
        by: &Principal,
        id: &EndpointId,
        limit: u32,
        cursor: Option<crate::ports::Cursor>,
    ) -> Result<(Vec<Delivery>, Option<crate::ports::Cursor>), ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        self.found(&crate::table::endpoint(account, id)).await?;
        let query = record::of(account, id).limit(limit).after(cursor);
        self.list_sealed(account, query, 20, record::delivery_from_item)
            .await
    }

    /// Delivers one event to one endpoint again, whatever became of it before.
    pub async fn replay_delivery(
        &self,
        by: &Principal,
        id: &EndpointId,
        event: &EventId,
    ) -> Result<(), ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        self.found(&crate::table::endpoint(account, id)).await?;
        let key = crate::table::delivery(account, id, event);
        let replayed = self
            .items
            .update(record::replayed(&key, now()))
            .await
            .map_err(not_found)?;
        let job = deliver_job(account, id, event, record::attempt_count(&replayed));
        self.enqueue(&job).await
    }

    /// Delivers again every failed delivery of the endpoint's events since `since`; returns
    /// how many.
    pub async fn replay_failed(
        &self,
        by: &Principal,
        id: &EndpointId,
        since: Timestamp,
    ) -> Result<u64, ServiceError> {
        by.require(Permission::ManageWebhooks)?;
        let account = &by.account_id;
        self.found(&crate::table::endpoint(account, id)).await?;
        let items = records::items(&*self.items, record::since(account, id, since))
            .try_collect::<Vec<_>>()
            .await?;
        let mut n = 0;
        for item in items
            .iter()
            .filter(|i| record::state_of(i) == Some(DeliveryState::Failed))
        {
            let Ok(delivery) = record::delivery_event(item) else {
                continue;
            };
            let replayed = self
                .items
                .update(record::replayed(&item.key, now()))
                .await?;
            let job = deliver_job(account, id, &delivery, record::attempt_count(&replayed));
            self.enqueue(&job).await?;
            n += 1;
        }
        Ok(n)
    }

    async fn store_event(&self, account: &AccountId, event: &Event) -> Result<(), ServiceError> {
        let sealer = self.sealer(account, 1).await?;
        let sealed = record::seal_data(&sealer, event)?;
        let expires = self.message_expiry(account, event.timestamp).await?;
        self.put_event(
            account,
            event.id.clone(),
            event.kind,
            event.timestamp,
            sealed,
            expires,
        )
        .await
    }

    /// Stores an event once: a second raise of the same cause finds it there.
    async fn put_event(
        &self,
        account: &AccountId,
        id: EventId,
        kind: EventType,
        at: Timestamp,
        sealed: Vec<u8>,
        expires: i64,
    ) -> Result<(), ServiceError> {
        let item = record::event_item(account, &id, kind, at, sealed, expires);
        match self.items.put(item, Some(Condition::NotExists)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts a delivery unless the endpoint has one for the event already.
    async fn start_delivery(
        &self,
        account: &AccountId,
        endpoint: &EndpointId,
        event: &Event,
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        let expires = self.message_expiry(account, event.timestamp).await?;
        let item = record::new_delivery(account, endpoint, event, at, expires);
        let job = deliver_job(account, endpoint, &event.id, 0);
        match self.items.put(item, Some(Condition::NotExists)).await {
            Ok(()) => self.enqueue(&job).await,
            Err(StoreError::ConditionFailed { .. }) => {
                // Made by an earlier run of this job that may have stopped before queueing
                // it: queued again while it has had no attempt (a second job finds it done).
                let key = crate::table::delivery(account, endpoint, &event.id);
                match self.items.get(&key).await? {
                    Some(d)
                        if record::state_of(&d) == Some(DeliveryState::Pending)
                            && record::attempt_count(&d) == 0 =>
                    {
                        self.enqueue(&job).await
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The job of a batch of raised events: each stored once, each endpoint that wants it
    /// given a delivery.
    pub(crate) async fn run_events(
        &self,
        account: &AccountId,
        events: &[QueuedEvent],
    ) -> Result<JobOutcome, ServiceError> {
        let endpoints = records::items(&*self.items, record::all(account))
            .try_collect::<Vec<_>>()
            .await?;
        for queued in events {
            let sealed = STANDARD
                .decode(&queued.data)
                .map_err(|e| ServiceError::Queue(format!("event data: {e}")))?;
            let at = records::from_millis(queued.at)?;
            let expires = self.message_expiry(account, at).await?;
            self.put_event(account, queued.id.clone(), queued.kind, at, sealed, expires)
                .await?;
            let event = Event::new(queued.id.clone(), queued.kind, at, serde_json::Value::Null);
            for e in endpoints.iter().filter(|e| record::wants(e, queued.kind)) {
                if let Some(id) = record::id_of(e) {
                    self.start_delivery(account, &id, &event, now()).await?;
                }
            }
        }
        Ok(JobOutcome::Done)
    }

    /// The job of one delivery: an attempt when it is due, else a further hop of waiting.
    /// `attempts`: how many attempts the delivery had when this job was queued; a job that
    /// finds more is a stale duplicate and stops, so one delivery has one chain of retries.
    pub(crate) async fn run_delivery(
        &self,
        account: &AccountId,
        endpoint: &EndpointId,
        event: &EventId,
        attempts: usize,
    ) -> Result<JobOutcome, ServiceError> {
        let keys = [
            crate::table::delivery(account, endpoint, event),
            crate::table::endpoint(account, endpoint),
            crate::table::event(account, event),
        ];
        let found = self.items.batch_get(&keys).await?;
        let [Some(delivery), endpoint_item, event_item] = [&found[0], &found[1], &found[2]] else {
            return Ok(JobOutcome::Done);
        };
        if record::state_of(delivery) != Some(DeliveryState::Pending)
            || record::attempt_count(delivery) != attempts
        {
            return Ok(JobOutcome::Done);
        }
        let this_job = deliver_job(account, endpoint, event, attempts);
        let (Some(endpoint_item), Some(event_item)) = (endpoint_item, event_item) else {
            // The endpoint was deleted, or the event expired: nothing to send any more.
            self.items.update(record::abandoned(&delivery.key)).await?;
            return Ok(JobOutcome::Done);
        };
        if endpoint_item.attrs.contains_key("disabled") {
            self.items.update(record::abandoned(&delivery.key)).await?;
            return Ok(JobOutcome::Done);
        }
        let at = now();
        if let Some(due) = record::next_at(delivery)? {
            if due > at {
                // SQS delays stop at 15 minutes: wait another hop.
                let wait = (due - at).unsigned_abs().min(MAX_DELAY);
                self.enqueue_delayed(&this_job, wait).await?;
                return Ok(JobOutcome::Done);
            }
        }
        // A failing endpoint rests: its deliveries wait, without an attempt, until one of them
        // (the probe) finds it answering again, so a dead endpoint holds one job slot at a
        // time, not one per delivery.
        let resting = record::resting_until(endpoint_item);
        if let Some(until) = resting {
            let now_ms = records::to_millis(at);
            let wait = if until > now_ms {
                let rest = Duration::from_millis((until - now_ms).unsigned_abs());
                Some(rest + rest.mul_f64(rand::random::<f64>() * 0.2))
            } else {
                let probe = record::take_probe(account, endpoint, now_ms, now_ms + CLAIM_MS);
                match self.items.update(probe).await {
                    Ok(_) => None,
                    // Another delivery's job probes: this one looks again shortly.
                    Err(StoreError::ConditionFailed { .. }) => Some(Duration::from_secs(1)),
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some(wait) = wait {
                self.enqueue_delayed(&this_job, wait.min(MAX_DELAY)).await?;
                return Ok(JobOutcome::Done);
            }
        }
        // One job sends. Another finding the attempt claimed looks again once the claim has
        // run out: by then the attempt is recorded (and it stops), or its job crashed (and it
        // takes over).
        let claim = record::claim(&delivery.key, at, at + CLAIM);
        match self.items.update(claim).await {
            Ok(_) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                self.enqueue_delayed(&this_job, CLAIM).await?;
                return Ok(JobOutcome::Done);
            }
            Err(e) => return Err(e.into()),
        }
        let sealer = self.sealer(account, 4).await?;
        let event_value = record::event_from_item(&sealer, event_item)?;
        let secrets = record::signing_secrets(&sealer, endpoint_item, at)?;
        let url = record::url_of(&sealer, endpoint_item)?;
        let attempt = self.attempt(&url, &event_value, &secrets).await;
        let failed_before = attempts as u32;
        let first_at = record::first_at(delivery)?;
        let (state, next_at, disable) = match attempt.status {
            Some(code) if (200..300).contains(&code) => (DeliveryState::Succeeded, None, None),
            Some(410) => (DeliveryState::Failed, None, Some(DisabledReason::Gone)),
            _ => {
                let next = at + backoff(self.event_first_retry, failed_before + 1);
                if next - first_at > RETRY_PERIOD {
                    (DeliveryState::Failed, None, Some(DisabledReason::Failing))
                } else {
                    (DeliveryState::Pending, Some(next), None)
                }
            }
        };
        self.items
            .update(record::attempted(
                &sealer,
                &delivery.key,
                &attempt,
                state,
                next_at,
            )?)
            .await?;
        tracing::info!(
            account_id = %account, endpoint_id = %endpoint, event_type = %event_value.kind,
            status = attempt.status, latency_ms = attempt.latency_ms, state = state.as_str(),
            "webhook delivery attempted"
        );
        crate::metrics::count("webhook_deliveries", 1, &[("result", state.as_str())]);
        if let Some(next) = next_at {
            let wait = (next - at).unsigned_abs().min(MAX_DELAY);
            let next_job = deliver_job(account, endpoint, event, attempts + 1);
            self.enqueue_delayed(&next_job, wait).await?;
        }
        match state {
            DeliveryState::Pending => {
                let failures = record::failures(endpoint_item) + 1;
                let until = at + backoff(self.event_first_retry, failures);
                let rest = record::rest(account, endpoint, failures, records::to_millis(until));
                ignore_gone(self.items.update(rest).await)?;
            }
            DeliveryState::Succeeded if resting.is_some() => {
                ignore_gone(
                    self.items
                        .update(record::recovered(account, endpoint))
                        .await,
                )?;
            }
            _ => {}
        }
        if let Some(why) = disable {
            self.disable_endpoint(account, endpoint, why).await?;
        }
        Ok(JobOutcome::Done)
    }

    /// One signed POST, its outcome as the log keeps it.
    async fn attempt(
        &self,
        url: &EndpointUrl,
        event: &Event,
        secrets: &[SigningSecret],
    ) -> Attempt {
        let at = now();
        let started = Instant::now();
        let body = event.body();
        let ts = at.unix_timestamp();
        let signing: Vec<&SigningSecret> = secrets.iter().collect();
        let client = self
            .event_client
            .get_or_init(|| crate::events::guard::client(self.event_reach).ok());
        let sent = match (self.event_reach.refusal(url), client) {
            (Some(why), _) => Err(why.to_owned()),
            (None, None) => Err("no HTTP client could be made".to_owned()),
            (None, Some(client)) => client
                .post(url.url().clone())
                .header("content-type", "application/json")
                .header(signature::ID_HEADER, event.id.as_str())
                .header(signature::TIMESTAMP_HEADER, ts.to_string())
                .header(
                    signature::SIGNATURE_HEADER,
                    signature::header(&signing, event.id.as_str(), ts, &body),
                )
                .body(body)
                .send()
                .await
                .map_err(|e| describe(&e)),
        };
        let (status, answer) = match sent {
            Ok(response) => {
                let code = response.status().as_u16();
                (Some(code), first_bytes(response).await)
            }
            Err(why) => (None, why),
        };
        Attempt {
            at,
            status,
            latency_ms: started.elapsed().as_millis() as u64,
            answer,
        }
    }

    async fn disable_endpoint(
        &self,
        account: &AccountId,
        endpoint: &EndpointId,
        why: DisabledReason,
    ) -> Result<(), ServiceError> {
        match self
            .items
            .update(record::disable(account, endpoint, why))
            .await
        {
            Ok(_) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.subscriptions.forget(&account.to_string());
        tracing::warn!(account_id = %account, endpoint_id = %endpoint, reason = why.as_str(), "webhook endpoint disabled");
        let n = Notice {
            id: crate::domain::ordered_ulid().to_string(),
            field: "webhook_endpoint".into(),
            event: Some("disabled".into()),
            number: None,
            payload: serde_json::json!({
                "endpoint_id": endpoint.to_string(),
                "reason": why.as_str(),
                "enable_with": format!("PATCH /v1/webhook-endpoints/{endpoint} {{\"enabled\": true}}"),
            }),
            received_at: now(),
            read_at: None,
        };
        let sealer = self.sealer(account, notice::SEALED).await?;
        let expires_at = now().unix_timestamp() + NOTICE_DAYS * 86_400;
        self.items
            .put(notice::to_item(&sealer, &n, Some(expires_at))?, None)
            .await?;
        Ok(())
    }

    async fn enqueue_delayed(&self, job: &Job, delay: Duration) -> Result<(), ServiceError> {
        let body = serde_json::to_string(job).map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.job_queue
            .send(OutgoingMessage::new(body).delayed(delay))
            .await
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        Ok(())
    }
}

fn deliver_job(
    account: &AccountId,
    endpoint: &EndpointId,
    event: &EventId,
    attempts: usize,
) -> Job {
    Job::Deliver {
        account_id: account.clone(),
        endpoint_id: endpoint.clone(),
        event_id: event.clone(),
        attempts: attempts as u32,
    }
}

fn not_found(e: StoreError) -> ServiceError {
    match e {
        StoreError::ConditionFailed { .. } => ServiceError::NotFound,
        e => e.into(),
    }
}

fn lock(o: &Outbox) -> std::sync::MutexGuard<'_, Vec<(AccountId, QueuedEvent)>> {
    o.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a request got no answer, without the URL (which may hold the receiver's token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within 10 s".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

/// An update of an endpoint deleted meanwhile is no failure of the delivery's.
fn ignore_gone<T>(r: Result<T, StoreError>) -> Result<(), ServiceError> {
    match r {
        Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The first [`ANSWER_BYTES`] of an answer's body, as text.
async fn first_bytes(mut response: reqwest::Response) -> String {
    let mut out = Vec::new();
    while out.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    out.truncate(ANSWER_BYTES);
    String::from_utf8_lossy(&out).into_owned()
}

/// The reach deliveries have, from the environment: `WHATATALK_WEBHOOKS_ALLOW_LOOPBACK=1`
/// lets the local runner call loopback receivers over `http`.
pub fn reach_from_env() -> Reach {
    match std::env::var("WHATATALK_WEBHOOKS_ALLOW_LOOPBACK").as_deref() {
        Ok("1") | Ok("true") => Reach::LOOPBACK,
        _ => Reach::PUBLIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_six_hours_with_a_fifth_of_jitter() {
        for (failed, base) in [(1u32, 30u64), (2, 60), (3, 120), (10, 15_360), (30, 21_600)] {
            let d = backoff(FIRST_RETRY, failed).as_secs_f64();
            assert!(
                d >= base as f64 && d <= base as f64 * 1.2 + 0.001,
                "{failed}: {d}"
            );
        }
        // About three days of tries.
        let mut total = Duration::ZERO;
        let mut n = 0;
        while total < RETRY_PERIOD {
            n += 1;
            total += backoff(FIRST_RETRY, n);
        }
        assert!((15..=25).contains(&n), "{n} attempts");
    }
}
