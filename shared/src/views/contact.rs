//! Contacts as the API shows them (and the export writes them).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::ConsentRecord;
use crate::domain::{Contact, OptOut, Timestamp};

#[derive(Serialize)]
pub struct ConsentView {
    pub opted_in: bool,
    pub source: Option<String>,
    pub text: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub opted_in_at: Option<Timestamp>,
}

#[derive(Serialize)]
pub struct OptOutView {
    #[serde(with = "time::serde::rfc3339")]
    pub opted_out_at: Timestamp,
    pub reason: String,
}

#[derive(Serialize)]
pub struct ContactView {
    pub id: String,
    pub phone: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    /// The user's WhatsApp username, as Meta last sent it.
    pub username: Option<String>,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub consent: Option<ConsentView>,
    pub opt_out: Option<OptOutView>,
    /// Opted in and not opted out: may receive business-initiated messages.
    pub opted_in: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_history: Option<Vec<ConsentRecordView>>,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            opted_in: c.opted_in(),
            id: c.id.to_string(),
            phone: c.phone.map(|p| p.e164().to_owned()),
            user_id: c.user_id.map(|u| u.as_str().to_owned()),
            name: c.name.map(|n| n.as_str().to_owned()),
            username: c.username.map(|u| u.as_str().to_owned()),
            tags: c.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            attributes: c.attributes.map().clone(),
            consent: c.consent.map(|c| ConsentView {
                opted_in: c.opted_in,
                source: c.source,
                text: c.text,
                opted_in_at: c.opted_in_at,
            }),
            opt_out: c.opt_out.map(|o: OptOut| OptOutView {
                opted_out_at: o.opted_out_at,
                reason: o.reason,
            }),
            created_at: c.created_at,
            updated_at: c.updated_at,
            consent_history: None,
        }
    }
}

#[derive(Serialize)]
pub struct ConsentRecordView {
    pub opted_in: bool,
    pub source: Option<String>,
    pub text: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: Timestamp,
    pub via: String,
}

impl From<ConsentRecord> for ConsentRecordView {
    fn from(r: ConsentRecord) -> Self {
        Self {
            opted_in: r.opted_in,
            source: r.source,
            text: r.text,
            recorded_at: r.recorded_at,
            via: r.via,
        }
    }
}
