//! Broadcasts as the API shows them.

use serde::Serialize;

use crate::domain::Timestamp;
use crate::domain::{Audience, Broadcast, BroadcastCounts, BroadcastStatus};
use crate::graph::messages::Template;

#[derive(Serialize)]
pub struct BroadcastView {
    pub id: String,
    pub from: String,
    pub template: Template,
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
