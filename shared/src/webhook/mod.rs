//! Meta's webhook, as it arrives: the signature over the raw bytes ([`signature`]) and the
//! payload (`{object, entry[{id, changes[{field, value}]}]}`) parsed into [`Event`]s.
//!
//! Parsing is lenient where Meta is free to grow (unknown fields, unknown message types, new
//! `field`s) and strict only where ingestion needs a value: a change it cannot read becomes
//! [`Event::Malformed`] and is kept as a dead letter, never dropped and never a panic.

pub mod signature;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest payload Meta sends (3 MB); the HTTP layer refuses more.
pub const MAX_PAYLOAD_BYTES: usize = 3 * 1024 * 1024;

/// The envelope could not be read at all (not JSON, no `entry` list).
#[derive(Debug, thiserror::Error)]
#[error("webhook payload not understood: {0}")]
pub struct PayloadError(pub String);

/// One change of a payload, read according to its `field`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `messages`: inbound messages, statuses of ours, and errors, for one of our numbers.
    Messages(MessagesValue),
    /// `user_preferences`: a user stopped or resumed marketing messages.
    UserPreferences(UserPreferencesValue),
    /// WABA-level notices (`message_template_status_update`, `account_update`,
    /// `phone_number_quality_update`), kept for the account as they came.
    Notice(NoticeChange),
    /// A field we do not ingest (groups, calls, …): acknowledged and counted.
    Ignored { field: String },
    /// A change of a field we ingest that we could not read.
    Malformed {
        field: String,
        error: String,
        value: Value,
    },
}

/// A change that is a WABA-level notice.
#[derive(Clone, Debug, PartialEq)]
pub struct NoticeChange {
    pub field: String,
    /// The WhatsApp Business Account the entry is about (`entry.id`).
    pub waba_id: String,
    /// `event` of the value, when it has one (APPROVED, FLAGGED, …).
    pub event: Option<String>,
    pub value: Value,
}

/// The fields whose notices are kept.
pub const NOTICE_FIELDS: [&str; 8] = [
    "message_template_status_update",
    "template_category_update",
    "message_template_quality_update",
    "message_template_components_update",
    "account_update",
    "phone_number_quality_update",
    // A user's BSUID moved; the contact follows `user_changed_user_id` system messages.
    "user_id_update",
    // The business portfolio's messaging limit: broadcasts keep under it.
    "business_capability_update",
];

/// The messaging limit a `business_capability_update` value states: unique business-initiated
/// recipients a day (`Some(None)`: unlimited), from `max_daily_conversations_per_business`
/// (`TIER_250` … `TIER_UNLIMITED`, or a number) or the older `max_daily_conversation_per_phone`
/// (`-1` for unlimited); `None` when it states none.
pub fn messaging_limit(value: &Value) -> Option<Option<u64>> {
    let read = |v: &Value| -> Option<Option<u64>> {
        match v {
            Value::Number(n) => match n.as_i64()? {
                -1 => Some(None),
                n if n > 0 => Some(Some(n as u64)),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "TIER_UNLIMITED" => Some(None),
                "TIER_250" => Some(Some(250)),
                "TIER_1K" => Some(Some(1_000)),
                "TIER_2K" => Some(Some(2_000)),
                "TIER_10K" => Some(Some(10_000)),
                "TIER_100K" => Some(Some(100_000)),
                _ => None,
            },
            _ => None,
        }
    };
    value
        .get("max_daily_conversations_per_business")
        .and_then(read)
        .or_else(|| value.get("max_daily_conversation_per_phone").and_then(read))
}

/// The notice fields that change a stored template.
pub const TEMPLATE_FIELDS: [&str; 4] = [
    "message_template_status_update",
    "template_category_update",
    "message_template_quality_update",
    "message_template_components_update",
];

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// The sender's profile that comes with inbound messages.
#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
pub struct ContactProfile {
    #[serde(default)]
    pub profile: Option<Profile>,
    /// The user's phone in digits; empty for users who hide their number.
    #[serde(default)]
    pub wa_id: Option<String>,
    /// The business-scoped user id (BSUID).
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
    /// The user's WhatsApp username (2026), when they adopted one.
    #[serde(default)]
    pub username: Option<String>,
}

/// The value of a `messages` change.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagesValue {
    pub metadata: Metadata,
    pub contacts: Vec<ContactProfile>,
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<StatusUpdate>,
    /// Errors about the number or the app, not about one message.
    pub errors: Vec<Value>,
}

/// An inbound message: the fields ingestion needs, and the object whole.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundMessage {
    pub wamid: String,
    /// The sender's phone in digits, if shown.
    pub from: Option<String>,
    /// The sender's BSUID, if given.
    pub from_user_id: Option<String>,
    /// Epoch seconds, as Meta stamped it.
    pub timestamp: i64,
    /// `type`: text, image, …, unsupported, or a type newer than this code.
    pub kind: String,
    /// The wamid this message answers or reacts to (`context.id`).
    pub context_id: Option<String>,
    pub raw: Value,
}

impl InboundMessage {
    /// The words a person typed or tapped: text bodies, button and reply titles.
    pub fn typed_text(&self) -> Vec<&str> {
        let r = &self.raw;
        let at = |path: &[&str]| -> Option<&str> {
            path.iter()
                .try_fold(r, |v, k| v.get(*k))
                .and_then(Value::as_str)
        };
        [
            at(&["text", "body"]),
            at(&["button", "text"]),
            at(&["button", "payload"]),
            at(&["interactive", "button_reply", "title"]),
            at(&["interactive", "list_reply", "title"]),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The media id of an image, video, audio, document or sticker message.
    pub fn media_id(&self) -> Option<&str> {
        match self.kind.as_str() {
            "image" | "video" | "audio" | "document" | "sticker" => self
                .raw
                .get(&self.kind)
                .and_then(|m| m.get("id"))
                .and_then(Value::as_str),
            _ => None,
        }
    }

    /// `system.user_id` of a `user_changed_user_id` system message: the user's new BSUID.
    pub fn changed_user_id(&self) -> Option<&str> {
        let system = self.raw.get("system")?;
        let kind = system.get("type").and_then(Value::as_str)?;
        (kind == "user_changed_user_id")
            .then(|| system.get("user_id").and_then(Value::as_str))
            .flatten()
    }

    /// `system.wa_id` of a `user_changed_number` system message: the user's new number.
    pub fn changed_number(&self) -> Option<&str> {
        let system = self.raw.get("system")?;
        let kind = system.get("type").and_then(Value::as_str)?;
        (kind == "user_changed_number")
            .then(|| system.get("wa_id").and_then(Value::as_str))
            .flatten()
    }
}

/// A status of a message we sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub wamid: String,
    /// `sent`, `delivered`, `read`, `failed` (or a status newer than this code).
    pub status: String,
    /// Epoch seconds.
    pub timestamp: i64,
    pub recipient_id: Option<String>,
    /// The recipient's BSUID (2026), for users reached without a phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    pub errors: Vec<StatusError>,
    pub pricing: Option<Value>,
    pub conversation: Option<Value>,
    pub biz_opaque_callback_data: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

/// The value of a `user_preferences` change.
#[derive(Clone, Debug, PartialEq)]
pub struct UserPreferencesValue {
    pub metadata: Metadata,
    pub contacts: Vec<ContactProfile>,
    pub preferences: Vec<UserPreference>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct UserPreference {
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    /// `marketing_messages`.
    #[serde(default)]
    pub category: Option<String>,
    /// `stop` or `resume`.
    pub value: String,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct RawPayload {
    #[serde(default)]
    object: Option<String>,
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    changes: Vec<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

/// Reads a payload into its events, in order. Fails only when the envelope itself is
/// unreadable; a bad change is one [`Event::Malformed`] among the others.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, PayloadError> {
    let raw: RawPayload = serde_json::from_slice(body).map_err(|e| PayloadError(e.to_string()))?;
    if let Some(object) = &raw.object {
        if object != "whatsapp_business_account" {
            return Err(PayloadError(format!("object `{object}` is not WhatsApp's")));
        }
    }
    let mut events = Vec::new();
    for entry in raw.entry {
        let waba_id = match &entry.id {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        for change in entry.changes {
            let field = change.field.unwrap_or_default();
            events.push(read_change(field, &waba_id, change.value));
        }
    }
    Ok(events)
}

fn read_change(field: String, waba_id: &str, value: Value) -> Event {
    let read = match field.as_str() {
        "messages" => read_messages(&value).map(Event::Messages),
        "user_preferences" => read_preferences(&value).map(Event::UserPreferences),
        f if NOTICE_FIELDS.contains(&f) => {
            if !value.is_object() {
                Err("the value is not an object".to_owned())
            } else {
                Ok(Event::Notice(NoticeChange {
                    field: field.clone(),
                    waba_id: waba_id.to_owned(),
                    event: value
                        .get("event")
                        .or_else(|| value.get("ban_info").and_then(|b| b.get("waba_ban_state")))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    value: value.clone(),
                }))
            }
        }
        _ => return Event::Ignored { field },
    };
    read.unwrap_or_else(|error| Event::Malformed {
        field,
        error,
        value,
    })
}

fn read_messages(value: &Value) -> Result<MessagesValue, String> {
    let metadata = metadata(value)?;
    let contacts = list(value, "contacts")?;
    let mut messages = Vec::new();
    for (i, m) in array(value, "messages")?.iter().enumerate() {
        messages.push(read_message(m).map_err(|e| format!("messages[{i}]: {e}"))?);
    }
    let mut statuses = Vec::new();
    for (i, s) in array(value, "statuses")?.iter().enumerate() {
        statuses.push(read_status(s).map_err(|e| format!("statuses[{i}]: {e}"))?);
    }
    Ok(MessagesValue {
        metadata,
        contacts,
        messages,
        statuses,
        errors: array(value, "errors")?.to_vec(),
    })
}

fn read_message(m: &Value) -> Result<InboundMessage, String> {
    let wamid = non_empty(m, "id")?;
    let kind = m
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("unknown")
        .to_owned();
    let from = opt_str(m, "from");
    let from_user_id = opt_str(m, "from_user_id");
    if from.is_none() && from_user_id.is_none() {
        return Err("no `from` nor `from_user_id`".into());
    }
    Ok(InboundMessage {
        wamid,
        from,
        from_user_id,
        timestamp: timestamp(m)?,
        kind,
        context_id: m
            .get("context")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        raw: m.clone(),
    })
}

fn read_status(s: &Value) -> Result<StatusUpdate, String> {
    let errors = match s.get("errors") {
        None | Some(Value::Null) => Vec::new(),
        Some(e) => serde_json::from_value(e.clone()).map_err(|e| format!("errors: {e}"))?,
    };
    Ok(StatusUpdate {
        wamid: non_empty(s, "id")?,
        status: non_empty(s, "status")?,
        timestamp: timestamp(s)?,
        recipient_id: opt_str(s, "recipient_id"),
        recipient_user_id: opt_str(s, "recipient_user_id"),
        errors,
        pricing: s.get("pricing").filter(|v| v.is_object()).cloned(),
        conversation: s.get("conversation").filter(|v| v.is_object()).cloned(),
        biz_opaque_callback_data: opt_str(s, "biz_opaque_callback_data"),
    })
}

fn read_preferences(value: &Value) -> Result<UserPreferencesValue, String> {
    Ok(UserPreferencesValue {
        metadata: metadata(value)?,
        contacts: list(value, "contacts")?,
        preferences: list(value, "user_preferences")?,
    })
}

fn metadata(value: &Value) -> Result<Metadata, String> {
    let m = value.get("metadata").ok_or("no `metadata`")?;
    serde_json::from_value(m.clone()).map_err(|e| format!("metadata: {e}"))
}

/// An optional list of typed objects.
fn list<T: serde::de::DeserializeOwned>(value: &Value, name: &str) -> Result<Vec<T>, String> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("{name}: {e}")),
    }
}

/// An optional array, as it is.
fn array<'a>(value: &'a Value, name: &str) -> Result<&'a [Value], String> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("`{name}` is not a list")),
    }
}

fn opt_str(v: &Value, name: &str) -> Option<String> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn non_empty(v: &Value, name: &str) -> Result<String, String> {
    opt_str(v, name).ok_or_else(|| format!("no `{name}`"))
}

/// Meta sends epoch seconds as a string, sometimes as a number.
fn timestamp(v: &Value) -> Result<i64, String> {
    epoch_seconds(v.get("timestamp")).ok_or_else(|| "no valid `timestamp`".into())
}

fn epoch_seconds(v: Option<&Value>) -> Option<i64> {
    let secs = match v? {
        Value::String(s) => s.trim().parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    // Between 2000 and 2200: anything else is not a time Meta stamped.
    (946_684_800..7_258_118_400).contains(&secs).then_some(secs)
}

fn lenient_timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(epoch_seconds(v.as_ref()))
}
