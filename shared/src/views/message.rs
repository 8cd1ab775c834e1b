//! Messages as the API shows them (and the export writes them).

use serde::Serialize;
use serde_json::Value;

use crate::domain::{Body, Message, MessageError, MessageStatus, StatusChange, Timestamp};

#[derive(Serialize)]
pub struct MessageView {
    pub id: String,
    /// `outbound` or `inbound`.
    pub direction: &'static str,
    /// Outbound: our number; inbound: the contact's address.
    pub from: String,
    /// Outbound: the contact's address (a phone in digits or a BSUID); inbound: our number.
    pub to: String,
    pub contact_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Outbound: what we sent; inbound: Meta's message object as received.
    pub content: Value,
    pub reply_to: Option<String>,
    pub status: MessageStatus,
    pub wamid: Option<String>,
    pub error: Option<MessageError>,
    pub history: Vec<StatusChange>,
    pub broadcast_id: Option<String>,
    pub attempts: u32,
    /// Meta's pricing of the message, from its statuses.
    pub pricing: Option<Value>,
    /// Meta holds it while it judges a paced template's quality.
    pub held_for_quality_assessment: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// How v1 of the API has always shown a message whose broadcast was canceled before it was
/// sent: `failed`, with error 0 and this title.
pub const CANCELED_TITLE: &str = "The broadcast was canceled";

fn v1_status(s: MessageStatus) -> MessageStatus {
    match s {
        MessageStatus::Canceled => MessageStatus::Failed,
        s => s,
    }
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        let canceled = m.status == MessageStatus::Canceled;
        let error = match canceled {
            true => Some(MessageError {
                code: 0,
                title: CANCELED_TITLE.into(),
                details: None,
            }),
            false => m.error,
        };
        let history = m
            .history
            .into_iter()
            .map(|h| StatusChange {
                status: v1_status(h.status),
                error_code: match h.status {
                    MessageStatus::Canceled => Some(0),
                    _ => h.error_code,
                },
                at: h.at,
            })
            .collect();
        let kind = m.body.kind().to_owned();
        let (direction, from, to, content) = match m.body {
            Body::Outbound(c) => (
                "outbound",
                m.number.to_string(),
                m.address,
                serde_json::to_value(c).unwrap_or_default(),
            ),
            Body::Inbound { raw, .. } => ("inbound", m.address, m.number.to_string(), raw),
        };
        Self {
            id: m.id.to_string(),
            direction,
            from,
            to,
            contact_id: m.contact_id.to_string(),
            kind,
            content,
            reply_to: m.reply_to,
            status: v1_status(m.status),
            wamid: m.wamid,
            error,
            history,
            broadcast_id: m.broadcast_id.map(|b| b.to_string()),
            attempts: m.attempts,
            pricing: m.pricing,
            held_for_quality_assessment: m.held_for_quality_assessment,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}
