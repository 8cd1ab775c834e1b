//! Webhook endpoints, the events raised for them and each endpoint's deliveries.
//!
//! - `ENDPOINT#{id}`: the URL and description (sealed: a URL may hold a token of the
//!   receiver's), the event types, whether it is disabled and why, the signing secret and,
//!   during a rotation, the previous one with its end (both sealed).
//! - `EVENT#{event}`: the event's type, time and data (sealed), kept for the retention period
//!   so a delivery can be replayed.
//! - `DELIVERY#{endpoint}#{event}`: one event to one endpoint: its state, when it was first
//!   tried, when the next try is due, and every attempt (time, status code, latency, the first
//!   bytes of the answer, sealed), kept as long as the event.

use std::collections::BTreeMap;

use super::{from_millis, opt_millis, to_millis, RecordError, Sealer};
use crate::domain::{
    AccountId, DisabledReason, Endpoint, EndpointId, EndpointUrl, EventId, EventType, EventTypes,
    Timestamp,
};
use crate::events::signature::SigningSecret;
use crate::events::Event;
use crate::ports::{Condition, Item, Key, Query, Update, Value};
use crate::table;

const ENDPOINT: &str = "endpoint";
const EVENT: &str = "event";
const DELIVERY: &str = "delivery";
/// Sealed fields read or written with one endpoint: URL, description, two secrets.
pub const SEALED: u64 = 4;

/// A new endpoint, written only if absent.
pub fn to_item(
    s: &Sealer,
    endpoint: &Endpoint,
    secret: &SigningSecret,
) -> Result<Item, RecordError> {
    let key = table::endpoint(s.tenant(), &endpoint.id);
    Ok(Item::new(key.clone())
        .with(
            "url",
            s.seal_str(ENDPOINT, &key, "url", endpoint.url.as_str())?,
        )
        .with(
            "description",
            s.seal_str(ENDPOINT, &key, "description", &endpoint.description)?,
        )
        .with("events", events_value(&endpoint.events))
        .with(
            "secret",
            s.seal_str(ENDPOINT, &key, "secret", secret.expose())?,
        )
        .with("created_at", Value::N(to_millis(endpoint.created_at))))
}

fn events_value(events: &EventTypes) -> Value {
    Value::L(events.iter().map(|t| Value::S(t.as_str().into())).collect())
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<Endpoint, RecordError> {
    let id = item
        .key
        .sk
        .strip_prefix(table::ENDPOINT_PREFIX)
        .unwrap_or_default()
        .parse()?;
    let names: Vec<&str> = match item.attrs.get("events") {
        Some(Value::L(l)) => l
            .iter()
            .filter_map(|v| match v {
                Value::S(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Endpoint {
        id,
        url: EndpointUrl::parse(&s.open(ENDPOINT, item, "url")?)?,
        description: s.open(ENDPOINT, item, "description")?,
        events: EventTypes::parse(names)?,
        disabled: item.opt_s("disabled").and_then(DisabledReason::parse),
        previous_secret_until: opt_millis(item, "previous_until")?,
        created_at: from_millis(item.n("created_at")?)?,
    })
}

/// Whether the endpoint gets events of type `t` now, from its item alone (no keys needed).
pub fn wants(item: &Item, t: EventType) -> bool {
    if item.attrs.contains_key("disabled") {
        return false;
    }
    t == EventType::EndpointTest
        || matches!(item.attrs.get("events"), Some(Value::L(l))
            if l.iter().any(|v| matches!(v, Value::S(s) if s == t.as_str())))
}

/// The secrets that sign now: the current one, and the previous one until its end.
pub fn signing_secrets(
    s: &Sealer,
    item: &Item,
    now: Timestamp,
) -> Result<Vec<SigningSecret>, RecordError> {
    let mut out = vec![SigningSecret::parse(&s.open(ENDPOINT, item, "secret")?)?];
    let overlapping = opt_millis(item, "previous_until")?.is_some_and(|until| now < until);
    if overlapping {
        if let Some(previous) = s.open_optional(ENDPOINT, item, "previous_secret")? {
            out.push(SigningSecret::parse(&previous)?);
        }
    }
    Ok(out)
}

pub fn id_of(item: &Item) -> Option<EndpointId> {
    item.key
        .sk
        .strip_prefix(table::ENDPOINT_PREFIX)?
        .parse()
        .ok()
}

/// The account's endpoints, in the order they were made.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::ENDPOINT_PREFIX)
}

fn existing(account: &AccountId, id: &EndpointId) -> Update {
    Update::new(table::endpoint(account, id)).when(Condition::Exists)
}

/// Changes what an endpoint is: its URL, description, event types (each when given).
pub fn change(
    s: &Sealer,
    id: &EndpointId,
    url: Option<&EndpointUrl>,
    description: Option<&str>,
    events: Option<&EventTypes>,
) -> Result<Update, RecordError> {
    let key = table::endpoint(s.tenant(), id);
    let mut u = existing(s.tenant(), id);
    if let Some(url) = url {
        u = u.set("url", s.seal_str(ENDPOINT, &key, "url", url.as_str())?);
    }
    if let Some(d) = description {
        u = u.set("description", s.seal_str(ENDPOINT, &key, "description", d)?);
    }
    if let Some(e) = events {
        u = u.set("events", events_value(e));
    }
    Ok(u)
}

/// Stops an endpoint's deliveries, saying why.
pub fn disable(account: &AccountId, id: &EndpointId, why: DisabledReason) -> Update {
    existing(account, id).set("disabled", Value::S(why.as_str().into()))
}

/// Lets an endpoint get events again, its failing streak forgotten.
pub fn enable(account: &AccountId, id: &EndpointId) -> Update {
    existing(account, id)
        .remove("disabled")
        .remove(RESTING_UNTIL)
        .remove(FAILURES)
        .remove(PROBING_UNTIL)
}

/// Until when (epoch ms) a failing endpoint rests: its deliveries wait without an attempt,
/// but one, the probe, once the rest is over.
const RESTING_UNTIL: &str = "resting_until";
/// Failed attempts in a row, which set the length of the next rest.
const FAILURES: &str = "failures";
/// Until when (epoch ms) the probe's job holds it; others look again shortly meanwhile.
const PROBING_UNTIL: &str = "probing_until";

pub fn resting_until(item: &Item) -> Option<i64> {
    item.opt_n(RESTING_UNTIL)
}

pub fn failures(item: &Item) -> u32 {
    item.opt_n(FAILURES)
        .map_or(0, |n| n.clamp(0, u32::MAX as i64) as u32)
}

/// Makes this delivery the probe of an endpoint whose rest is over at `now_ms`, for its job
/// until `until_ms`, unless another delivery's job is probing it.
pub fn take_probe(account: &AccountId, id: &EndpointId, now_ms: i64, until_ms: i64) -> Update {
    Update::new(table::endpoint(account, id))
        .set(PROBING_UNTIL, Value::N(until_ms))
        .when(Condition::And(vec![
            Condition::LessThan(RESTING_UNTIL.into(), Value::N(now_ms + 1)),
            Condition::Or(vec![
                Condition::AttributeNotExists(PROBING_UNTIL.into()),
                Condition::LessThan(PROBING_UNTIL.into(), Value::N(now_ms)),
            ]),
        ]))
}

/// A failed attempt: the endpoint rests until `until_ms`.
pub fn rest(account: &AccountId, id: &EndpointId, failures: u32, until_ms: i64) -> Update {
    existing(account, id)
        .set(RESTING_UNTIL, Value::N(until_ms))
        .set(FAILURES, Value::N(i64::from(failures)))
        .remove(PROBING_UNTIL)
}

/// A delivered attempt after failures: the endpoint takes every delivery again.
pub fn recovered(account: &AccountId, id: &EndpointId) -> Update {
    existing(account, id)
        .remove(RESTING_UNTIL)
        .remove(FAILURES)
        .remove(PROBING_UNTIL)
}

/// A new secret signs from now; the current one goes on signing until `until`.
pub fn rotate(
    s: &Sealer,
    item: &Item,
    new: &SigningSecret,
    until: Timestamp,
) -> Result<Update, RecordError> {
    let current = s.open(ENDPOINT, item, "secret")?;
    let key = item.key.clone();
    Ok(Update::new(key.clone())
        .when(Condition::Exists)
        .set(
            "secret",
            s.seal_str(ENDPOINT, &key, "secret", new.expose())?,
        )
        .set(
            "previous_secret",
            s.seal_str(ENDPOINT, &key, "previous_secret", &current)?,
        )
        .set("previous_until", Value::N(to_millis(until))))
}

/// An event's data sealed for its own item (the queue carries it so, never in clear).
pub fn seal_data(s: &Sealer, event: &Event) -> Result<Vec<u8>, RecordError> {
    let key = table::event(s.tenant(), &event.id);
    let data = serde_json::to_vec(&event.data).map_err(|e| super::corrupt(e.to_string()))?;
    s.seal_bytes(EVENT, &key, "data", &data)
}

/// An event as stored for its deliveries (its data sealed by [`seal_data`]).
pub fn event_item(
    account: &AccountId,
    id: &EventId,
    kind: EventType,
    at: Timestamp,
    sealed: Vec<u8>,
    expires_at: i64,
) -> Item {
    Item::new(table::event(account, id))
        .with("type", Value::S(kind.as_str().into()))
        .with("at", Value::N(to_millis(at)))
        .with("data", Value::B(sealed))
        .expiring_at(expires_at)
}

pub fn event_from_item(s: &Sealer, item: &Item) -> Result<Event, RecordError> {
    let id: EventId = item
        .key
        .sk
        .strip_prefix(table::EVENT_PREFIX)
        .unwrap_or_default()
        .parse()?;
    let data = s.open_bytes(EVENT, &item.key, "data", item.b("data")?)?;
    Ok(Event {
        id,
        kind: EventType::parse(item.s("type")?)?,
        timestamp: from_millis(item.n("at")?)?,
        data: serde_json::from_slice(&data).map_err(|e| super::corrupt(e.to_string()))?,
    })
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Succeeded,
    /// Given up: the endpoint answered 410, failed for the whole retry period, or went.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One try at delivering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub at: Timestamp,
    /// The answer's status code; `None` when there was no answer (refused, timed out).
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The answer's first bytes, or why there was none.
    pub answer: String,
}

/// A delivery as the log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub state: DeliveryState,
    pub first_at: Timestamp,
    pub next_at: Option<Timestamp>,
    pub attempts: Vec<Attempt>,
}

/// A new delivery, pending, written only if the endpoint has none for this event.
pub fn new_delivery(
    account: &AccountId,
    endpoint: &EndpointId,
    event: &Event,
    at: Timestamp,
    expires_at: i64,
) -> Item {
    Item::new(table::delivery(account, endpoint, &event.id))
        .with("state", Value::S(DeliveryState::Pending.as_str().into()))
        .with("type", Value::S(event.kind.as_str().into()))
        .with("first_at", Value::N(to_millis(at)))
        .with("next_at", Value::N(to_millis(at)))
        .with("attempts", Value::L(Vec::new()))
        .expiring_at(expires_at)
}

/// Records an attempt and what follows: the next try at `next_at`, or the final `state`.
pub fn attempted(
    s: &Sealer,
    key: &Key,
    attempt: &Attempt,
    state: DeliveryState,
    next_at: Option<Timestamp>,
) -> Result<Update, RecordError> {
    let mut m = BTreeMap::new();
    m.insert("at".to_owned(), Value::N(to_millis(attempt.at)));
    if let Some(code) = attempt.status {
        m.insert("status".to_owned(), Value::N(i64::from(code)));
    }
    m.insert("ms".to_owned(), Value::N(attempt.latency_ms as i64));
    m.insert(
        "answer".to_owned(),
        s.seal_str(DELIVERY, key, "answer", &attempt.answer)?,
    );
    let mut u = Update::new(key.clone())
        .when(Condition::Exists)
        .append("attempts", Value::M(m))
        .remove("claimed_until")
        .set("state", Value::S(state.as_str().into()));
    u = match next_at {
        Some(t) => u.set("next_at", Value::N(to_millis(t))),
        None => u.remove("next_at"),
    };
    Ok(u)
}

/// Takes a pending delivery's next attempt for one job until `until`: two jobs for the same
/// delivery (a queue's redelivery, a raise repeated by its cause) never both send.
pub fn claim(key: &Key, now: Timestamp, until: Timestamp) -> Update {
    Update::new(key.clone())
        .when(Condition::And(vec![
            Condition::Equals(
                "state".into(),
                Value::S(DeliveryState::Pending.as_str().into()),
            ),
            Condition::Or(vec![
                Condition::AttributeNotExists("claimed_until".into()),
                Condition::LessThan("claimed_until".into(), Value::N(to_millis(now))),
            ]),
        ]))
        .set("claimed_until", Value::N(to_millis(until)))
}

/// Starts a delivery over (a replay): pending again, due now, its first try now.
pub fn replayed(key: &Key, at: Timestamp) -> Update {
    Update::new(key.clone())
        .when(Condition::Exists)
        .remove("claimed_until")
        .set("state", Value::S(DeliveryState::Pending.as_str().into()))
        .set("first_at", Value::N(to_millis(at)))
        .set("next_at", Value::N(to_millis(at)))
}

/// Gives a delivery up without an attempt (its endpoint went or was disabled).
pub fn abandoned(key: &Key) -> Update {
    Update::new(key.clone())
        .when(Condition::Exists)
        .set("state", Value::S(DeliveryState::Failed.as_str().into()))
        .remove("next_at")
}

pub fn delivery_from_item(s: &Sealer, item: &Item) -> Result<Delivery, RecordError> {
    let rest = item
        .key
        .sk
        .strip_prefix(table::DELIVERY_PREFIX)
        .unwrap_or_default();
    let (endpoint, event) = rest.split_once('#').unwrap_or_default();
    let attempts = match item.attrs.get("attempts") {
        Some(Value::L(l)) => l
            .iter()
            .filter_map(|v| match v {
                Value::M(m) => Some(m),
                _ => None,
            })
            .map(|m| {
                let n = |k: &str| match m.get(k) {
                    Some(Value::N(n)) => Some(*n),
                    _ => None,
                };
                let answer = match m.get("answer") {
                    Some(Value::B(b)) => {
                        String::from_utf8_lossy(&s.open_bytes(DELIVERY, &item.key, "answer", b)?)
                            .into_owned()
                    }
                    _ => String::new(),
                };
                Ok(Attempt {
                    at: from_millis(n("at").unwrap_or(0))?,
                    status: n("status").map(|c| c.clamp(0, 999) as u16),
                    latency_ms: n("ms").unwrap_or(0).max(0) as u64,
                    answer,
                })
            })
            .collect::<Result<Vec<_>, RecordError>>()?,
        _ => Vec::new(),
    };
    Ok(Delivery {
        endpoint_id: endpoint.parse()?,
        event_id: event.parse()?,
        event_type: EventType::parse(item.s("type")?)?,
        state: DeliveryState::parse(item.s("state")?)
            .ok_or_else(|| super::corrupt("delivery state"))?,
        first_at: from_millis(item.n("first_at")?)?,
        next_at: opt_millis(item, "next_at")?,
        attempts,
    })
}

/// An endpoint's deliveries, newest event first.
pub fn of(account: &AccountId, endpoint: &EndpointId) -> Query {
    Query::partition(table::account_partition(account))
        .begins_with(table::deliveries(endpoint))
        .backward()
}

/// An endpoint's deliveries of events at `since` or later, oldest first.
pub fn since(account: &AccountId, endpoint: &EndpointId, since: Timestamp) -> Query {
    let prefix = table::deliveries(endpoint);
    // `~` sorts after every id's hex digits.
    Query::partition(table::account_partition(account)).sort(crate::ports::SortCondition::Between(
        format!("{prefix}{}", EventId::first_at(since)),
        format!("{prefix}~"),
    ))
}

/// The event a delivery item is for.
pub fn delivery_event(item: &Item) -> Result<EventId, RecordError> {
    let rest = item.key.sk.rsplit('#').next().unwrap_or_default();
    Ok(rest.parse()?)
}

/// When a pending delivery's next attempt is due.
pub fn next_at(item: &Item) -> Result<Option<Timestamp>, RecordError> {
    Ok(opt_millis(item, "next_at")?)
}

/// How many attempts a delivery has had.
pub fn attempt_count(item: &Item) -> usize {
    match item.attrs.get("attempts") {
        Some(Value::L(l)) => l.len(),
        _ => 0,
    }
}

/// An endpoint item's URL.
pub fn url_of(s: &Sealer, item: &Item) -> Result<EndpointUrl, RecordError> {
    Ok(EndpointUrl::parse(&s.open(ENDPOINT, item, "url")?)?)
}

/// The account's events from before `before` (their ids sort by time), expired ones too.
pub fn events_before(account: &AccountId, before: Timestamp) -> Query {
    Query::partition(table::account_partition(account))
        .sort(crate::ports::SortCondition::Between(
            table::EVENT_PREFIX.to_owned(),
            table::event(account, &EventId::first_at(before)).sk,
        ))
        .including_expired()
}

/// An endpoint's deliveries of events from before `before`, expired ones too.
pub fn deliveries_before(account: &AccountId, endpoint: &EndpointId, before: Timestamp) -> Query {
    Query::partition(table::account_partition(account))
        .sort(crate::ports::SortCondition::Between(
            table::deliveries(endpoint),
            table::delivery(account, endpoint, &EventId::first_at(before)).sk,
        ))
        .including_expired()
}

/// The state a delivery item is in, without opening anything.
pub fn state_of(item: &Item) -> Option<DeliveryState> {
    item.opt_s("state").and_then(DeliveryState::parse)
}

/// When the delivery item's first attempt was made (its retry period counts from then).
pub fn first_at(item: &Item) -> Result<Timestamp, RecordError> {
    Ok(from_millis(item.n("first_at")?)?)
}
