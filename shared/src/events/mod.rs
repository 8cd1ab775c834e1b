//! Events to the business's own systems: the envelope a receiver gets, its Standard Webhooks
//! signature, and the guarded client that delivers it.
//!
//! A body is `{"type", "timestamp", "data"}` (the specification's recommended shape); the
//! event's id travels in `webhook-id`, the send time in `webhook-timestamp`.

pub mod guard;
pub mod signature;

use serde::{Deserialize, Serialize};

use crate::domain::{EventId, EventType, Timestamp};

/// One event: what happened, when, and its documented body (openapi.yaml, `webhooks`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: Timestamp,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(
        id: EventId,
        kind: EventType,
        timestamp: Timestamp,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id,
            kind,
            timestamp,
            data,
        }
    }

    /// The bytes a receiver gets (and the signature covers).
    pub fn body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: EventType,
            #[serde(with = "time::serde::rfc3339")]
            timestamp: Timestamp,
            data: &'a serde_json::Value,
        }
        serde_json::to_vec(&Body {
            kind: self.kind,
            timestamp: self.timestamp,
            data: &self.data,
        })
        .unwrap_or_default()
    }
}
