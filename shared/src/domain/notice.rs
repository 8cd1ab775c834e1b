use super::{PhoneNumberId, Timestamp};

/// How long notices are kept.
pub const NOTICE_DAYS: i64 = 90;

/// A notice from Meta about the account, its numbers or templates (or from us, about the
/// privacy policy), as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub id: String,
    /// The webhook field (`message_template_status_update`, `account_update`,
    /// `phone_number_quality_update`), `errors`, or `privacy_policy`.
    pub field: String,
    pub event: Option<String>,
    pub number: Option<PhoneNumberId>,
    /// The change's value as Meta sent it.
    pub payload: serde_json::Value,
    pub received_at: Timestamp,
    pub read_at: Option<Timestamp>,
}
