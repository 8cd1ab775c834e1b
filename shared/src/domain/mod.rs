//! Domain types. Each parses its input once and can only hold a valid value, so code that
//! receives one never checks it again. Secrets and personal values never print in `Debug`.

mod account;
mod api_key;
mod audit;
mod billing;
mod broadcast;
pub mod closure;
mod contact;
mod conversation;
mod dead_letter;
mod email;
mod endpoint;
mod export;
mod ids;
mod import;
mod keywords;
mod limits;
mod media;
mod message;
mod notice;
mod number;
mod numbering;
mod phone;
mod region;
mod retention;
mod template;
mod text;
mod usage;
mod user;

pub use account::{Account, AccountState, BusinessName};
pub use api_key::{ApiKey, ApiKeyName, ApiKeySecret, ApiKeyStatus};
pub use audit::{Actor, AuditAction, AuditEntry, AuditTarget};
pub use billing::{
    contains_card_number, BillingChange, BillingConfig, Card, Overage, Plan, RateTable,
    Subscription, SubscriptionState, DEFAULT_PLANS_JSON,
};
pub use broadcast::{
    Audience, Broadcast, BroadcastCounts, BroadcastRecipient, BroadcastStatus, ContactField,
    ParameterSlot, Personalization, Skip, MAX_LISTED_CONTACTS, MAX_PERSONALIZATIONS,
};
pub use closure::ClosureReceipt;
pub use contact::{
    check_tag_count, parse_tags, Attributes, Bsuid, Consent, ConsentRecord, Contact, ContactName,
    OptOut, Recorded, Tag, Tags, Username,
};
pub use conversation::{Conversation, LastMessage, Window, SERVICE_WINDOW};
pub use dead_letter::{DeadLetter, DEAD_LETTER_DAYS};
pub use email::Email;
pub use endpoint::{
    parse_description, DisabledReason, Endpoint, EndpointUrl, EventType, EventTypes,
};
pub use export::{Export, ExportStatus};
pub use ids::{
    ordered_ulid, AccountId, ApiKeyId, BroadcastId, ContactId, EndpointId, EventId, ExportId,
    ImportId, MessageId, NoteId, UserId,
};
pub use import::{Import, ImportCounts, ImportStatus};
pub use keywords::Keywords;
pub use limits::{ApiLimits, RateLimited};
pub use media::{Media, MediaId, MediaKind, MediaState, MediaType};
pub use message::{Body, Message, MessageError, MessageStatus, StatusChange};
pub use notice::{Notice, NOTICE_DAYS};
pub use number::{
    parse_messages_per_second, AccessToken, PhoneNumberId, SendingStopped, WabaId, WhatsAppNumber,
    DEFAULT_MESSAGES_PER_SECOND, MAX_MESSAGES_PER_SECOND,
};
pub use phone::PhoneNumber;
pub use region::Region;
pub use retention::{RetentionChanges, RetentionPolicy};
pub use template::{
    check_components, ButtonShape, HeaderShape, LanguageCode, Mismatch, Placeholders, Template,
    TemplateCategory, TemplateId, TemplateName, TemplateShape, TemplateStatus,
};
pub use usage::{
    month_of, parse_month, MetaCount, OwnUsage, Priced, Usage, UsageDelta, VolumeTier,
};
pub use user::{note_text, Invitation, Note, Password, Permission, Role, Session, User, UserName};

/// Why a value was refused; the message is safe to show to the caller and never repeats
/// the value itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Timestamps are RFC 3339 in UTC everywhere they leave the service.
pub type Timestamp = time::OffsetDateTime;

/// The current time, to the millisecond: what the store keeps, so a value read back equals
/// the value written.
pub fn now() -> Timestamp {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}
