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
    /// Sent, and held by Meta while it judges a paced (usually marketing) template's quality;
    /// delivered once Meta releases them, or failed with 132015 if it pauses the template.
    pub held_for_quality_assessment: u64,
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
    /// Template parameters filled from each contact.
    pub personalization: Vec<Personalization>,
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

/// One recipient of a broadcast: what the fan-out decided, and its message if one was made.
#[derive(Clone, Debug)]
pub struct BroadcastRecipient {
    pub contact_id: ContactId,
    /// `queued` (a message was made) or why not (`skipped_opted_out`, `skipped_no_consent`,
    /// `skipped_invalid`, `skipped_plan_limit`).
    pub outcome: String,
    /// None once retention removed it.
    pub message: Option<super::Message>,
}

/// A contact's value that fills a template parameter of a broadcast, per contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactField {
    Name,
    /// In E.164, with its `+`.
    Phone,
    UserId,
    Attribute(String),
}

impl ContactField {
    /// `name`, `phone`, `user_id` or `attributes.<name>`.
    pub fn parse(input: &str) -> Result<Self, super::Invalid> {
        match input {
            "name" => Ok(Self::Name),
            "phone" => Ok(Self::Phone),
            "user_id" => Ok(Self::UserId),
            other => match other.strip_prefix("attributes.") {
                Some(name) => Ok(Self::Attribute(super::Attributes::parse_name(name)?)),
                None => Err(super::Invalid::new(
                    "field is name, phone, user_id or attributes.<name>",
                )),
            },
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            Self::Name => "name".into(),
            Self::Phone => "phone".into(),
            Self::UserId => "user_id".into(),
            Self::Attribute(a) => format!("attributes.{a}"),
        }
    }

    /// The contact's value, if it has one.
    pub fn of(&self, c: &super::Contact) -> Option<String> {
        match self {
            Self::Name => c.name.as_ref().map(|n| n.as_str().to_owned()),
            Self::Phone => c.phone.as_ref().map(|p| p.e164().to_owned()),
            Self::UserId => c.user_id.as_ref().map(|u| u.as_str().to_owned()),
            Self::Attribute(a) => c.attributes.map().get(a).cloned(),
        }
        .filter(|v| !v.trim().is_empty())
    }
}

/// Which parameter of the broadcast's template a [`Personalization`] fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterSlot {
    Header(usize),
    Body(usize),
    /// A button's parameter, by the button's index.
    Button(usize),
}

/// One template parameter of a broadcast filled from each contact: its `field`, or `fallback`
/// when the contact has no such value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Personalization {
    pub slot: ParameterSlot,
    pub field: ContactField,
    pub fallback: String,
}

/// Most personalised parameters in one broadcast.
pub const MAX_PERSONALIZATIONS: usize = 20;

impl Personalization {
    /// Checks that each one names a text parameter the template message has (positions from 1).
    pub fn check_all(rules: &[Personalization], template: &Template) -> Result<(), super::Invalid> {
        if rules.len() > MAX_PERSONALIZATIONS {
            return Err(super::Invalid::new(format!(
                "at most {MAX_PERSONALIZATIONS} personalised parameters"
            )));
        }
        let mut probe = template.clone();
        for r in rules {
            if r.fallback.trim().is_empty() || r.fallback.chars().count() > 1024 {
                return Err(super::Invalid::new("fallback is 1 to 1,024 characters"));
            }
            if slot_text(&mut probe, r.slot).is_none() {
                return Err(super::Invalid::new(
                    "names no text parameter of the template's components (positions count from 1)",
                ));
            }
        }
        Ok(())
    }

    /// The template message for one contact: each rule's parameter set to the contact's value.
    pub fn apply(rules: &[Personalization], template: &Template, c: &super::Contact) -> Template {
        let mut t = template.clone();
        for r in rules {
            if let Some(text) = slot_text(&mut t, r.slot) {
                *text = r.field.of(c).unwrap_or_else(|| r.fallback.clone());
            }
        }
        t
    }
}

/// The text of the parameter at `slot`, if the message has one there that holds text.
fn slot_text(t: &mut Template, slot: ParameterSlot) -> Option<&mut String> {
    use crate::graph::messages::{ButtonParameter, Component, Parameter};
    fn text_of(p: &mut Parameter) -> Option<&mut String> {
        match p {
            Parameter::Text { text, .. } => Some(text),
            _ => None,
        }
    }
    for c in &mut t.components {
        match (c, slot) {
            (Component::Header { parameters }, ParameterSlot::Header(n))
            | (Component::Body { parameters }, ParameterSlot::Body(n)) => {
                return parameters.get_mut(n.checked_sub(1)?).and_then(text_of);
            }
            (
                Component::Button {
                    index, parameters, ..
                },
                ParameterSlot::Button(i),
            ) if index.parse::<usize>().ok() == Some(i) => {
                return match parameters.first_mut()? {
                    ButtonParameter::Payload { payload } => Some(payload),
                    ButtonParameter::Text { text } => Some(text),
                    ButtonParameter::CouponCode { coupon_code } => Some(coupon_code),
                    ButtonParameter::Action { .. } => None,
                };
            }
            _ => {}
        }
    }
    None
}
