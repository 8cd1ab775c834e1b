use super::Timestamp;

/// How long dead letters are kept for operators to look at.
pub const DEAD_LETTER_DAYS: i64 = 30;

/// Signed webhook content we could not read, as recorded (its payload is kept apart, sealed).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub id: String,
    /// The change's `field`, or none when the whole payload was unreadable.
    pub field: Option<String>,
    /// What the parser said; never the content.
    pub reason: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: Timestamp,
}
