//! Messages as the API sends and lists them: a send is checked against the sending rules
//! (number, recipient, consent, window, plan), stored with its content sealed and queued for
//! the sender ([`super::sender`]), which alone talks to Meta.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{App, ServiceError};
use crate::domain::{
    month_of, now, AccountId, Body, Bsuid, Contact, ContactId, Message, MessageId, MessageStatus,
    PhoneNumber, PhoneNumberId, Timestamp, UsageDelta,
};
use crate::graph::messages::Content;
use crate::ports::{Condition, Cursor, Item, Key, OutgoingMessage, StoreError};
use crate::records::{self, message, sending, to_millis, usage};

/// Who a message is for, as the caller names them.
#[derive(Clone, Debug)]
pub enum Recipient {
    Contact(ContactId),
    Phone(PhoneNumber),
    UserId(Bsuid),
}

#[derive(Clone, Debug)]
pub struct NewMessage {
    pub from: PhoneNumberId,
    pub to: Recipient,
    pub content: Content,
    /// The wamid of the message this one answers.
    pub reply_to: Option<String>,
}

/// The queue message that asks the sender to send one stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTask {
    pub account_id: AccountId,
    pub message_id: MessageId,
}

/// Filters of `GET /v1/messages`.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
}

/// A new outbound message, queued, as the API or a broadcast makes it.
pub(crate) fn queued_message(
    number: PhoneNumberId,
    contact: &Contact,
    address: String,
    content: Content,
) -> Message {
    Message::new(
        MessageId::generate(),
        number,
        contact.id.clone(),
        address,
        Body::Outbound(content),
        MessageStatus::Queued,
        now(),
    )
}

impl App {
    /// Checks the sending rules, stores the message (content sealed) and queues it.
    pub async fn send_message(
        &self,
        account: &AccountId,
        new: NewMessage,
    ) -> Result<Message, ServiceError> {
        let number = self.sending_number(account, &new.from).await?;
        let template = match &new.content {
            Content::Template { template } => Some(
                self.check_template_message(account, &number.waba_id, template)
                    .await?,
            ),
            _ => None,
        };
        let contact = self.recipient(account, &new.to).await?;
        let to = contact.address().ok_or(ServiceError::RecipientNotFound)?;
        if contact.phone.is_none() && template.is_some_and(|t| !t.reaches_user_ids()) {
            return Err(ServiceError::invalid(
                "to",
                "this contact has only a user id, and Meta does not deliver authentication templates with one-tap, zero-tap or copy-code buttons to user ids (error 131062)",
            ));
        }
        if new.content.is_template() {
            if contact.opt_out.is_some() {
                return Err(ServiceError::RecipientOptedOut);
            }
            if !contact.opted_in() {
                return Err(ServiceError::RecipientNotOptedIn);
            }
        } else if !self.window_open(account, &new.from, &contact.id).await? {
            return Err(ServiceError::OutsideServiceWindow);
        }
        let template = u64::from(new.content.is_template());
        self.check_send_allowance(account, template).await?;
        let mut message = queued_message(new.from, &contact, to, new.content);
        message.reply_to = new.reply_to;
        let stored = self.message_items(account, &message).await?;
        let counters = usage::count(
            account,
            &month_of(now()),
            &message.id.to_string(),
            UsageDelta {
                queued: 1,
                templates: template as i64,
                ..Default::default()
            },
        );
        // Plain writes cost half the units of one transaction. A crash between them leaves
        // a content that expires unread, or a `queued` message that was never handed to the
        // sender and is not counted.
        if let Some(content) = stored.content {
            self.items.put(content, None).await?;
        }
        self.items
            .put(stored.item, Some(Condition::NotExists))
            .await?;
        self.items.update(counters).await?;
        self.queue_send(account, &message.id, Duration::ZERO)
            .await?;
        tracing::info!(account_id = %account, message_id = %message.id, kind = message.body.kind(), "message queued");
        crate::metrics::count("messages_queued", 1, &[("type", message.body.kind())]);
        Ok(message)
    }

    /// A connected number of the account that Meta lets send.
    pub(crate) async fn sending_number(
        &self,
        account: &AccountId,
        from: &PhoneNumberId,
    ) -> Result<crate::domain::WhatsAppNumber, ServiceError> {
        let number = match self.number(account, from).await {
            Ok(n) => n,
            Err(ServiceError::NotFound) => return Err(ServiceError::NumberNotConnected),
            Err(e) => return Err(e),
        };
        if let Some(stop) = &number.sending_stopped {
            return Err(ServiceError::NumberStopped {
                code: stop.code,
                reason: stop.reason.clone(),
            });
        }
        Ok(number)
    }

    /// Opens (or extends) the customer service window until `until`; inbound messages do this.
    pub async fn open_window(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        contact: &ContactId,
        until: Timestamp,
    ) -> Result<(), ServiceError> {
        let (item, later) = sending::window_until(account, number, contact, to_millis(until));
        match self.items.put(item, Some(later)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The customer service window: open for 24 h after the contact's last message to this
    /// number. Inbound messages (the webhook) open it.
    pub async fn window_open(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        contact: &ContactId,
    ) -> Result<bool, ServiceError> {
        let window = self
            .items
            .get(&sending::window(account, number, contact))
            .await?;
        Ok(window
            .as_ref()
            .and_then(sending::open_until_ms)
            .is_some_and(|until| until > to_millis(now())))
    }

    async fn recipient(
        &self,
        account: &AccountId,
        to: &Recipient,
    ) -> Result<Contact, ServiceError> {
        let found = match to {
            Recipient::Contact(id) => match self.contact(account, id).await {
                Ok(c) => Some(c),
                Err(ServiceError::NotFound) => None,
                Err(e) => return Err(e),
            },
            Recipient::Phone(p) => self.find_contact_by_phone(account, p).await?,
            Recipient::UserId(u) => self.find_contact_by_user_id(account, u).await?,
        };
        found.ok_or(ServiceError::RecipientNotFound)
    }

    /// Hands a stored message to the sender after `delay` (at most the queue's).
    pub async fn queue_send(
        &self,
        account: &AccountId,
        id: &MessageId,
        delay: Duration,
    ) -> Result<(), ServiceError> {
        self.queue_sends(account, std::slice::from_ref(id), delay)
            .await
    }

    /// Hands stored messages to the sender, each after `delay` (at most the queue's).
    pub(crate) async fn queue_sends(
        &self,
        account: &AccountId,
        ids: &[MessageId],
        delay: Duration,
    ) -> Result<(), ServiceError> {
        let delay = delay.min(crate::ports::queue::MAX_DELAY);
        let mut bodies = ids
            .iter()
            .map(|id| {
                let task = SendTask {
                    account_id: account.clone(),
                    message_id: id.clone(),
                };
                serde_json::to_string(&task).map(|b| OutgoingMessage::new(b).delayed(delay))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        let sent = match bodies.len() {
            0 => return Ok(()),
            1 => self.send_queue.send(bodies.remove(0)).await.map(|_| ()),
            _ => self.send_queue.send_batch(bodies).await.map(|_| ()),
        };
        sent.map_err(|e| ServiceError::Queue(e.to_string()))
    }

    pub async fn message(
        &self,
        account: &AccountId,
        id: &MessageId,
    ) -> Result<Message, ServiceError> {
        let item = self
            .message_item(account, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.message_of(account, &item).await
    }

    /// A message's item: where messages are, or where one stored before the shards is.
    pub(crate) async fn message_item(
        &self,
        account: &AccountId,
        id: &MessageId,
    ) -> Result<Option<Item>, ServiceError> {
        for key in message::keys(account, id) {
            if let Some(item) = self.items.get(&key).await? {
                return Ok(Some(item));
            }
        }
        Ok(None)
    }

    /// Messages' items by account and id, in order (`None` for one there is not): read where
    /// messages are in one batch, then those not there where messages stored before the
    /// shards are, in another. Writes to one go to its item's key.
    pub(crate) async fn message_items_at(
        &self,
        ids: &[(&AccountId, &MessageId)],
    ) -> Result<Vec<Option<Item>>, ServiceError> {
        let keys: Vec<_> = ids.iter().map(|(a, m)| message::keys(a, m)).collect();
        let now: Vec<Key> = keys.iter().map(|[now, _]| now.clone()).collect();
        let mut items = self.items.batch_get(&now).await?;
        let missing: Vec<usize> = (0..items.len()).filter(|&i| items[i].is_none()).collect();
        if !missing.is_empty() {
            let before: Vec<Key> = missing.iter().map(|&i| keys[i][1].clone()).collect();
            for (i, item) in missing
                .into_iter()
                .zip(self.items.batch_get(&before).await?)
            {
                items[i] = item;
            }
        }
        Ok(items)
    }

    /// A message from its item, with its content read beside it when that is apart.
    pub(crate) async fn message_of(
        &self,
        account: &AccountId,
        item: &Item,
    ) -> Result<Message, ServiceError> {
        let apart = match message::content_key(item) {
            Some(key) => self.items.get(&key).await?,
            None => None,
        };
        let sealer = self.sealer(account, message::SEALED).await?;
        Ok(message::from_items(&sealer, item, apart.as_ref())?)
    }

    /// Messages from their items, with the contents kept apart read in batches.
    pub(crate) async fn messages_of(
        &self,
        account: &AccountId,
        items: &[Item],
    ) -> Result<Vec<Message>, ServiceError> {
        let apart =
            records::companions(&*self.items, items.iter().filter_map(message::content_key))
                .await?;
        let sealer = self
            .sealer(account, items.len() as u64 * message::SEALED)
            .await?;
        Ok(items
            .iter()
            .map(|item| {
                let content = message::content_key(item).and_then(|k| apart.get(&k));
                message::from_items(&sealer, item, content)
            })
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// A page of messages a query finds.
    pub(crate) async fn list_messages(
        &self,
        account: &AccountId,
        query: crate::ports::Query,
    ) -> Result<(Vec<Message>, Option<Cursor>), ServiceError> {
        let page = self.items.query(query).await?;
        Ok((self.messages_of(account, &page.items).await?, page.next))
    }

    /// Messages, newest first, optionally of one status (a page of a status reads about a
    /// page of messages and answers with those of the status, as DynamoDB's filters do):
    /// merged from the shards they are spread over, and the partition of those stored before.
    pub async fn messages(
        &self,
        account: &AccountId,
        filter: &MessageFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Message>, Option<Cursor>), ServiceError> {
        let (items, next) = records::fill_across(
            &*self.items,
            |want| message::newest(account, want),
            &message::places(account),
            limit,
            cursor,
            filter.status.map(message::with_status).as_ref(),
            limit,
        )
        .await?;
        Ok((self.messages_of(account, &items).await?, next))
    }

    /// The items of a message of `account`'s, expiring by the tenant's retention policy.
    pub(crate) async fn message_items(
        &self,
        account: &AccountId,
        m: &Message,
    ) -> Result<message::MessageItems, ServiceError> {
        let sealer = self.sealer(account, 2).await?;
        let expires_at = self.message_expiry(account, m.created_at).await?;
        Ok(message::to_items(&sealer, m, expires_at)?)
    }
}
