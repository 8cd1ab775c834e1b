//! A connected WhatsApp number (display number and token sealed), and the routes that send a
//! webhook for the number, or for its WABA, to the tenant.

use super::{from_millis, map_n, map_s, to_millis, MapBuilder, RecordError, Sealer};
use crate::domain::{
    now, AccessToken, AccountId, PhoneNumber, PhoneNumberId, SendingStopped, Timestamp, WabaId,
    WhatsAppNumber, DEFAULT_MESSAGES_PER_SECOND,
};
use crate::ports::{Condition, Item, Key, Query, Update, Value, Write};
use crate::table;

const ENTITY: &str = "number";
/// Sealed fields of a number item.
pub const SEALED: u64 = 2;

pub fn to_item(s: &Sealer, n: &WhatsAppNumber, token: &AccessToken) -> Result<Item, RecordError> {
    let key = table::number(s.tenant(), &n.phone_number_id);
    Ok(Item::new(key.clone())
        .with("waba_id", Value::S(n.waba_id.as_str().into()))
        .with(
            "display_phone_number",
            s.seal_str(
                ENTITY,
                &key,
                "display_phone_number",
                n.display_phone_number.e164(),
            )?,
        )
        .with(
            "access_token",
            s.seal_str(ENTITY, &key, "access_token", token.expose())?,
        )
        .with(
            "messages_per_second",
            Value::N(i64::from(n.messages_per_second)),
        )
        .with("created_at", Value::N(to_millis(n.created_at)))
        .with("updated_at", Value::N(to_millis(n.updated_at))))
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<WhatsAppNumber, RecordError> {
    let display = s.open(ENTITY, item, "display_phone_number")?;
    Ok(WhatsAppNumber {
        phone_number_id: id_of(item)?,
        waba_id: WabaId::parse(item.s("waba_id")?)?,
        display_phone_number: PhoneNumber::from_meta(&display)?,
        messages_per_second: item
            .opt_n("messages_per_second")
            .map_or(DEFAULT_MESSAGES_PER_SECOND, |n| n as u32),
        sending_stopped: stopped(item)?,
        created_at: from_millis(item.n("created_at")?)?,
        updated_at: from_millis(item.n("updated_at")?)?,
    })
}

/// Why the number may not send, if it may not.
pub fn stopped(item: &Item) -> Result<Option<SendingStopped>, RecordError> {
    Ok(match item.attrs.get("sending_stopped") {
        Some(Value::M(m)) => Some(SendingStopped {
            code: map_n(m, "code").unwrap_or(0),
            reason: map_s(m, "reason").unwrap_or_default(),
            at: match map_n(m, "at") {
                Some(n) => from_millis(n)?,
                None => now(),
            },
        }),
        _ => None,
    })
}

/// The number's id, from its item's key.
pub fn id_of(item: &Item) -> Result<PhoneNumberId, RecordError> {
    Ok(PhoneNumberId::parse(super::after_prefix(
        item,
        table::NUMBER_PREFIX,
    )?)?)
}

/// The number's Graph API token.
pub fn access_token(s: &Sealer, item: &Item) -> Result<AccessToken, RecordError> {
    Ok(AccessToken::parse(&s.open(
        ENTITY,
        item,
        "access_token",
    )?)?)
}

/// The account's numbers, in id order.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::NUMBER_PREFIX)
}

/// Connecting: the number's route, written only if no tenant holds the number, the number
/// itself, and the WABA's route counting this tenant's numbers under it, taken only if no other
/// tenant holds the WABA (all three or none; a route from before ownership was proven, without
/// a count, yields to a proven owner).
pub fn connect_writes(account: &AccountId, number: Item, n: &WhatsAppNumber) -> Vec<Write> {
    let route = Item::new(table::number_route(&n.phone_number_id))
        .with("account_id", Value::S(account.to_string()));
    vec![
        Write::put_new(route),
        Write::put_new(number),
        Write::Update(waba_joined(account, &n.waba_id)),
    ]
}

/// Index in [`connect_writes`] of the WABA route's write.
pub const CONNECT_WABA_WRITE: usize = 2;

/// One more of this tenant's numbers under the WABA; refused if another tenant holds it.
fn waba_joined(account: &AccountId, waba: &WabaId) -> Update {
    Update::new(table::waba_route(waba.as_str()))
        .set("account_id", Value::S(account.to_string()))
        .add(WABA_NUMBERS, 1)
        .when(Condition::Or(vec![
            Condition::NotExists,
            Condition::AttributeNotExists(WABA_NUMBERS.into()),
            owned_by(account),
        ]))
}

/// One fewer of this tenant's numbers under the WABA.
fn waba_left(account: &AccountId, waba: &WabaId) -> Update {
    Update::new(table::waba_route(waba.as_str()))
        .add(WABA_NUMBERS, -1)
        .when(owned_by(account))
}

/// How many of the owner's numbers a WABA route stands for.
const WABA_NUMBERS: &str = "numbers";

/// Disconnecting: the number (if it is still under `waba`), its route (if it is still this
/// tenant's) and one number fewer on the WABA's route, all or none.
pub fn disconnect_writes(account: &AccountId, id: &PhoneNumberId, waba: &WabaId) -> Vec<Write> {
    vec![
        Write::Delete {
            key: table::number(account, id),
            condition: Some(Condition::Equals(
                "waba_id".into(),
                Value::S(waba.as_str().into()),
            )),
        },
        Write::Delete {
            key: table::number_route(id),
            condition: Some(owned_by(account)),
        },
        Write::Update(waba_left(account, waba)),
    ]
}

/// Moving a number to another WABA: the number's WABA (if it is still `from`), one fewer under
/// `from` and one more under `to` (refused if another tenant holds `to`), all or none.
pub fn move_writes(
    account: &AccountId,
    id: &PhoneNumberId,
    from: &WabaId,
    to: &WabaId,
) -> Vec<Write> {
    vec![
        Write::Update(
            Update::new(table::number(account, id))
                .set("waba_id", Value::S(to.as_str().into()))
                .when(Condition::Equals(
                    "waba_id".into(),
                    Value::S(from.as_str().into()),
                )),
        ),
        Write::Update(waba_left(account, from)),
        Write::Update(waba_joined(account, to)),
    ]
}

/// Index in [`move_writes`] of the new WABA's route.
pub const MOVE_WABA_WRITE: usize = 2;

/// Removes a WABA's route once no number of its owner is left under it.
pub fn waba_route_if_unused(account: &AccountId, waba: &WabaId) -> Write {
    Write::Delete {
        key: table::waba_route(waba.as_str()),
        condition: Some(Condition::And(vec![
            owned_by(account),
            Condition::LessThan(WABA_NUMBERS.into(), Value::N(1)),
        ])),
    }
}

fn owned_by(account: &AccountId) -> Condition {
    Condition::Equals("account_id".into(), Value::S(account.to_string()))
}

/// Whether a route item (a number's or a WABA's) sends to this tenant.
pub fn routes_to(route: &Item, account: &AccountId) -> bool {
    route.opt_s("account_id") == Some(account.to_string().as_str())
}

/// The tenant a route item sends to.
pub fn route_target(route: &Item) -> Result<AccountId, RecordError> {
    Ok(route.s("account_id")?.parse()?)
}

/// A correction of a connected number, built field by field.
pub struct Correction<'a> {
    sealer: &'a Sealer,
    update: Update,
}

pub fn correct<'a>(s: &'a Sealer, id: &PhoneNumberId, at: Timestamp) -> Correction<'a> {
    Correction {
        update: Update::new(table::number(s.tenant(), id))
            .set("updated_at", Value::N(to_millis(at)))
            .when(Condition::Exists),
        sealer: s,
    }
}

impl Correction<'_> {
    pub fn display_phone_number(mut self, display: &PhoneNumber) -> Result<Self, RecordError> {
        let key = self.update.key.clone();
        let sealed = self
            .sealer
            .seal_str(ENTITY, &key, "display_phone_number", display.e164())?;
        self.update = self.update.set("display_phone_number", sealed);
        Ok(self)
    }

    pub fn messages_per_second(mut self, rate: u32) -> Self {
        self.update = self
            .update
            .set("messages_per_second", Value::N(i64::from(rate)));
        self
    }

    /// A new token; it also lifts a stop the old one caused.
    pub fn access_token(mut self, token: &AccessToken) -> Result<Self, RecordError> {
        let key = self.update.key.clone();
        let sealed = self
            .sealer
            .seal_str(ENTITY, &key, "access_token", token.expose())?;
        self.update = self
            .update
            .remove("sending_stopped")
            .set("access_token", sealed);
        Ok(self)
    }

    pub fn into_update(self) -> Update {
        self.update
    }
}

/// Stops all sending from a number until its owner acts.
pub fn stop_sending(account: &AccountId, id: &PhoneNumberId, stop: &SendingStopped) -> Update {
    let value = MapBuilder::new()
        .with("code", Value::N(stop.code))
        .with("reason", Value::S(stop.reason.clone()))
        .with("at", Value::N(to_millis(stop.at)))
        .build();
    Update::new(table::number(account, id))
        .set("sending_stopped", value)
        .when(Condition::Exists)
}

/// What a number item points to outside the tenant's partition, to erase with it: its route
/// and its WABA's (where they still send to this tenant), and its send bucket.
pub fn outside(item: &Item) -> Option<(PhoneNumberId, Vec<Key>, Key)> {
    let id = id_of(item).ok()?;
    let mut routes = vec![table::number_route(&id)];
    if let Some(waba) = item.opt_s("waba_id") {
        routes.push(table::waba_route(waba));
    }
    let bucket = table::send_rate(&id);
    Some((id, routes, bucket))
}

/// Meta's messaging limit of the WABA's business portfolio (unique business-initiated
/// recipients a day), as its `business_capability_update` webhook last said; `None` when
/// unknown or unlimited.
pub fn messaging_limit(route: &Item) -> Option<u64> {
    route
        .opt_n(MESSAGING_LIMIT)
        .and_then(|n| u64::try_from(n).ok())
}

const MESSAGING_LIMIT: &str = "messaging_limit";

/// Records the WABA's messaging limit (`None`: unlimited), if the WABA is connected here.
pub fn set_messaging_limit(waba: &WabaId, limit: Option<u64>) -> Update {
    let update = Update::new(table::waba_route(waba.as_str())).when(Condition::Exists);
    match limit {
        Some(n) => update.set(MESSAGING_LIMIT, Value::N(n as i64)),
        None => update.remove(MESSAGING_LIMIT),
    }
}
