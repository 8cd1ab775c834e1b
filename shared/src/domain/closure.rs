use std::collections::BTreeMap;

use serde::Serialize;

use super::Timestamp;

/// What an account closure erased: no personal data, only the account id, times and counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosureReceipt {
    pub account_id: String,
    /// `closing` while the erasure runs, `closed` once it is done.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<Timestamp>,
    /// Items deleted, by kind (`contact`, `message`, …), and `objects` from the bucket.
    pub deleted: BTreeMap<String, u64>,
    /// Whether the tenant's data key was destroyed in the live table.
    pub key_destroyed: bool,
    /// Until when the table's point-in-time backups may still hold the wrapped data key (and
    /// with the stack's KMS key, what it opens): [`BACKUP_DAYS`] after `finished_at`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub backups_hold_until: Option<Timestamp>,
}

/// The table's point-in-time recovery window (`RecoveryPeriodInDays` in template.yaml).
pub const BACKUP_DAYS: i64 = 35;
