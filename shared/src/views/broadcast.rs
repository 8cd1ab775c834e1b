//! Broadcasts as the API shows them.

use serde::Serialize;

use crate::domain::Timestamp;
use crate::domain::{
    Audience, Broadcast, BroadcastCounts, BroadcastStatus, ParameterSlot, Personalization,
};
use crate::graph::messages::Template;

#[derive(Serialize)]
pub struct BroadcastView {
    pub id: String,
    pub from: String,
    pub template: Template,
    pub personalization: Vec<PersonalizationView>,
    pub recipients: RecipientsView,
    pub status: BroadcastStatus,
    pub pause_reason: Option<String>,
    pub counts: BroadcastCounts,
    #[serde(with = "time::serde::rfc3339::option")]
    pub send_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<Timestamp>,
}

impl From<Broadcast> for BroadcastView {
    fn from(b: Broadcast) -> Self {
        let recipients = match b.audience {
            Audience::Tags(t) => RecipientsView {
                tags: Some(t.iter().map(|t| t.as_str().to_owned()).collect()),
                contact_ids: None,
            },
            Audience::Contacts(c) => RecipientsView {
                tags: None,
                contact_ids: Some(c.iter().map(ToString::to_string).collect()),
            },
        };
        Self {
            id: b.id.to_string(),
            from: b.from.to_string(),
            template: b.template,
            personalization: b.personalization.iter().map(Into::into).collect(),
            recipients,
            status: b.status,
            pause_reason: b.pause_reason,
            counts: b.counts,
            send_at: b.send_at,
            created_at: b.created_at,
            started_at: b.started_at,
            finished_at: b.finished_at,
        }
    }
}

#[derive(Serialize)]
pub struct RecipientsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_ids: Option<Vec<String>>,
}

/// A personalised template parameter, as the request gave it.
#[derive(Serialize)]
pub struct PersonalizationView {
    pub component: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub fallback: String,
}

impl From<&Personalization> for PersonalizationView {
    fn from(p: &Personalization) -> Self {
        let (component, position, index) = match p.slot {
            ParameterSlot::Header(n) => ("header", Some(n), None),
            ParameterSlot::Body(n) => ("body", Some(n), None),
            ParameterSlot::Button(i) => ("button", None, Some(i)),
        };
        Self {
            component,
            position,
            index,
            field: p.field.as_string(),
            fallback: p.fallback.clone(),
        }
    }
}

/// One recipient of a broadcast: the fan-out's decision and its message's fate.
#[derive(Serialize)]
pub struct RecipientView {
    pub contact_id: String,
    /// `queued` (a message was made) or why not: `skipped_opted_out`, `skipped_no_consent`,
    /// `skipped_invalid`, `skipped_plan_limit`.
    pub outcome: String,
    pub message_id: Option<String>,
    /// As Meta got it: a phone in digits or a BSUID.
    pub to: Option<String>,
    pub status: Option<crate::domain::MessageStatus>,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub queued_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failed_at: Option<Timestamp>,
}

impl RecipientView {
    /// The CSV columns, in order.
    pub const COLUMNS: [&'static str; 12] = [
        "contact_id",
        "outcome",
        "message_id",
        "to",
        "status",
        "error_code",
        "error_title",
        "queued_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
    ];

    /// The row's cells, in [`Self::COLUMNS`] order (times in RFC 3339, empty when absent).
    pub fn cells(&self) -> [String; 12] {
        let t = |t: &Option<Timestamp>| {
            t.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
        };
        [
            self.contact_id.clone(),
            self.outcome.clone(),
            self.message_id.clone().unwrap_or_default(),
            self.to.clone().unwrap_or_default(),
            self.status
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            self.error_code.map(|c| c.to_string()).unwrap_or_default(),
            self.error_title.clone().unwrap_or_default(),
            t(&self.queued_at),
            t(&self.sent_at),
            t(&self.delivered_at),
            t(&self.read_at),
            t(&self.failed_at),
        ]
    }
}

impl From<crate::domain::BroadcastRecipient> for RecipientView {
    fn from(r: crate::domain::BroadcastRecipient) -> Self {
        use crate::domain::MessageStatus as S;
        let m = r.message.as_ref();
        let at = |s: S| m.and_then(|m| m.history.iter().find(|h| h.status == s).map(|h| h.at));
        Self {
            contact_id: r.contact_id.to_string(),
            outcome: r.outcome,
            message_id: m.map(|m| m.id.to_string()),
            to: m.map(|m| m.address.clone()),
            status: m.map(|m| m.status),
            error_code: m.and_then(|m| m.error.as_ref().map(|e| e.code)),
            error_title: m.and_then(|m| m.error.as_ref().map(|e| e.title.clone())),
            queued_at: at(S::Queued),
            sent_at: at(S::Sent),
            delivered_at: at(S::Delivered),
            read_at: at(S::Read),
            failed_at: at(S::Failed),
        }
    }
}
