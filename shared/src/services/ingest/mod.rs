//! Webhook ingestion: a verified payload's events, routed to their tenant by the number (or
//! WABA) they concern and stored exactly once in effect. Meta retries anything not answered
//! 200 for 7 days, so every step is idempotent and a failure answers non-200 to get a retry.

mod dead_letters;
mod messages;
mod statuses;

use std::time::Duration;

use super::accounts::corrupt;
use super::{to_millis, App, ServiceError};
use crate::domain::{now, AccountId, PhoneNumberId};
use crate::ports::{Item, Value};
use crate::table;
use crate::webhook::{self, Event, NoticeChange};

pub use dead_letters::DeadLetter;
pub(crate) use dead_letters::DEAD_LETTER_DAYS;
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
                self.keep_dead_letter(None, &e.0, body).await?;
                report.dead_letters += 1;
                return Ok(report);
            }
        };
        for event in events {
            self.ingest_event(event, &mut report).await?;
        }
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
                let body = serde_json::to_vec(&serde_json::json!({"field": field, "value": value}))
                    .map_err(|e| ServiceError::Blob(e.to_string()))?;
                self.keep_dead_letter(Some(&field), &error, &body).await?;
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
        let cache_key = format!("waba:{waba_id}");
        if let Some(hit) = self.routes.get(&cache_key, route_ttl) {
            return Ok(hit);
        }
        let route = match self.items.get(&table::waba_route(waba_id)).await? {
            Some(item) => Some(item.s("account_id")?.parse().map_err(corrupt)?),
            None => None,
        };
        self.routes.put(&cache_key, route.clone());
        Ok(route)
    }

    /// Keeps a WABA-level notice (template status, account or quality update, webhook error)
    /// for the account, its content sealed.
    async fn keep_notice(
        &self,
        account: &AccountId,
        number: Option<&PhoneNumberId>,
        notice: &NoticeChange,
    ) -> Result<(), ServiceError> {
        let id = crate::domain::ordered_ulid().to_string();
        let key = table::notice(account, &id);
        let payload = notice.value.to_string();
        let mut item = Item::new(key.clone())
            .with("field", Value::S(notice.field.clone()))
            .with(
                "payload",
                self.seal(account, "notice", &key, "payload", &payload)
                    .await?,
            )
            .with("received_at", Value::N(to_millis(now())))
            .expiring_at(now().unix_timestamp() + NOTICE_DAYS * 86_400);
        if let Some(e) = &notice.event {
            item = item.with("event", Value::S(e.clone()));
        }
        if let Some(n) = number {
            item = item.with("number", Value::S(n.to_string()));
        }
        self.items.put(item, None).await?;
        tracing::info!(account_id = %account, field = %notice.field, event = ?notice.event, "webhook notice kept");
        Ok(())
    }
}

/// How long notices are kept.
pub(crate) const NOTICE_DAYS: i64 = 90;

/// A notice from Meta about the account, its numbers or templates, as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub id: String,
    /// The webhook field (`message_template_status_update`, `account_update`,
    /// `phone_number_quality_update`) or `errors`.
    pub field: String,
    pub event: Option<String>,
    pub number: Option<PhoneNumberId>,
    /// The change's value as Meta sent it.
    pub payload: serde_json::Value,
    pub received_at: crate::domain::Timestamp,
    pub read_at: Option<crate::domain::Timestamp>,
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
        let page = self
            .items
            .query(
                crate::ports::Query::partition(table::account_partition(account))
                    .begins_with(table::NOTICE_PREFIX)
                    .backward()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let payload = self.open(account, "notice", item, "payload").await?;
            out.push(Notice {
                id: item
                    .key
                    .sk
                    .trim_start_matches(table::NOTICE_PREFIX)
                    .to_owned(),
                field: item.s("field")?.to_owned(),
                event: item.opt_s("event").map(str::to_owned),
                number: item
                    .opt_s("number")
                    .map(PhoneNumberId::parse)
                    .transpose()
                    .map_err(corrupt)?,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| crate::ports::StoreError::Corrupt(e.to_string()))?,
                received_at: super::from_millis(item.n("received_at")?)?,
                read_at: item.opt_n("read_at").map(super::from_millis).transpose()?,
            });
        }
        Ok((out, page.next))
    }
}

/// A JSON value from Meta (pricing, conversation) as a stored value.
pub(crate) fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n.as_i64().map_or_else(|| Value::S(n.to_string()), Value::N),
        J::String(s) => Value::S(s.clone()),
        J::Array(a) => Value::L(a.iter().map(json_value).collect()),
        J::Object(o) => Value::M(o.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()),
    }
}

/// A stored value back as JSON.
pub(crate) fn value_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null | Value::B(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::N(n) => J::from(*n),
        Value::S(s) => J::String(s.clone()),
        Value::L(l) => J::Array(l.iter().map(value_json).collect()),
        Value::M(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), value_json(v))).collect()),
    }
}
