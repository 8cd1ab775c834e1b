use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BroadcastId, ContactId, PhoneNumberId, Tag, Timestamp};
use crate::graph::messages::Template;

/// Where a broadcast is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastStatus {
    Scheduled,
    Running,
    Paused,
    Completed,
    Canceled,
}

impl BroadcastStatus {
    pub const ALL: [BroadcastStatus; 5] = [
        BroadcastStatus::Scheduled,
        BroadcastStatus::Running,
        BroadcastStatus::Paused,
        BroadcastStatus::Completed,
        BroadcastStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastStatus::Scheduled => "scheduled",
            BroadcastStatus::Running => "running",
            BroadcastStatus::Paused => "paused",
            BroadcastStatus::Completed => "completed",
            BroadcastStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Who a broadcast goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Contacts carrying any of these tags.
    Tags(Vec<Tag>),
    /// These contacts (at most [`MAX_LISTED_CONTACTS`]).
    Contacts(Vec<ContactId>),
}

pub const MAX_LISTED_CONTACTS: usize = 10_000;

/// Every counter of a broadcast; `failed_by_code` keys are Meta's error codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BroadcastCounts {
    pub targeted: u64,
    pub skipped_opted_out: u64,
    pub skipped_no_consent: u64,
    pub skipped_invalid: u64,
    /// Past the plan's broadcast size: the broadcast reaches its first contacts only.
    pub skipped_plan_limit: u64,
    pub queued: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub failed_by_code: BTreeMap<String, u64>,
}

/// Why the fan-out passed a contact over; each is a counter of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    OptedOut,
    NoConsent,
    /// Neither a phone nor a user id to send to.
    Invalid,
    /// Past the plan's broadcast size.
    PlanLimit,
}

#[derive(Clone, Debug)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub from: PhoneNumberId,
    pub template: Template,
    pub audience: Audience,
    pub send_at: Option<Timestamp>,
    pub status: BroadcastStatus,
    /// Why it paused itself (Meta's error), or who paused it.
    pub pause_reason: Option<String>,
    pub counts: BroadcastCounts,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}
