use serde::{Deserialize, Serialize};

use super::{BroadcastId, ContactId, MessageId, PhoneNumberId, Timestamp};
use crate::graph::messages::Content;

/// Where a message is in its life. Outbound: queued → sending → sent → delivered → read, or
/// failed, or unknown when a send's outcome was lost (never resent on our own), or canceled
/// with its broadcast before it was sent.
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
    /// An inbound message, stored.
    Received,
    /// Its broadcast was canceled while it waited: never sent. The API's v1 shows it as
    /// `failed` (see `views::MessageView`), so it is not a filter value either.
    #[serde(skip_deserializing)]
    Canceled,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 9] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
        MessageStatus::Unknown,
        MessageStatus::Received,
        MessageStatus::Canceled,
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
            MessageStatus::Received => "received",
            MessageStatus::Canceled => "canceled",
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
                | MessageStatus::Received
                | MessageStatus::Canceled
        )
    }

    /// Order of outbound statuses: a status webhook never moves a message to a lower rank.
    /// Failed sits below delivered, so a delivery reported after a failure wins, while a
    /// failure reported after a delivery is kept only as history.
    pub fn rank(self) -> i64 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sending | MessageStatus::Unknown => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Failed | MessageStatus::Canceled => 3,
            MessageStatus::Delivered => 4,
            MessageStatus::Read => 5,
            MessageStatus::Received => 0,
        }
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

/// What a message carries: our typed content going out, Meta's object as it came in.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Outbound(Content),
    Inbound {
        /// Meta's `type` (text, image, …, or whatever new type Meta sends).
        kind: String,
        /// The message object as Meta sent it.
        raw: serde_json::Value,
    },
}

impl Body {
    pub fn kind(&self) -> &str {
        match self {
            Body::Outbound(c) => c.kind(),
            Body::Inbound { kind, .. } => kind,
        }
    }

    pub fn is_inbound(&self) -> bool {
        matches!(self, Body::Inbound { .. })
    }
}

/// A message of a contact's thread, either way, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: MessageId,
    /// Our WhatsApp number that sent or received it.
    pub number: PhoneNumberId,
    pub contact_id: ContactId,
    /// The contact's address as Meta knows it: a phone in digits or a BSUID.
    pub address: String,
    pub body: Body,
    /// The message this one replies to (its wamid).
    pub reply_to: Option<String>,
    pub status: MessageStatus,
    pub wamid: Option<String>,
    pub error: Option<MessageError>,
    pub history: Vec<StatusChange>,
    pub broadcast_id: Option<BroadcastId>,
    pub attempts: u32,
    /// Meta's `pricing` object from the message's statuses (billable, model, category).
    pub pricing: Option<serde_json::Value>,
    /// Meta took the message but holds it while it judges a paced template's quality
    /// (`message_status: held_for_quality_assessment` in its answer).
    pub held_for_quality_assessment: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Message {
    /// A message as it starts its life, `status` its one entry of history, made at `at`.
    pub fn new(
        id: MessageId,
        number: PhoneNumberId,
        contact_id: ContactId,
        address: String,
        body: Body,
        status: MessageStatus,
        at: Timestamp,
    ) -> Self {
        Self {
            id,
            number,
            contact_id,
            address,
            body,
            reply_to: None,
            status,
            wamid: None,
            error: None,
            history: vec![StatusChange {
                status,
                at,
                error_code: None,
            }],
            broadcast_id: None,
            attempts: 0,
            pricing: None,
            held_for_quality_assessment: false,
            created_at: at,
            updated_at: at,
        }
    }
}
