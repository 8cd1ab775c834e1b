//! WhatsApp numbers as the API shows them: never the access token.

use serde::Serialize;

use crate::domain::{Timestamp, WhatsAppNumber};

/// A number as the API shows it: never the access token.
#[derive(Serialize)]
pub struct NumberView {
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    /// The throughput tier the sender paces this number at.
    pub messages_per_second: u32,
    /// Set when Meta refused all sending; a new access_token lifts it.
    pub sending_stopped: Option<StoppedView>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

impl From<WhatsAppNumber> for NumberView {
    fn from(n: WhatsAppNumber) -> Self {
        Self {
            phone_number_id: n.phone_number_id.to_string(),
            waba_id: n.waba_id.as_str().to_owned(),
            display_phone_number: n.display_phone_number.e164().to_owned(),
            messages_per_second: n.messages_per_second,
            sending_stopped: n.sending_stopped.map(|s| StoppedView {
                code: s.code,
                reason: s.reason,
                at: s.at,
            }),
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

#[derive(Serialize)]
pub struct StoppedView {
    pub code: i64,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}
