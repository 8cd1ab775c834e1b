//! Broadcasts: the broadcast item (status, the fan-out's place), its definition (template,
//! personalization, audience) in an item of its own, its counters spread over shards, one
//! target marker per contact it decided, and the schedule of broadcasts due later.
//!
//! The counters change with every message (at fan-out, at its outcome, at each status):
//! four writes a message would put one broadcast sending at 250 messages a second at
//! DynamoDB's 1,000 writes a second per item, so each message counts in one of
//! [`table::BROADCAST_COUNT_SHARDS`] items picked from its id, and reads add them up. The
//! definition is apart because DynamoDB bills a write by the whole item's size: a template
//! with parameters is over 1 KB, and a listed audience of 10,000 contacts 300 KB. Broadcasts
//! stored before either change hold their counters (or definition) in the broadcast item:
//! they add up with the shards'.

use std::collections::BTreeMap;

use super::{
    corrupt, from_json, from_millis, id_after, opt_millis, string_list, strings, to_json,
    to_millis, RecordError,
};
use crate::domain::{
    AccountId, Audience, Broadcast, BroadcastCounts, BroadcastId, BroadcastStatus, ContactField,
    ContactId, MessageError, MessageId, MessageStatus, ParameterSlot, Personalization,
    PhoneNumberId, Skip, Tag, Timestamp,
};
use crate::ports::{
    Condition, Cursor, Item, Key, Query, SortCondition, StoreError, Update, Value, Write,
};
use crate::table;

/// How a broadcast's personalization is stored: `[{"slot": "body:1", "field": "name",
/// "fallback": "there"}]`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPersonalization {
    slot: String,
    field: String,
    fallback: String,
}

fn personalization_json(rules: &[Personalization]) -> Vec<StoredPersonalization> {
    rules
        .iter()
        .map(|r| StoredPersonalization {
            slot: match r.slot {
                ParameterSlot::Header(n) => format!("header:{n}"),
                ParameterSlot::Body(n) => format!("body:{n}"),
                ParameterSlot::Button(i) => format!("button:{i}"),
            },
            field: r.field.as_string(),
            fallback: r.fallback.clone(),
        })
        .collect()
}

fn personalization_from_json(
    stored: &[StoredPersonalization],
) -> Result<Vec<Personalization>, RecordError> {
    stored
        .iter()
        .map(|s| {
            let (kind, n) = s
                .slot
                .split_once(':')
                .ok_or_else(|| corrupt("personalization slot"))?;
            let n: usize = n.parse().map_err(|_| corrupt("personalization slot"))?;
            let slot = match kind {
                "header" => ParameterSlot::Header(n),
                "body" => ParameterSlot::Body(n),
                "button" => ParameterSlot::Button(n),
                _ => return Err(corrupt("personalization slot").into()),
            };
            Ok(Personalization {
                slot,
                field: ContactField::parse(&s.field)?,
                fallback: s.fallback.clone(),
            })
        })
        .collect()
}

/// The items of a new broadcast: the broadcast and its definition (its counters have none
/// until its first contact is decided).
pub fn to_items(account: &AccountId, b: &Broadcast) -> Result<(Item, Item), RecordError> {
    let audience = match &b.audience {
        Audience::Tags(tags) => Value::M(BTreeMap::from([(
            "tags".to_owned(),
            string_list(tags.iter().map(Tag::as_str)),
        )])),
        Audience::Contacts(ids) => Value::M(BTreeMap::from([(
            "contact_ids".to_owned(),
            Value::L(ids.iter().map(|c| Value::S(c.to_string())).collect()),
        )])),
    };
    let definition = Item::new(table::broadcast_definition(account, &b.id))
        .with("template", Value::S(to_json(&b.template)?))
        .with(
            "personalization",
            Value::S(to_json(&personalization_json(&b.personalization))?),
        )
        .with("audience", audience);
    let mut item = Item::new(table::broadcast(account, &b.id))
        .with("from", Value::S(b.from.to_string()))
        .with("status", status_value(b.status))
        .with("created_at", Value::N(to_millis(b.created_at)));
    if let Some(t) = b.send_at {
        item = item.with("send_at", Value::N(to_millis(t)));
    }
    if let Some(t) = b.started_at {
        item = item.with("started_at", Value::N(to_millis(t)));
    }
    Ok((item, definition))
}

/// The definition a broadcast item needs read beside it; `None` for broadcasts stored before
/// definitions had an item of their own (the broadcast item holds it).
pub fn definition_key(item: &Item) -> Option<Key> {
    if item.attrs.contains_key("template") {
        return None;
    }
    table::broadcast_definition_of(&item.key)
}

/// A broadcast from its item, its definition (see [`definition_key`]) and its counter shards
/// ([`counts`]).
pub fn from_items(
    item: &Item,
    definition: Option<&Item>,
    counts: &[Item],
) -> Result<Broadcast, RecordError> {
    let d = match (definition_key(item), definition) {
        (None, _) => item,
        (Some(_), Some(d)) => d,
        (Some(_), None) => return Err(corrupt("broadcast without its definition").into()),
    };
    let audience = match d.attrs.get("audience") {
        Some(Value::M(m)) if m.contains_key("tags") => Audience::Tags(
            strings(m.get("tags"))
                .into_iter()
                .filter_map(|t| Tag::parse(t).ok())
                .collect(),
        ),
        Some(Value::M(m)) => Audience::Contacts(
            strings(m.get("contact_ids"))
                .into_iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        ),
        _ => return Err(corrupt("broadcast audience").into()),
    };
    let mut sum = BroadcastCounts::default();
    for counted in std::iter::once(item).chain(counts) {
        add_counts(&mut sum, counted);
    }
    Ok(Broadcast {
        id: id_after(item, table::BROADCAST_PREFIX)?,
        from: PhoneNumberId::parse(item.s("from")?)?,
        template: from_json(d.s("template")?)?,
        personalization: match d.opt_s("personalization") {
            Some(json) => {
                personalization_from_json(&from_json::<Vec<StoredPersonalization>>(json)?)?
            }
            // Broadcasts stored before personalization existed.
            None => Vec::new(),
        },
        audience,
        send_at: opt_millis(item, "send_at")?,
        status: status(item)?,
        pause_reason: item.opt_s("pause_reason").map(str::to_owned),
        counts: sum,
        created_at: from_millis(item.n("created_at")?)?,
        started_at: opt_millis(item, "started_at")?,
        finished_at: opt_millis(item, "finished_at")?,
    })
}

/// Adds one item's counters (a shard's, or an older broadcast item's own) to `sum`.
fn add_counts(sum: &mut BroadcastCounts, item: &Item) {
    let n = |name: &str| super::count(item, name);
    sum.targeted += n("targeted");
    sum.skipped_opted_out += n("skipped_opted_out");
    sum.skipped_no_consent += n("skipped_no_consent");
    sum.skipped_invalid += n("skipped_invalid");
    sum.skipped_plan_limit += n("skipped_plan_limit");
    sum.queued += n("queued");
    sum.sent += n("sent");
    sum.delivered += n("delivered");
    sum.read += n("read");
    sum.failed += n("failed");
    sum.held_for_quality_assessment += n("held_for_quality_assessment");
    for (k, v) in &item.attrs {
        if let (Some(code), Value::N(by)) = (k.strip_prefix("failed_code_"), v) {
            *sum.failed_by_code.entry(code.to_owned()).or_default() += (*by).max(0) as u64;
        }
    }
}

/// The counter shards of the broadcast whose item this is.
pub fn counts_of(item: &Item) -> Result<Query, RecordError> {
    let id = id_of(item)?;
    Ok(Query::partition(item.key.pk.clone()).begins_with(table::broadcast_counts(&id)))
}

/// Messages still waiting for an outcome, from the broadcast item and its counter shards. A
/// shard's count may be below zero (a broadcast stored before the shards counted its queued
/// messages in its own item); the sum is what holds.
pub fn outstanding(item: &Item, counts: &[Item]) -> i64 {
    std::iter::once(item)
        .chain(counts)
        .map(|i| i.opt_n("outstanding").unwrap_or(0))
        .sum()
}

/// The counter shard that counts `counted` (a message's id, or a skipped contact's).
fn counter(account: &AccountId, id: &BroadcastId, counted: &str) -> Update {
    let shard = super::shard_of(counted, table::BROADCAST_COUNT_SHARDS);
    Update::new(table::broadcast_count_shard(account, id, shard))
}

pub fn key(account: &AccountId, id: &BroadcastId) -> Key {
    table::broadcast(account, id)
}

pub fn id_of(item: &Item) -> Result<BroadcastId, RecordError> {
    id_after(item, table::BROADCAST_PREFIX)
}

fn status_value(s: BroadcastStatus) -> Value {
    Value::S(s.as_str().into())
}

fn status_is(s: BroadcastStatus) -> Condition {
    Condition::Equals("status".into(), status_value(s))
}

pub fn status(item: &Item) -> Result<BroadcastStatus, StoreError> {
    BroadcastStatus::parse(item.s("status")?).ok_or_else(|| corrupt("broadcast status"))
}

/// The account's broadcasts, oldest first.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::BROADCAST_PREFIX)
}

/// Moves a broadcast from one of `from` to `to`, recording why it paused (or clearing it).
pub fn change_status(
    account: &AccountId,
    id: &BroadcastId,
    from: &[BroadcastStatus],
    to: BroadcastStatus,
    reason: Option<&str>,
    at: Timestamp,
) -> Update {
    let mut update = Update::new(table::broadcast(account, id))
        .set("status", status_value(to))
        .when(Condition::Or(from.iter().map(|s| status_is(*s)).collect()));
    update = match reason {
        Some(r) => update.set("pause_reason", Value::S(r.into())),
        None => update.remove("pause_reason"),
    };
    if to == BroadcastStatus::Running {
        update = update.set("started_at", Value::N(to_millis(at)));
    }
    update
}

/// Starts a scheduled broadcast that is due.
pub fn start_scheduled(account: &AccountId, id: &BroadcastId, at: Timestamp) -> Update {
    Update::new(table::broadcast(account, id))
        .set("status", status_value(BroadcastStatus::Running))
        .set("started_at", Value::N(to_millis(at)))
        .when(status_is(BroadcastStatus::Scheduled))
}

/// Completes a running broadcast whose audience is walked; the caller has read that no
/// message is waiting for an outcome ([`outstanding`]).
pub fn complete_if_done(account: &AccountId, id: &BroadcastId, at: Timestamp) -> Update {
    Update::new(table::broadcast(account, id))
        .set("status", status_value(BroadcastStatus::Completed))
        .set("finished_at", Value::N(to_millis(at)))
        .when(Condition::And(vec![
            status_is(BroadcastStatus::Running),
            Condition::Equals("fanout_done".into(), Value::S("yes".into())),
        ]))
}

// ---- the fan-out's place ----

/// Where the fan-out stands.
pub struct Fanout {
    /// The audience's next page starts here.
    pub cursor: Option<Cursor>,
    /// Resumed since the last step: what was made so far goes to the queue again.
    pub requeue: bool,
    /// The audience is walked.
    pub done: bool,
}

pub fn fanout(item: &Item) -> Result<Fanout, StoreError> {
    Ok(Fanout {
        cursor: item
            .opt_s("fanout_cursor")
            .map(Cursor::decode)
            .transpose()?,
        requeue: item.opt_s("requeue").is_some(),
        done: item.opt_s("fanout_done").is_some(),
    })
}

/// Asks the next fan-out step to queue again what waits (after a resume).
pub fn requeue(account: &AccountId, id: &BroadcastId) -> Update {
    Update::new(table::broadcast(account, id)).set("requeue", Value::S("yes".into()))
}

pub fn requeued(account: &AccountId, id: &BroadcastId) -> Update {
    Update::new(table::broadcast(account, id)).remove("requeue")
}

/// Saves the fan-out's place (`None`: the audience is done), while it still runs.
pub fn fanout_at(account: &AccountId, id: &BroadcastId, next: Option<&Cursor>) -> Update {
    let update = Update::new(table::broadcast(account, id));
    match next {
        Some(c) => update.set("fanout_cursor", Value::S(c.encode())),
        None => update.set("fanout_done", Value::S("yes".into())),
    }
    .when(status_is(BroadcastStatus::Running))
}

/// A cursor over a listed audience: the position in the list.
pub fn list_position(cursor: Option<&Cursor>) -> usize {
    cursor.map_or(0, |c| c.last.sk.parse::<usize>().unwrap_or(0))
}

pub fn list_cursor(position: usize) -> Cursor {
    Cursor {
        last: Key::new("list", position.to_string()),
        last_gsi1: None,
    }
}

// ---- targets: each contact decided once ----

fn skip_counter(s: Skip) -> &'static str {
    match s {
        Skip::OptedOut => "skipped_opted_out",
        Skip::NoConsent => "skipped_no_consent",
        Skip::Invalid => "skipped_invalid",
        Skip::PlanLimit => "skipped_plan_limit",
    }
}

/// A contact skipped: its marker (only if the contact was not decided before) and counters.
pub fn skip_writes(
    account: &AccountId,
    id: &BroadcastId,
    contact: &ContactId,
    why: Skip,
) -> Vec<Write> {
    let name = skip_counter(why);
    vec![
        Write::put_new(
            Item::new(table::broadcast_target(account, id, contact))
                .with("outcome", Value::S(name.into())),
        ),
        Write::Update(
            counter(account, id, &contact.to_string())
                .add("targeted", 1)
                .add(name, 1),
        ),
    ]
}

/// A contact sent to: its marker naming the message (only if the contact was not decided
/// before) and counters; the message itself goes in the same transaction.
pub fn target_writes(
    account: &AccountId,
    id: &BroadcastId,
    contact: &ContactId,
    message: &MessageId,
) -> Vec<Write> {
    vec![
        Write::put_new(
            Item::new(table::broadcast_target(account, id, contact))
                .with("outcome", Value::S("queued".into()))
                .with("message_id", Value::S(message.to_string())),
        ),
        // `outstanding` until its outcome is known; the broadcast completes when none is left.
        Write::Update(
            counter(account, id, &message.to_string())
                .add("targeted", 1)
                .add("queued", 1)
                .add("outstanding", 1),
        ),
    ]
}

pub fn target(account: &AccountId, id: &BroadcastId, contact: &ContactId) -> Key {
    table::broadcast_target(account, id, contact)
}

/// The broadcast's targets.
pub fn targets(account: &AccountId, id: &BroadcastId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::broadcast_targets(id))
}

/// One more recipient of the WABA today, refused once `limit` are counted; the counter
/// expires after two days.
pub fn reached(account: &AccountId, waba: &str, day: &str, limit: u64, expires_at: i64) -> Update {
    Update::new(table::daily_reach(account, waba, day))
        .add("count", 1)
        .expire(Some(expires_at))
        .when(Condition::Or(vec![
            Condition::NotExists,
            Condition::LessThan("count".into(), Value::N(limit as i64)),
        ]))
}

/// The contact a target marker is about.
pub fn target_contact(marker: &Item, id: &BroadcastId) -> Result<ContactId, RecordError> {
    id_after(marker, &table::broadcast_targets(id))
}

/// What the fan-out decided for the contact: `queued` or the skip counter's name
/// (`skipped_opted_out`, …).
pub fn target_outcome(marker: &Item) -> &str {
    marker.opt_s("outcome").unwrap_or("queued")
}

/// The message a target marker names, if one was made for it.
pub fn target_message(marker: &Item) -> Option<MessageId> {
    marker.opt_s("message_id").and_then(|m| m.parse().ok())
}

// ---- counters moved by the messages' outcomes ----

/// The counter update for a broadcast message's outcome; the sender writes it in the same
/// transaction as the outcome itself, so each message counts once. A canceled message counts
/// nowhere.
pub fn outcome_counters(
    account: &AccountId,
    id: &BroadcastId,
    message: &MessageId,
    status: MessageStatus,
    error: Option<&MessageError>,
    held: bool,
) -> Option<Update> {
    let update = counter(account, id, &message.to_string()).add("outstanding", -1);
    match status {
        MessageStatus::Sent if held => {
            Some(update.add("sent", 1).add("held_for_quality_assessment", 1))
        }
        MessageStatus::Sent => Some(update.add("sent", 1)),
        MessageStatus::Failed | MessageStatus::Unknown => {
            let code = error.map_or(0, |e| e.code);
            Some(
                update
                    .add("failed", 1)
                    .add(&format!("failed_code_{code}"), 1),
            )
        }
        _ => None,
    }
}

/// What a broadcast counts when one of its messages moves from `from` to `to` by a status
/// webhook, in the message's shard.
pub fn progress_counters(
    account: &AccountId,
    id: &BroadcastId,
    message: &MessageId,
    from: MessageStatus,
    to: MessageStatus,
    error: Option<&MessageError>,
) -> Option<Update> {
    let mut update = counter(account, id, &message.to_string());
    let mut any = false;
    let delivered = MessageStatus::Delivered.rank();
    if from.rank() < delivered && to.rank() >= delivered {
        update = update.add("delivered", 1);
        any = true;
    }
    if to == MessageStatus::Read {
        update = update.add("read", 1);
        any = true;
    }
    if to == MessageStatus::Failed {
        let code = error.map_or(0, |e| e.code);
        update = update
            .add("failed", 1)
            .add(&format!("failed_code_{code}"), 1);
        any = true;
    }
    any.then_some(update)
}

// ---- the schedule ----

/// A broadcast's entry in the schedule of every tenant's broadcasts due later.
pub fn schedule_item(account: &AccountId, id: &BroadcastId, due: Timestamp) -> Item {
    Item::new(table::schedule(to_millis(due), account, id))
        .with("account_id", Value::S(account.to_string()))
        .with("broadcast_id", Value::S(id.to_string()))
}

/// Schedule entries due at `now`, the earliest first.
pub fn due(now: Timestamp) -> Query {
    Query::partition(table::SCHEDULE_PARTITION)
        .sort(SortCondition::LessThan(table::schedule_due(to_millis(now))))
}

/// The broadcast a schedule entry names.
pub fn scheduled(entry: &Item) -> Result<(AccountId, BroadcastId), RecordError> {
    Ok((
        entry.s("account_id")?.parse()?,
        entry.s("broadcast_id")?.parse()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed_broadcast(contacts: usize) -> Broadcast {
        let template = serde_json::json!({
            "name": "order_ready", "language": {"policy": "deterministic", "code": "en"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "there"}, {"type": "text", "text": "#A-2026-118734"}
            ]}]
        });
        Broadcast {
            id: BroadcastId::generate(),
            from: PhoneNumberId::parse("106540352242922").unwrap(),
            template: serde_json::from_value(template).unwrap(),
            personalization: vec![Personalization {
                slot: ParameterSlot::Body(1),
                field: ContactField::parse("name").unwrap(),
                fallback: "there".into(),
            }],
            audience: Audience::Contacts((0..contacts).map(|_| ContactId::generate()).collect()),
            send_at: None,
            status: BroadcastStatus::Running,
            pause_reason: None,
            counts: BroadcastCounts::default(),
            created_at: crate::domain::now(),
            started_at: Some(crate::domain::now()),
            finished_at: None,
        }
    }

    /// Every per-message write (target, outcome, status) updates the broadcast item, and
    /// DynamoDB bills it by the whole item: it must not carry the template or the audience.
    #[test]
    fn the_counters_item_holds_no_definition_and_older_broadcasts_still_read() {
        let account = AccountId::generate();
        let b = listed_broadcast(10_000);
        let (item, definition) = to_items(&account, &b).unwrap();
        for attr in ["template", "personalization", "audience"] {
            assert!(
                !item.attrs.contains_key(attr),
                "{attr} in the broadcast item"
            );
            assert!(
                definition.attrs.contains_key(attr),
                "{attr} not in its definition"
            );
        }
        assert_eq!(definition_key(&item), Some(definition.key.clone()));
        let read = from_items(&item, Some(&definition), &[]).unwrap();
        assert_eq!(format!("{read:?}"), format!("{b:?}"));
        assert!(
            from_items(&item, None, &[]).is_err(),
            "read without its definition"
        );

        // Stored before definitions had an item of their own: all in the broadcast item.
        let mut older = item.clone();
        older.attrs.extend(definition.attrs.clone());
        assert_eq!(definition_key(&older), None);
        assert_eq!(
            format!("{:?}", from_items(&older, None, &[]).unwrap()),
            format!("{b:?}")
        );
    }

    /// Each message counts in a shard of its own picked from its id, never in the broadcast
    /// item; the shards add up, with the counters of a broadcast stored before them too.
    #[test]
    fn counters_spread_over_shards_add_up_and_say_when_none_is_outstanding() {
        let account = AccountId::generate();
        let b = listed_broadcast(3);
        let (item, definition) = to_items(&account, &b).unwrap();
        let query = counts_of(&item).unwrap();
        let mut shards: BTreeMap<Key, Item> = BTreeMap::new();
        let mut apply = |u: Update| {
            assert_ne!(u.key, item.key, "a counter in the broadcast item");
            assert!(query.sort.matches(&u.key.sk), "{}", u.key.sk);
            let current = shards.remove(&u.key);
            shards.insert(u.key.clone(), u.apply(current).unwrap());
        };
        let messages: Vec<MessageId> = (0..40).map(|_| MessageId::generate()).collect();
        for m in &messages {
            for write in target_writes(&account, &b.id, &ContactId::generate(), m) {
                if let Write::Update(u) = write {
                    apply(u);
                }
            }
        }
        for write in skip_writes(&account, &b.id, &ContactId::generate(), Skip::OptedOut) {
            if let Write::Update(u) = write {
                apply(u);
            }
        }
        let failed = MessageError {
            code: 131_026,
            title: "Message undeliverable".into(),
            details: None,
        };
        for (i, m) in messages.iter().enumerate() {
            let (status, error) = match i {
                0 => (MessageStatus::Failed, Some(&failed)),
                _ => (MessageStatus::Sent, None),
            };
            apply(outcome_counters(&account, &b.id, m, status, error, false).unwrap());
            if i > 0 {
                let (from, to) = (MessageStatus::Sent, MessageStatus::Read);
                apply(progress_counters(&account, &b.id, m, from, to, None).unwrap());
            }
        }
        assert!(shards.len() > 4, "one broadcast's counting is spread");
        let shards: Vec<Item> = shards.into_values().collect();
        assert_eq!(outstanding(&item, &shards), 0);
        let read = from_items(&item, Some(&definition), &shards).unwrap();
        assert_eq!(read.counts.targeted, 41);
        assert_eq!(read.counts.skipped_opted_out, 1);
        assert_eq!(read.counts.queued, 40);
        assert_eq!(read.counts.sent, 39);
        assert_eq!(read.counts.delivered, 39);
        assert_eq!(read.counts.read, 39);
        assert_eq!(read.counts.failed, 1);
        assert_eq!(read.counts.failed_by_code["131026"], 1);

        // A broadcast stored before the shards: two messages queued in its own item, one
        // outcome since in a shard (below zero there); two outstanding less one.
        let older = Update::new(item.key.clone())
            .add("targeted", 2)
            .add("queued", 2)
            .add("outstanding", 2)
            .apply(Some(item.clone()))
            .unwrap();
        let outcome = outcome_counters(
            &account,
            &b.id,
            &messages[1],
            MessageStatus::Sent,
            None,
            false,
        )
        .unwrap()
        .apply(None)
        .unwrap();
        assert_eq!(outstanding(&older, std::slice::from_ref(&outcome)), 1);
        let read = from_items(&older, Some(&definition), &[outcome]).unwrap();
        assert_eq!((read.counts.queued, read.counts.sent), (2, 1));
    }
}
