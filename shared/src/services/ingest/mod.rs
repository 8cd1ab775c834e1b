//! Webhook ingestion: a verified payload's events, routed to their tenant by the number (or
//! WABA) they concern and stored exactly once in effect. Meta retries anything not answered
//! 200 for 7 days, so every step is idempotent and a failure answers non-200 to get a retry.

mod dead_letters;
mod messages;
mod statuses;

use std::time::Duration;

use super::{App, ServiceError};
use crate::domain::{now, AccountId, Notice, PhoneNumberId, WabaId, NOTICE_DAYS};
use crate::ports::StoreError;
use crate::records::{notice, number};
use crate::webhook::{self, Event, NoticeChange};

pub(crate) use statuses::STOPPED_MARKETING_REASON;

/// What became of one message or status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ingested {
    Stored,
    /// Seen before: nothing changed.
    Duplicate,
    /// A status kept until its message's wamid is recorded.
    Pending,
    /// Not ours to track (a status kind we do not know, an erased message).
    Ignored,
}

/// Counts of one payload's ingestion, for the log line and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    pub messages: u32,
    pub statuses: u32,
    pub duplicates: u32,
    /// Statuses waiting for their message.
    pub pending: u32,
    pub preferences: u32,
    pub notices: u32,
    /// Changes of fields we do not ingest, and statuses we do not track.
    pub ignored: u32,
    /// Changes for numbers (or WABAs) no tenant has connected.
    pub unknown_number: u32,
    pub dead_letters: u32,
}

impl IngestReport {
    fn count(&mut self, what: Ingested, stored: fn(&mut Self) -> &mut u32) {
        match what {
            Ingested::Stored => *stored(self) += 1,
            Ingested::Duplicate => self.duplicates += 1,
            Ingested::Pending => self.pending += 1,
            Ingested::Ignored => self.ignored += 1,
        }
    }
}

/// How long a route is trusted; a number moved to another tenant may reach the old one for
/// this long on instances that served it.
const ROUTE_TTL: Duration = Duration::from_secs(30);
/// Unknown numbers are asked again sooner: a number just connected should start at once.
const UNKNOWN_ROUTE_TTL: Duration = Duration::from_secs(5);

/// Number → tenant answers: every webhook needs one, and they change only when a number is
/// connected or disconnected.
pub(crate) type RouteCache = super::recent::Recent<Option<AccountId>>;

fn route_ttl(route: &Option<AccountId>) -> Duration {
    if route.is_some() {
        ROUTE_TTL
    } else {
        UNKNOWN_ROUTE_TTL
    }
}

impl App {
    /// Ingests a payload whose signature was verified. `Ok` means it is durably accepted
    /// (including as a dead letter); `Err` asks Meta to deliver it again.
    pub async fn ingest_webhook(&self, body: &[u8]) -> Result<IngestReport, ServiceError> {
        let mut report = IngestReport::default();
        let events = match webhook::parse(body) {
            Ok(events) => events,
            Err(e) => {
                let tenant = match serde_json::from_slice(body) {
                    Ok(value) => self.tenant_named_in(&value).await?,
                    Err(_) => None,
                };
                self.keep_dead_letter(None, &e.0, body, tenant.as_ref())
                    .await?;
                report.dead_letters += 1;
                return Ok(report);
            }
        };
        // The business's own events go out as one job per account for the whole payload.
        self.collecting_events(async {
            for event in events {
                self.ingest_event(event, &mut report).await?;
            }
            Ok(())
        })
        .await?;
        Ok(report)
    }

    async fn ingest_event(
        &self,
        event: Event,
        report: &mut IngestReport,
    ) -> Result<(), ServiceError> {
        match event {
            Event::Messages(value) => {
                let Some(account) = self.route(&value.metadata.phone_number_id).await? else {
                    report.unknown_number += 1;
                    return Ok(());
                };
                let number = PhoneNumberId::parse(&value.metadata.phone_number_id)
                    .map_err(|e| ServiceError::invalid("phone_number_id", &e.0))?;
                for message in &value.messages {
                    let what = self
                        .ingest_message(&account, &number, &value.contacts, message)
                        .await?;
                    report.count(what, |r| &mut r.messages);
                }
                for status in &value.statuses {
                    self.meter_status(&account, &number, status).await?;
                    let what = self.ingest_status(&account, status).await?;
                    report.count(what, |r| &mut r.statuses);
                }
                for error in &value.errors {
                    let notice = NoticeChange {
                        field: "errors".into(),
                        waba_id: String::new(),
                        event: error
                            .get("code")
                            .and_then(serde_json::Value::as_i64)
                            .map(|c| c.to_string()),
                        value: error.clone(),
                    };
                    self.keep_notice(&account, Some(&number), &notice).await?;
                    report.notices += 1;
                }
            }
            Event::UserPreferences(value) => {
                let Some(account) = self.route(&value.metadata.phone_number_id).await? else {
                    report.unknown_number += 1;
                    return Ok(());
                };
                for preference in &value.preferences {
                    self.ingest_preference(&account, &value.contacts, preference)
                        .await?;
                    report.preferences += 1;
                }
            }
            Event::Notice(notice) => {
                let Some(account) = self.waba_route(&notice.waba_id).await? else {
                    report.unknown_number += 1;
                    return Ok(());
                };
                if webhook::TEMPLATE_FIELDS.contains(&notice.field.as_str()) {
                    self.apply_template_notice(&account, &notice).await?;
                }
                if notice.field == "business_capability_update" {
                    self.apply_messaging_limit(&notice).await?;
                }
                if notice.event.as_deref() == Some("VOLUME_BASED_PRICING_TIER_UPDATE") {
                    self.apply_volume_tier(&account, &notice.value).await?;
                }
                self.keep_notice(&account, None, &notice).await?;
                report.notices += 1;
            }
            Event::Ignored { field } => {
                tracing::info!(field = %field, metric = "webhook_field_ignored", "webhook field ignored");
                crate::metrics::count("webhook_fields_ignored", 1, &[("field", field.as_str())]);
                report.ignored += 1;
            }
            Event::Malformed {
                field,
                error,
                value,
            } => {
                let content = serde_json::json!({"field": field, "value": value});
                let body =
                    serde_json::to_vec(&content).map_err(|e| ServiceError::Blob(e.to_string()))?;
                let tenant = self.tenant_named_in(&content).await?;
                self.keep_dead_letter(Some(&field), &error, &body, tenant.as_ref())
                    .await?;
                report.dead_letters += 1;
            }
        }
        Ok(())
    }

    /// The tenant a number's webhooks belong to (cached briefly).
    async fn route(&self, phone_number_id: &str) -> Result<Option<AccountId>, ServiceError> {
        if let Some(hit) = self.routes.get(phone_number_id, route_ttl) {
            return Ok(hit);
        }
        let route = match PhoneNumberId::parse(phone_number_id) {
            Ok(id) => self.route_number(&id).await?,
            Err(_) => None,
        };
        self.routes.put(phone_number_id, route.clone());
        Ok(route)
    }

    /// The tenant that last connected a number of this WABA.
    async fn waba_route(&self, waba_id: &str) -> Result<Option<AccountId>, ServiceError> {
        if waba_id.is_empty() {
            return Ok(None);
        }
        let cache_key = waba_cache_key(waba_id);
        if let Some(hit) = self.routes.get(&cache_key, route_ttl) {
            return Ok(hit);
        }
        let route = match self.items.get(&crate::table::waba_route(waba_id)).await? {
            Some(item) => Some(number::route_target(&item)?),
            None => None,
        };
        self.routes.put(&cache_key, route.clone());
        Ok(route)
    }

    /// Records the WABA's messaging limit from a `business_capability_update`.
    async fn apply_messaging_limit(&self, notice: &NoticeChange) -> Result<(), ServiceError> {
        let (Some(limit), Ok(waba)) = (
            webhook::messaging_limit(&notice.value),
            WabaId::parse(&notice.waba_id),
        ) else {
            return Ok(());
        };
        match self
            .items
            .update(number::set_messaging_limit(&waba, limit))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps a WABA-level notice (template status, account or quality update, webhook error)
    /// for the account, its content sealed.
    async fn keep_notice(
        &self,
        account: &AccountId,
        number: Option<&PhoneNumberId>,
        change: &NoticeChange,
    ) -> Result<(), ServiceError> {
        let n = Notice {
            id: crate::domain::ordered_ulid().to_string(),
            field: change.field.clone(),
            event: change.event.clone(),
            number: number.cloned(),
            payload: change.value.clone(),
            received_at: now(),
            read_at: None,
        };
        let sealer = self.sealer(account, notice::SEALED).await?;
        let expires_at = now().unix_timestamp() + NOTICE_DAYS * 86_400;
        self.items
            .put(notice::to_item(&sealer, &n, Some(expires_at))?, None)
            .await?;
        tracing::info!(account_id = %account, field = %change.field, event = ?change.event, "webhook notice kept");
        Ok(())
    }

    /// Forgets what this instance remembers of a number's (and its WABA's) tenant, after a
    /// change here; other instances learn within the route's lifetime.
    pub(crate) fn forget_routes(&self, number: &PhoneNumberId, waba: Option<&WabaId>) {
        self.routes.forget(number.as_str());
        if let Some(w) = waba {
            self.routes.forget(&waba_cache_key(w.as_str()));
        }
    }
}

fn waba_cache_key(waba_id: &str) -> String {
    format!("waba:{waba_id}")
}

impl App {
    /// Notices, newest first.
    pub async fn notices(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<crate::ports::Cursor>,
    ) -> Result<(Vec<Notice>, Option<crate::ports::Cursor>), ServiceError> {
        if cursor.is_none() {
            self.ensure_policy_notice(account).await?;
        }
        let query = notice::all(account).backward().limit(limit).after(cursor);
        self.list_sealed(account, query, notice::SEALED, notice::from_item)
            .await
    }
}
