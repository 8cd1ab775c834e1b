//! Inbound messages: stored once by wamid in the contact's thread (the contact found by the
//! blind index of its phone or BSUID, or created without consent), opening the 24-hour
//! window and applying STOP-style keywords.

use super::super::{App, ServiceError};
use super::Ingested;
use crate::domain::{
    now, AccountId, Body, Bsuid, Contact, ContactName, MediaKind, Message, MessageError, MessageId,
    MessageStatus, PhoneNumber, PhoneNumberId, Username, SERVICE_WINDOW,
};
use crate::ports::{StoreError, Write};
use crate::records::{self, conversation, from_millis};
use crate::webhook::{ContactProfile, InboundMessage, UserPreference};

/// Who an inbound event is from, as it names them.
struct Inbound {
    phone: Option<PhoneNumber>,
    user_id: Option<Bsuid>,
    name: Option<ContactName>,
    username: Option<Username>,
}

impl App {
    pub(crate) async fn ingest_message(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        profiles: &[ContactProfile],
        m: &InboundMessage,
    ) -> Result<Ingested, ServiceError> {
        if let Some(lookup) = self.items.get(&records::message::lookup(&m.wamid)).await? {
            // Raised again: had the first delivery of this webhook stopped between storing
            // and queueing its events, they would be lost (its id makes it one event).
            if records::message::owner_of(&lookup) == Some(account.to_string().as_str()) {
                let id = records::message::looked_up(&lookup)?;
                if let Ok(message) = self.message(account, &id).await {
                    self.raise_message_received(account, &message).await?;
                }
            }
            return Ok(Ingested::Duplicate);
        }
        let profile = profiles
            .iter()
            .find(|p| {
                (m.from.is_some() && p.wa_id == m.from)
                    || (m.from_user_id.is_some() && p.user_id == m.from_user_id)
            })
            .or(profiles.first().filter(|_| profiles.len() == 1));
        let phone = m
            .from
            .as_deref()
            .and_then(|d| PhoneNumber::from_meta(d).ok());
        let user_id = m
            .from_user_id
            .as_deref()
            .or(profile.and_then(|p| p.user_id.as_deref()))
            .and_then(|u| Bsuid::parse(u).ok());
        let name = profile
            .and_then(|p| p.profile.as_ref())
            .and_then(|p| p.name.as_deref())
            .and_then(|n| ContactName::parse(n).ok());
        let username = profile
            .and_then(|p| p.profile.as_ref())
            .and_then(|p| p.username.as_deref())
            .and_then(|u| Username::parse(u).ok());
        let who = Inbound {
            phone,
            user_id,
            name,
            username,
        };
        let Some(contact) = self.inbound_contact(account, who).await? else {
            // Neither a phone nor a user id we can read: kept for operators, not lost.
            let body =
                serde_json::to_vec(&m.raw).map_err(|e| StoreError::Invalid(e.to_string()))?;
            self.keep_dead_letter(
                Some("messages"),
                "the sender is neither a phone nor a user id",
                &body,
                Some(account),
            )
            .await?;
            return Ok(Ingested::Ignored);
        };
        let at = from_millis(m.timestamp * 1000)?;
        let address = m.from.clone().or_else(|| m.from_user_id.clone());
        let body = Body::Inbound {
            kind: m.kind.clone(),
            raw: m.raw.clone(),
        };
        let message = Message {
            reply_to: m.context_id.clone(),
            wamid: Some(m.wamid.clone()),
            error: inbound_error(m),
            updated_at: now(),
            ..Message::new(
                MessageId::generate_at(at),
                number.clone(),
                contact.id.clone(),
                address.unwrap_or_default(),
                body,
                MessageStatus::Received,
                at,
            )
        };
        // Effects first, each idempotent: if the record below fails, Meta's retry redoes them
        // harmlessly; once the record exists, a retry stops at the wamid check above.
        if m.kind != "system" {
            self.open_window(account, number, &contact.id, at + SERVICE_WINDOW)
                .await?;
        }
        self.apply_keywords(account, &contact, m).await?;
        if let Some(new_number) = m.changed_number() {
            self.follow_number_change(account, &contact, new_number)
                .await?;
        }
        if let Some(new_id) = m.changed_user_id() {
            self.follow_user_id_change(account, &contact, new_id)
                .await?;
        }
        if let Ok(kind) = MediaKind::parse(&m.kind) {
            if let Some(object) = m.raw.get(&m.kind) {
                self.note_inbound_media(account, number, kind, object)
                    .await?;
            }
        }
        let preview = m.typed_text().first().map(|t| t.to_string());
        self.note_in_conversation(account, &message, preview.as_deref())
            .await?;
        let mut writes = vec![Write::put_new(records::message::lookup_item(
            account,
            &m.wamid,
            &message.id,
            self.message_expiry(account, message.created_at).await?,
        ))];
        writes.extend(self.message_items(account, &message).await?.puts());
        writes.push(Write::Update(conversation::unread_increment(
            account,
            &contact.id,
        )));
        match self.items.transact(writes).await {
            Ok(()) => {}
            // Stored concurrently by another delivery of the webhook, which raises the event.
            Err(StoreError::ConditionFailed { index: Some(0) }) => return Ok(Ingested::Duplicate),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account_id = %account, message_id = %message.id, kind = %m.kind, "inbound message stored");
        self.raise_message_received(account, &message).await?;
        Ok(Ingested::Stored)
    }

    /// `user_preferences`: stop or resume marketing messages.
    pub(crate) async fn ingest_preference(
        &self,
        account: &AccountId,
        profiles: &[ContactProfile],
        p: &UserPreference,
    ) -> Result<(), ServiceError> {
        let phone = p
            .wa_id
            .as_deref()
            .and_then(|d| PhoneNumber::from_meta(d).ok());
        let user_id = p.user_id.as_deref().and_then(|u| Bsuid::parse(u).ok());
        let name = profiles
            .iter()
            .find(|c| c.wa_id.is_some() && c.wa_id == p.wa_id)
            .and_then(|c| c.profile.as_ref())
            .and_then(|c| c.name.as_deref())
            .and_then(|n| ContactName::parse(n).ok());
        let who = Inbound {
            phone,
            user_id,
            name,
            username: None,
        };
        let Some(contact) = self.inbound_contact(account, who).await? else {
            return Ok(());
        };
        let marketing = p
            .category
            .as_deref()
            .is_none_or(|c| c == "marketing_messages");
        match p.value.as_str() {
            "stop" if marketing => {
                self.opt_out(
                    account,
                    &contact.id,
                    "stopped marketing messages on WhatsApp",
                )
                .await
            }
            "resume" if marketing => self.lift_opt_out(account, &contact.id).await,
            _ => Ok(()),
        }
    }

    /// The contact an inbound event is from: found by phone, then by BSUID, else created
    /// (without consent). What the event adds (a BSUID, a profile name) is recorded, and a
    /// username as Meta now gives it (users change theirs).
    async fn inbound_contact(
        &self,
        account: &AccountId,
        who: Inbound,
    ) -> Result<Option<Contact>, ServiceError> {
        let Inbound {
            phone,
            user_id,
            name,
            username,
        } = who;
        let mut found = None;
        if let Some(p) = &phone {
            found = self.find_contact_by_phone(account, p).await?;
        }
        if let (None, Some(u)) = (&found, &user_id) {
            found = self.find_contact_by_user_id(account, u).await?;
        }
        if let Some(c) = found {
            let changes = super::super::ContactChanges {
                user_id: (c.user_id.is_none() && user_id.is_some()).then_some(user_id),
                phone: (c.phone.is_none() && phone.is_some()).then_some(phone),
                name: (c.name.is_none() && name.is_some()).then_some(name),
                username: (username.is_some() && c.username != username).then_some(username),
                ..Default::default()
            };
            if changes.user_id.is_none()
                && changes.phone.is_none()
                && changes.name.is_none()
                && changes.username.is_none()
            {
                return Ok(Some(c));
            }
            return match self.update_contact(account, &c.id, changes).await {
                Ok(updated) => Ok(Some(updated)),
                // Another contact holds the new phone or id, or it changed meanwhile: the
                // message still belongs to the contact it was found as.
                Err(ServiceError::ContactExists { .. } | ServiceError::ContactChanged) => {
                    Ok(Some(c))
                }
                Err(e) => Err(e),
            };
        }
        if phone.is_none() && user_id.is_none() {
            return Ok(None);
        }
        let new = super::super::NewContact {
            phone,
            user_id,
            name,
            username,
            ..Default::default()
        };
        match self.create_inbound_contact(account, new).await {
            Ok(c) => Ok(Some(c)),
            // Created by a concurrent delivery.
            Err(ServiceError::ContactExists { existing_id }) => {
                self.contact(account, &existing_id).await.map(Some)
            }
            Err(e) => Err(e),
        }
    }

    async fn apply_keywords(
        &self,
        account: &AccountId,
        contact: &Contact,
        m: &InboundMessage,
    ) -> Result<(), ServiceError> {
        let texts = m.typed_text();
        if texts.is_empty() {
            return Ok(());
        }
        let (stop, resume) = self.keywords(account).await?;
        if texts.iter().any(|t| stop.matches(t)) {
            self.opt_out(account, &contact.id, "sent a stop keyword")
                .await?;
        } else if texts.iter().any(|t| resume.matches(t)) {
            self.lift_opt_out(account, &contact.id).await?;
        }
        Ok(())
    }

    /// A `user_changed_user_id` system message: the contact's BSUID becomes the new one (it
    /// is what a phoneless contact is sent to), unless another contact already has it.
    async fn follow_user_id_change(
        &self,
        account: &AccountId,
        contact: &Contact,
        new_id: &str,
    ) -> Result<(), ServiceError> {
        let Ok(user_id) = Bsuid::parse(new_id) else {
            return Ok(());
        };
        if contact.user_id.as_ref() == Some(&user_id) {
            return Ok(());
        }
        let changes = super::super::ContactChanges {
            user_id: Some(Some(user_id)),
            ..Default::default()
        };
        self.follow_change(account, contact, changes).await
    }

    /// Moves a contact to what Meta now says it is, unless another contact already is that
    /// (or it changed meanwhile): the message still belongs to the contact it was found as.
    async fn follow_change(
        &self,
        account: &AccountId,
        contact: &Contact,
        changes: super::super::ContactChanges,
    ) -> Result<(), ServiceError> {
        match self.update_contact(account, &contact.id, changes).await {
            Ok(_) | Err(ServiceError::ContactExists { .. } | ServiceError::ContactChanged) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A `user_changed_number` system message: the contact's phone becomes the new one,
    /// unless another contact already has it.
    async fn follow_number_change(
        &self,
        account: &AccountId,
        contact: &Contact,
        new_number: &str,
    ) -> Result<(), ServiceError> {
        let Ok(phone) = PhoneNumber::from_meta(new_number) else {
            return Ok(());
        };
        if contact.phone.as_ref() == Some(&phone) {
            return Ok(());
        }
        let changes = super::super::ContactChanges {
            phone: Some(Some(phone)),
            ..Default::default()
        };
        self.follow_change(account, contact, changes).await
    }
}

/// Why Meta could not pass a message on (`unsupported` types carry errors).
fn inbound_error(m: &InboundMessage) -> Option<MessageError> {
    let e = m.raw.get("errors")?.get(0)?;
    Some(MessageError {
        code: e
            .get("code")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        title: e
            .get("title")
            .or_else(|| e.get("message"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        details: e
            .get("error_data")
            .and_then(|d| d.get("details"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}
