//! The single-table layout: every item key is built here and nowhere else.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account | `ACCOUNT#{account_id}` | `ACCOUNT` |
//! | tenant data key (wrapped) | `ACCOUNT#{account_id}` | `DATAKEY` |
//! | API key record | `ACCOUNT#{account_id}` | `APIKEY#{key_id}` |
//! | API key lookup (by hash) | `APIKEYHASH#{sha256}` | `APIKEYHASH` |
//! | WhatsApp number | `ACCOUNT#{account_id}` | `NUMBER#{phone_number_id}` |
//! | number routing (webhook → tenant) | `ROUTE#{phone_number_id}` | `ROUTE` |
//! | contact | `ACCOUNT#{account_id}` | `CONTACT#{contact_id}` |
//! | contact lookup (blind index of phone or BSUID) | `ACCOUNT#{account_id}` | `CONTACTKEY#{kind}#{hmac}` |
//! | consent record (one the contact's latest replaced; the latest is in the contact item) | `ACCOUNT#{account_id}` | `CONSENT#{contact_id}#{record_id}` |
//! | contact import | `ACCOUNT#{account_id}` | `IMPORT#{import_id}` |
//! | message (GSI1: `THREAD#{account_id}#{contact_id}` / `{message_id}`) | `ACCOUNT#{account_id}` | `MESSAGE#{message_id}` |
//! | wamid lookup (webhook → message) | `WAMID#{wamid}` | `WAMID` |
//! | status that arrived before its message's wamid was stored | `WAMID#{wamid}` | `STATUS#{status}` |
//! | conversation (GSI1: `CONVERSATIONS#{account_id}` / `{last message id}`) | `ACCOUNT#{account_id}` | `CONVERSATION#{contact_id}` |
//! | WABA routing (WABA-level webhooks → tenant) | `WABA#{waba_id}` | `WABA` |
//! | notice (template status, account and quality updates, webhook errors) | `ACCOUNT#{account_id}` | `NOTICE#{notice_id}` |
//! | dead letter (a webhook change that could not be read) | `ACCOUNT#{operator}` | `DEADLETTER#{id}` |
//! | media object (inbound or uploaded; the file sealed in the blob store) | `ACCOUNT#{account_id}` | `MEDIA#{media_id}` |
//! | media download link (15 minutes) | `MEDIALINK#{sha256 of token}` | `MEDIALINK` |
//! | billing (subscription, plan, card brand/last4, sealed billing details) | `ACCOUNT#{account_id}` | `BILLING` |
//! | payment-provider event applied (TTL 30 days) | `ACCOUNT#{account_id}` | `BILLINGEVENT#{event_id}` |
//! | payment-provider customer → account | `CUSTOMER#{customer_id}` | `CUSTOMER` |
//! | usage counters of a month | `ACCOUNT#{account_id}` | `USAGE#{yyyy-mm}` |
//! | wamid counted in usage (once) | `WAMID#{wamid}` | `METERED` |
//! | audit log entry | `ACCOUNT#{account_id}` | `AUDIT#{ulid}` |
//! | deletion receipt (by SHA-256 of its token) | `RECEIPT#{sha256}` | `RECEIPT` |
//! | send token bucket of a number | `RATE#{phone_number_id}` | `RATE` |
//! | last send to a recipient from a number | `PAIR#{phone_number_id}#{contact_id}` | `PAIR` |
//! | 24-hour service window | `ACCOUNT#{account_id}` | `WINDOW#{phone_number_id}#{contact_id}` |
//!
//! Account items are also in GSI1 under `ACCOUNTS` / `{account_id}` (the retention run walks
//! it). Everything a tenant owns lives under its `ACCOUNT#` partition except the global lookups
//! (API key hashes, number routes), which carry the account id as an attribute.

use crate::domain::{AccountId, ApiKeyId, ContactId, ImportId, MediaId, MessageId, PhoneNumberId};
use crate::ports::Key;

pub fn account_partition(account: &AccountId) -> String {
    format!("ACCOUNT#{account}")
}

pub fn account(account: &AccountId) -> Key {
    Key::new(account_partition(account), "ACCOUNT")
}

pub fn data_key(account: &AccountId) -> Key {
    Key::new(account_partition(account), "DATAKEY")
}

pub const API_KEY_PREFIX: &str = "APIKEY#";

pub fn api_key(account: &AccountId, id: &ApiKeyId) -> Key {
    Key::new(account_partition(account), format!("{API_KEY_PREFIX}{id}"))
}

pub fn api_key_lookup(hash_hex: &str) -> Key {
    Key::new(format!("APIKEYHASH#{hash_hex}"), "APIKEYHASH")
}

pub const NUMBER_PREFIX: &str = "NUMBER#";

pub fn number(account: &AccountId, id: &PhoneNumberId) -> Key {
    Key::new(account_partition(account), format!("{NUMBER_PREFIX}{id}"))
}

pub fn number_route(id: &PhoneNumberId) -> Key {
    Key::new(format!("ROUTE#{id}"), "ROUTE")
}

pub const CONTACT_PREFIX: &str = "CONTACT#";

pub fn contact(account: &AccountId, id: &ContactId) -> Key {
    Key::new(account_partition(account), format!("{CONTACT_PREFIX}{id}"))
}

/// `kind` names the value space of the blind index (`phone`, `bsuid`).
pub fn contact_lookup(account: &AccountId, kind: &str, blind_index: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("CONTACTKEY#{kind}#{blind_index}"),
    )
}

pub fn consent_prefix(id: &ContactId) -> String {
    format!("CONSENT#{id}#")
}

pub fn consent_record(account: &AccountId, id: &ContactId, record: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{record}", consent_prefix(id)),
    )
}

pub fn import(account: &AccountId, id: &ImportId) -> Key {
    Key::new(account_partition(account), format!("IMPORT#{id}"))
}

pub const MESSAGE_PREFIX: &str = "MESSAGE#";

pub fn message(account: &AccountId, id: &MessageId) -> Key {
    Key::new(account_partition(account), format!("{MESSAGE_PREFIX}{id}"))
}

/// A contact's thread in the index: its messages in order.
pub fn thread(account: &AccountId, contact: &ContactId) -> String {
    format!("THREAD#{account}#{contact}")
}

pub fn wamid(wamid: &str) -> Key {
    Key::new(wamid_partition(wamid), "WAMID")
}

pub const PENDING_STATUS_PREFIX: &str = "STATUS#";

/// A status kept until its message's wamid is known; in the wamid's own partition.
pub fn pending_status(wamid: &str, status: &str) -> Key {
    Key::new(
        wamid_partition(wamid),
        format!("{PENDING_STATUS_PREFIX}{status}"),
    )
}

pub fn wamid_partition(wamid: &str) -> String {
    format!("WAMID#{wamid}")
}

pub const CONVERSATION_PREFIX: &str = "CONVERSATION#";

pub fn conversation(account: &AccountId, contact: &ContactId) -> Key {
    Key::new(
        account_partition(account),
        format!("{CONVERSATION_PREFIX}{contact}"),
    )
}

/// The index partition of a tenant's conversations, ordered by their last message.
pub fn conversations(account: &AccountId) -> String {
    format!("CONVERSATIONS#{account}")
}

pub fn waba_route(waba_id: &str) -> Key {
    Key::new(format!("WABA#{waba_id}"), "WABA")
}

pub const NOTICE_PREFIX: &str = "NOTICE#";

pub fn notice(account: &AccountId, id: &str) -> Key {
    Key::new(account_partition(account), format!("{NOTICE_PREFIX}{id}"))
}

pub const DEAD_LETTER_PREFIX: &str = "DEADLETTER#";

pub fn dead_letter(id: &str) -> Key {
    Key::new(
        account_partition(&AccountId::OPERATOR),
        format!("{DEAD_LETTER_PREFIX}{id}"),
    )
}

pub fn send_rate(number: &PhoneNumberId) -> Key {
    Key::new(format!("RATE#{number}"), "RATE")
}

pub fn pair(number: &PhoneNumberId, contact: &ContactId) -> Key {
    Key::new(format!("PAIR#{number}#{contact}"), "PAIR")
}

pub fn window(account: &AccountId, number: &PhoneNumberId, contact: &ContactId) -> Key {
    Key::new(
        account_partition(account),
        format!("WINDOW#{number}#{contact}"),
    )
}

pub const MEDIA_PREFIX: &str = "MEDIA#";

pub fn media(account: &AccountId, id: &MediaId) -> Key {
    Key::new(account_partition(account), format!("{MEDIA_PREFIX}{id}"))
}

/// A short-lived media download link, by the SHA-256 of its token (the token itself is
/// never stored).
pub fn media_link(token_hash_hex: &str) -> Key {
    Key::new(format!("MEDIALINK#{token_hash_hex}"), "MEDIALINK")
}

/// An account's subscription, plan and billing details.
pub fn billing(account: &AccountId) -> Key {
    Key::new(account_partition(account), "BILLING")
}

/// A payment-provider event already applied to the account (idempotency).
pub fn billing_event(account: &AccountId, event_id: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("BILLINGEVENT#{event_id}"),
    )
}

/// The payment provider's customer → the account.
pub fn billing_customer(customer_id: &str) -> Key {
    Key::new(format!("CUSTOMER#{customer_id}"), "CUSTOMER")
}

/// How many contacts the account holds: moved by the same transaction that creates or erases
/// a contact, so the plan's contact limit is checked without counting the contacts.
pub fn contact_tally(account: &AccountId) -> Key {
    Key::new(account_partition(account), "TALLY#contacts")
}

/// The last background count of what the account holds (the right of access).
pub fn inventory(account: &AccountId) -> Key {
    Key::new(account_partition(account), "INVENTORY")
}

/// One month (`YYYY-MM`) of an account's usage counters.
pub fn usage(account: &AccountId, month: &str) -> Key {
    Key::new(account_partition(account), format!("USAGE#{month}"))
}

/// A wamid whose pricing is counted in usage (once per wamid).
pub fn metered(wamid: &str) -> Key {
    Key::new(wamid_partition(wamid), "METERED")
}
