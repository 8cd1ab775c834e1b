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
//! | message (GSI1: `THREAD#{account_id}#{contact_id}` / `{message_id}`), in one of 16 shards from its id (before the shards: `ACCOUNT#{account_id}`) | `MESSAGES#{account_id}#{nn}` | `MESSAGE#{message_id}` |
//! | a large outbound message's content, apart, beside its message | `MESSAGES#{account_id}#{nn}` | `MESSAGECONTENT#{message_id}` |
//! | wamid lookup (webhook → message) | `WAMID#{wamid}` | `WAMID` |
//! | status that arrived before its message's wamid was stored | `WAMID#{wamid}` | `STATUS#{status}` |
//! | conversation (GSI1: `CONVERSATIONS#{account_id}#{nn}`, one of 16 shards, / `{last message id}`) | `ACCOUNT#{account_id}` | `CONVERSATION#{contact_id}` |
//! | WABA routing (WABA-level webhooks → tenant; Meta's messaging limit of its business) | `WABA#{waba_id}` | `WABA` |
//! | notice (template status, account and quality updates, webhook errors) | `ACCOUNT#{account_id}` | `NOTICE#{notice_id}` |
//! | dead letter (a webhook change that could not be read) | `ACCOUNT#{operator}` | `DEADLETTER#{id}` |
//! | media object (inbound or uploaded; the file sealed in the blob store) | `ACCOUNT#{account_id}` | `MEDIA#{media_id}` |
//! | media download link (15 minutes) | `MEDIALINK#{sha256 of token}` | `MEDIALINK` |
//! | billing (subscription, plan, card brand/last4, sealed billing details) | `ACCOUNT#{account_id}` | `BILLING` |
//! | payment-provider event applied (TTL 30 days) | `ACCOUNT#{account_id}` | `BILLINGEVENT#{event_id}` |
//! | payment-provider customer → account | `CUSTOMER#{customer_id}` | `CUSTOMER` |
//! | usage of a month: Meta's volume tiers (and, before counters were sharded, our counters) | `ACCOUNT#{account_id}` | `USAGE#{yyyy-mm}` |
//! | usage of a month: our counters, one of 16 shards | `ACCOUNT#{account_id}` | `USAGE#{yyyy-mm}#+{nn}` |
//! | usage of a day: Meta's priced messages, one of 16 shards | `ACCOUNT#{account_id}` | `USAGE#{yyyy-mm}#{dd}#{nn}` |
//! | wamid counted in usage (once) | `WAMID#{wamid}` | `METERED` |
//! | audit log entry | `ACCOUNT#{account_id}` | `AUDIT#{ulid}` |
//! | deletion receipt (by SHA-256 of its token) | `RECEIPT#{sha256}` | `RECEIPT` |
//! | send token bucket of a number | `RATE#{phone_number_id}` | `RATE` |
//! | last send to a recipient from a number | `PAIR#{phone_number_id}#{contact_id}` | `PAIR` |
//! | 24-hour service window | `ACCOUNT#{account_id}` | `WINDOW#{phone_number_id}#{contact_id}` |
//! | broadcast (status, fan-out's place; counters of broadcasts stored before the shards) | `ACCOUNT#{account_id}` | `BROADCAST#{broadcast_id}` |
//! | broadcast counters, one of 16 shards | `ACCOUNT#{account_id}` | `BROADCASTCOUNTS#{broadcast_id}#{nn}` |
//! | broadcast definition (template, personalization, audience) | `ACCOUNT#{account_id}` | `BROADCASTDEFINITION#{broadcast_id}` |
//! | broadcast target (once per contact) | `ACCOUNT#{account_id}` | `BROADCASTTARGET#{broadcast_id}#{contact_id}` |
//! | scheduled broadcast | `SCHEDULE` | `{due_ms}#{account_id}#{broadcast_id}` |
//! | export | `ACCOUNT#{account_id}` | `EXPORT#{export_id}` |
//! | inventory count | `ACCOUNT#{account_id}` | `INVENTORY` |
//! | business-initiated recipients of a WABA on a UTC day (against Meta's messaging limit; TTL) | `ACCOUNT#{account_id}` | `REACH#{waba_id}#{yyyy-mm-dd}` |
//! | user (sealed name and email; role; argon2id hash) | `ACCOUNT#{account_id}` | `USER#{user_id}` |
//! | login lookup (blind index of the email, under the operators' key) | `LOGIN#{hmac}` | `LOGIN` |
//! | session (by SHA-256 of its token; TTL at its absolute expiry) | `ACCOUNT#{account_id}` | `SESSION#{sha256}` |
//! | invitation (by SHA-256 of its token; TTL) | `ACCOUNT#{account_id}` | `INVITATION#{sha256}` |
//! | login attempts of an email or a client address in a 15-minute window (by digest; TTL) | `LOGINS#{digest}#{window}` | `LOGINS` |
//! | API requests of a tenant in one second (by digest; TTL), one of the window's items | `LIMIT#{digest}#{second}#{n}` | `LIMIT` |
//! | signups from a client address in one hour (by digest; TTL) | `SIGNUPS#{digest}#{hour}` | `SIGNUPS` |
//! | internal note on a conversation | `ACCOUNT#{account_id}` | `NOTE#{contact_id}#{note_id}` |
//! | message template (GSI1: `TEMPLATEID#{account_id}#{template_id}` / `TEMPLATE`) | `ACCOUNT#{account_id}` | `TEMPLATE#{waba_id}#{name}#{language}` |
//!
//! The codecs of these items, and the queries over them, are in [`crate::records`]; no other
//! module builds a key or names a prefix.
//!
//! Account items are also in GSI1 under `ACCOUNTS` / `{account_id}` (the retention run walks
//! it). Everything a tenant owns lives under its `ACCOUNT#` partition and its messages' 16
//! `MESSAGES#` partitions ([`partitions`]), except the global lookups (API key hashes, number
//! routes), which carry the account id as an attribute.

use crate::domain::{
    AccountId, ApiKeyId, BroadcastId, ContactId, EndpointId, EventId, ExportId, ImportId, MediaId,
    MessageId, NoteId, PhoneNumberId, UserId,
};
use crate::ports::Key;

/// What kind of item a key in a tenant's partition is: its sort key up to the first `#`,
/// lower-cased (`contact`, `message`, `contactkey`, …). Receipts and inventories count by it.
pub fn kind(key: &Key) -> String {
    key.sk.split('#').next().unwrap_or_default().to_lowercase()
}

const ACCOUNT_PREFIX: &str = "ACCOUNT#";

pub fn account_partition(account: &AccountId) -> String {
    format!("{ACCOUNT_PREFIX}{account}")
}

/// The tenant whose partition this is.
pub fn account_of_partition(pk: &str) -> Option<AccountId> {
    pk.strip_prefix(ACCOUNT_PREFIX)?.parse().ok()
}

pub const ACCOUNT_SK: &str = "ACCOUNT";
pub const DATA_KEY_SK: &str = "DATAKEY";

pub const BILLING_SK: &str = "BILLING";
pub const INVENTORY_SK: &str = "INVENTORY";

pub fn account(account: &AccountId) -> Key {
    Key::new(account_partition(account), ACCOUNT_SK)
}

/// Accounts in the index, for walks over every tenant (retention).
pub const ACCOUNTS_INDEX: &str = "ACCOUNTS";

pub fn accounts_index(account: &AccountId) -> Key {
    Key::new(ACCOUNTS_INDEX, account.to_string())
}

pub fn data_key(account: &AccountId) -> Key {
    Key::new(account_partition(account), DATA_KEY_SK)
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
        format!("{CONTACT_LOOKUP_PREFIX}{kind}#{blind_index}"),
    )
}

pub const CONTACT_LOOKUP_PREFIX: &str = "CONTACTKEY#";
pub const CONSENT_PREFIX: &str = "CONSENT#";

pub fn consent_prefix(id: &ContactId) -> String {
    format!("{CONSENT_PREFIX}{id}#")
}

pub fn consent_record(account: &AccountId, id: &ContactId, record: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{record}", consent_prefix(id)),
    )
}

pub const IMPORT_PREFIX: &str = "IMPORT#";

pub fn import(account: &AccountId, id: &ImportId) -> Key {
    Key::new(account_partition(account), format!("{IMPORT_PREFIX}{id}"))
}

pub const MESSAGE_PREFIX: &str = "MESSAGE#";

/// Partitions a tenant's messages are spread over: at 1,000 messages a second, each written
/// about seven times (put, content, claim, outcome, three statuses), 440 writes a second a
/// partition, where one partition takes 1,000. Message ids grow with time, so in one
/// partition every write would fall at the top of one key range, which no split spreads.
pub const MESSAGE_SHARDS: u8 = 16;

/// The shard (of `shards`) an item of `id` (a message's, a contact's, a wamid) is kept or
/// counted in: an FNV-1a hash of the id, so the items spread evenly and each id has one home.
pub fn shard_of(id: &str, shards: u8) -> u8 {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash % u32::from(shards)) as u8
}

/// One of the partitions of a tenant's messages (and their contents kept apart).
pub fn message_partition(account: &AccountId, shard: u8) -> String {
    format!("MESSAGES#{account}#{shard:02}")
}

/// Every partition a tenant's items are in: its own, and its messages' shards.
pub fn partitions(account: &AccountId) -> Vec<String> {
    [account_partition(account)]
        .into_iter()
        .chain((0..MESSAGE_SHARDS).map(|n| message_partition(account, n)))
        .collect()
}

fn message_home(account: &AccountId, id: &MessageId) -> String {
    message_partition(account, shard_of(&id.to_string(), MESSAGE_SHARDS))
}

pub fn message(account: &AccountId, id: &MessageId) -> Key {
    Key::new(message_home(account, id), format!("{MESSAGE_PREFIX}{id}"))
}

/// Where a message stored before the messages were spread over shards is: in the tenant's
/// own partition. Read when a message is not where messages are now.
pub fn message_before_shards(account: &AccountId, id: &MessageId) -> Key {
    Key::new(account_partition(account), format!("{MESSAGE_PREFIX}{id}"))
}

/// A message's content when it is kept apart from the message item (see
/// `records::message::to_items`).
pub const MESSAGE_CONTENT_PREFIX: &str = "MESSAGECONTENT#";

pub fn message_content(account: &AccountId, id: &MessageId) -> Key {
    Key::new(
        message_home(account, id),
        format!("{MESSAGE_CONTENT_PREFIX}{id}"),
    )
}

/// The content item beside the message item at `message`, if that names a message.
pub fn message_content_of(message: &Key) -> Option<Key> {
    let id = message.sk.strip_prefix(MESSAGE_PREFIX)?;
    Some(Key::new(
        message.pk.clone(),
        format!("{MESSAGE_CONTENT_PREFIX}{id}"),
    ))
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

/// The index partition of a tenant's conversations, ordered by their last message: where
/// conversations last moved before the inbox was spread over shards, and what an inbox page's
/// cursor names.
pub fn conversations(account: &AccountId) -> String {
    format!("CONVERSATIONS#{account}")
}

/// One of the index partitions a tenant's inbox is spread over (the shard from the contact).
pub fn conversations_shard(account: &AccountId, shard: u8) -> String {
    format!("CONVERSATIONS#{account}#{shard:02}")
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
    Key::new(operator_partition(), format!("{DEAD_LETTER_PREFIX}{id}"))
}

/// Items of the operators' own partition (dead letters).
pub fn operator_partition() -> String {
    account_partition(&AccountId::OPERATOR)
}

/// The API requests of one tenant (named by a digest, so nothing left behind names it) in one
/// second's window, in one of the window's items (`records::limits::window_shards`).
pub fn request_window(tenant_digest: &str, epoch_second: i64, shard: u8) -> Key {
    Key::new(
        format!("LIMIT#{tenant_digest}#{epoch_second}#{shard}"),
        "LIMIT",
    )
}

/// The signups from one client address (by digest: an address is personal data) in one
/// hour's window.
pub fn signup_window(address_digest: &str, epoch_hour: i64) -> Key {
    Key::new(format!("SIGNUPS#{address_digest}#{epoch_hour}"), "SIGNUPS")
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

pub const BROADCAST_PREFIX: &str = "BROADCAST#";

pub fn broadcast(account: &AccountId, id: &BroadcastId) -> Key {
    Key::new(
        account_partition(account),
        format!("{BROADCAST_PREFIX}{id}"),
    )
}

/// What a broadcast sends and to whom, written once beside the broadcast item, whose
/// counters change with every message.
pub const BROADCAST_DEFINITION_PREFIX: &str = "BROADCASTDEFINITION#";

pub fn broadcast_definition(account: &AccountId, id: &BroadcastId) -> Key {
    Key::new(
        account_partition(account),
        format!("{BROADCAST_DEFINITION_PREFIX}{id}"),
    )
}

/// The definition item beside the broadcast item at `broadcast`, if that names a broadcast.
pub fn broadcast_definition_of(broadcast: &Key) -> Option<Key> {
    let id = broadcast.sk.strip_prefix(BROADCAST_PREFIX)?;
    Some(Key::new(
        broadcast.pk.clone(),
        format!("{BROADCAST_DEFINITION_PREFIX}{id}"),
    ))
}

/// A broadcast's counters, spread over shards: every message moves them up to four times
/// (fan-out, outcome, delivered, read), and one item takes at most 1,000 writes a second.
pub const BROADCAST_COUNTS_PREFIX: &str = "BROADCASTCOUNTS#";

pub const BROADCAST_COUNT_SHARDS: u8 = 16;

/// The broadcast's counter shards.
pub fn broadcast_counts(id: &BroadcastId) -> String {
    format!("{BROADCAST_COUNTS_PREFIX}{id}#")
}

pub fn broadcast_count_shard(account: &AccountId, id: &BroadcastId, shard: u8) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{shard:02}", broadcast_counts(id)),
    )
}

pub const BROADCAST_TARGET_PREFIX: &str = "BROADCASTTARGET#";

/// The broadcast's targets: one per contact it decided.
pub fn broadcast_targets(id: &BroadcastId) -> String {
    format!("{BROADCAST_TARGET_PREFIX}{id}#")
}

pub fn broadcast_target(account: &AccountId, id: &BroadcastId, contact: &ContactId) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{contact}", broadcast_targets(id)),
    )
}

/// Scheduled broadcasts of every tenant, by due time.
pub const SCHEDULE_PARTITION: &str = "SCHEDULE";

/// Sort keys of the schedule before this sort below it: what is due at `at_ms`.
pub fn schedule_due(at_ms: i64) -> String {
    format!("{at_ms:016}$")
}

pub fn schedule(at_ms: i64, account: &AccountId, id: &BroadcastId) -> Key {
    Key::new(SCHEDULE_PARTITION, format!("{at_ms:016}#{account}#{id}"))
}

pub const EXPORT_PREFIX: &str = "EXPORT#";

pub fn export(account: &AccountId, id: &ExportId) -> Key {
    Key::new(account_partition(account), format!("{EXPORT_PREFIX}{id}"))
}

pub const AUDIT_PREFIX: &str = "AUDIT#";

pub fn audit(account: &AccountId, id: &str) -> Key {
    Key::new(account_partition(account), format!("{AUDIT_PREFIX}{id}"))
}

/// An account closure's receipt, by the SHA-256 of its token.
pub fn receipt(token_hash_hex: &str) -> Key {
    Key::new(format!("RECEIPT#{token_hash_hex}"), "RECEIPT")
}

/// The receipt whose partition an account's record names.
pub fn receipt_at(partition: &str) -> Key {
    Key::new(partition, "RECEIPT")
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

pub const MEDIA_LINK_NOTE_PREFIX: &str = "MEDIALINK#";

/// A media link noted in the tenant's partition, under its media: what erasing the media (or
/// the account) follows to the link itself. One item per link: a list on the media record
/// would grow with every read.
pub fn media_link_note(account: &AccountId, media: &MediaId, token_hash_hex: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{MEDIA_LINK_NOTE_PREFIX}{media}#{token_hash_hex}"),
    )
}

/// An account's subscription, plan and billing details.
pub fn billing(account: &AccountId) -> Key {
    Key::new(account_partition(account), BILLING_SK)
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
    Key::new(account_partition(account), INVENTORY_SK)
}

/// One month (`YYYY-MM`) of an account's usage.
pub const USAGE_PREFIX: &str = "USAGE#";

/// How many items one counter of a month or a day is spread over: no item takes more than a
/// sixteenth of a tenant's counting (DynamoDB's 1,000 writes a second per item).
pub const USAGE_SHARDS: u8 = 16;

/// Our counters' shards sort between the month's item and its days' (`+` before digits), so
/// one range reads the month's own counters without its days.
const OWN_SHARD: char = '+';

pub fn usage(account: &AccountId, month: &str) -> Key {
    Key::new(account_partition(account), format!("{USAGE_PREFIX}{month}"))
}

/// One shard of our own counters of a month.
pub fn usage_shard(account: &AccountId, month: &str, shard: u8) -> Key {
    Key::new(
        account_partition(account),
        format!("{USAGE_PREFIX}{month}#{OWN_SHARD}{shard:02}"),
    )
}

/// The sort keys from a month's item to its last own shard: the month's own counters.
pub fn usage_own_range(month: &str) -> (String, String) {
    (
        format!("{USAGE_PREFIX}{month}"),
        format!("{USAGE_PREFIX}{month}#{OWN_SHARD}~"),
    )
}

/// One shard of Meta's priced messages of a day (`DD`) of a month: under the month.
pub fn usage_day(account: &AccountId, month: &str, day: &str, shard: u8) -> Key {
    Key::new(
        account_partition(account),
        format!("{USAGE_PREFIX}{month}#{day}#{shard:02}"),
    )
}

/// A wamid whose pricing is counted in usage (once per wamid).
pub fn metered(wamid: &str) -> Key {
    Key::new(wamid_partition(wamid), "METERED")
}

pub const TEMPLATE_PREFIX: &str = "TEMPLATE#";

/// The templates of one WABA, and of one name in it (every language).
pub fn templates_prefix(waba: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{TEMPLATE_PREFIX}{waba}#{name}#"),
        None => format!("{TEMPLATE_PREFIX}{waba}#"),
    }
}

pub fn template(account: &AccountId, waba: &str, name: &str, language: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{language}", templates_prefix(waba, Some(name))),
    )
}

/// A template by Meta's id, in the index: scoped to the tenant.
pub fn template_by_id(account: &AccountId, id: &str) -> Key {
    Key::new(format!("TEMPLATEID#{account}#{id}"), "TEMPLATE")
}

pub const REACH_PREFIX: &str = "REACH#";

/// The broadcast recipients a WABA reached on a UTC day (`yyyy-mm-dd`).
pub fn daily_reach(account: &AccountId, waba: &str, day: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{REACH_PREFIX}{waba}#{day}"),
    )
}

pub const USER_PREFIX: &str = "USER#";

pub fn user(account: &AccountId, id: &UserId) -> Key {
    Key::new(account_partition(account), format!("{USER_PREFIX}{id}"))
}

pub fn login_lookup(blind_index: &str) -> Key {
    Key::new(format!("LOGIN#{blind_index}"), "LOGIN")
}

pub const SESSION_PREFIX: &str = "SESSION#";

pub fn session(account: &AccountId, token_hash: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{SESSION_PREFIX}{token_hash}"),
    )
}

pub const INVITATION_PREFIX: &str = "INVITATION#";

pub fn invitation(account: &AccountId, token_hash: &str) -> Key {
    Key::new(
        account_partition(account),
        format!("{INVITATION_PREFIX}{token_hash}"),
    )
}

/// Login attempts of one email or client address (by digest) in one window.
pub fn login_window(subject_digest: &str, window: i64) -> Key {
    Key::new(format!("LOGINS#{subject_digest}#{window}"), "LOGINS")
}

pub const ENDPOINT_PREFIX: &str = "ENDPOINT#";

pub fn endpoint(account: &AccountId, id: &EndpointId) -> Key {
    Key::new(account_partition(account), format!("{ENDPOINT_PREFIX}{id}"))
}

pub const EVENT_PREFIX: &str = "EVENT#";

pub fn event(account: &AccountId, id: &EventId) -> Key {
    Key::new(account_partition(account), format!("{EVENT_PREFIX}{id}"))
}

pub const DELIVERY_PREFIX: &str = "DELIVERY#";

/// An endpoint's deliveries, in the order of their events' times.
pub fn deliveries(endpoint: &EndpointId) -> String {
    format!("{DELIVERY_PREFIX}{endpoint}#")
}

pub fn delivery(account: &AccountId, endpoint: &EndpointId, event: &EventId) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{event}", deliveries(endpoint)),
    )
}

pub const NOTE_PREFIX: &str = "NOTE#";

/// A conversation's notes, in the order they were written.
pub fn notes(contact: &ContactId) -> String {
    format!("{NOTE_PREFIX}{contact}#")
}

pub fn note(account: &AccountId, contact: &ContactId, id: &NoteId) -> Key {
    Key::new(
        account_partition(account),
        format!("{}{id}", notes(contact)),
    )
}
