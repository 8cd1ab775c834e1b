use serde::{Deserialize, Serialize};

use super::{BroadcastId, ContactId, MessageId, PhoneNumberId, Timestamp};
use crate::graph::messages::Content;

/// Where a message is in its life. Outbound: queued → sending → sent → delivered → read, or
/// failed, or unknown when a send's outcome was lost (never resent on our own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    Unknown,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
        MessageStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
            MessageStatus::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No further status is expected from our side.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            MessageStatus::Sent
                | MessageStatus::Delivered
                | MessageStatus::Read
                | MessageStatus::Failed
                | MessageStatus::Unknown
        )
    }
}

/// Why a message failed, as Meta said it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageError {
    pub code: i64,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: MessageStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
}

/// An outbound message and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub from: PhoneNumberId,
    pub contact_id: ContactId,
    /// The recipient as sent to Meta: a phone in digits or a BSUID.
    pub to: String,
    pub content: Content,
    /// The message this one replies to (its wamid).
    pub reply_to: Option<String>,
    pub status: MessageStatus,
    pub wamid: Option<String>,
    pub error: Option<MessageError>,
    pub history: Vec<StatusChange>,
    pub broadcast_id: Option<BroadcastId>,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
