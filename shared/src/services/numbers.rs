//! WhatsApp business numbers connected to an account, and the routing entry that sends a
//! webhook for a number to its tenant.

use super::accounts::{corrupt, not_found_if_absent};
use super::{from_millis, to_millis, App, ServiceError};
use crate::domain::{
    now, AccessToken, AccountId, PhoneNumber, PhoneNumberId, SendingStopped, WabaId,
    WhatsAppNumber, DEFAULT_MESSAGES_PER_SECOND,
};
use crate::ports::{Condition, Cursor, Item, Query, StoreError, Update, Value, Write};
use crate::table;

const ENTITY: &str = "number";

pub struct NewNumber {
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    pub display_phone_number: PhoneNumber,
    pub access_token: AccessToken,
}

/// A correction or a token rotation; `None` leaves a field as it is.
#[derive(Default)]
pub struct NumberChanges {
    pub waba_id: Option<WabaId>,
    pub display_phone_number: Option<PhoneNumber>,
    /// A new token also lifts a stop caused by the old one.
    pub access_token: Option<AccessToken>,
    pub messages_per_second: Option<u32>,
}

impl App {
    /// Connects a number to the account. A number belongs to one tenant at a time: the routing
    /// entry is written only if absent, in the same transaction as the number itself.
    pub async fn connect_number(
        &self,
        account: &AccountId,
        new: NewNumber,
    ) -> Result<WhatsAppNumber, ServiceError> {
        self.check_plan_numbers(account, &new.phone_number_id)
            .await?;
        let at = now();
        let number = WhatsAppNumber {
            phone_number_id: new.phone_number_id,
            waba_id: new.waba_id,
            display_phone_number: new.display_phone_number,
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            sending_stopped: None,
            created_at: at,
            updated_at: at,
        };
        let key = table::number(account, &number.phone_number_id);
        let display = self
            .seal(
                account,
                ENTITY,
                &key,
                "display_phone_number",
                number.display_phone_number.e164(),
            )
            .await?;
        let token = self
            .seal(
                account,
                ENTITY,
                &key,
                "access_token",
                new.access_token.expose(),
            )
            .await?;
        let item = Item::new(key)
            .with("waba_id", Value::S(number.waba_id.as_str().into()))
            .with("display_phone_number", display)
            .with("access_token", token)
            .with(
                "messages_per_second",
                Value::N(i64::from(DEFAULT_MESSAGES_PER_SECOND)),
            )
            .with("created_at", Value::N(to_millis(at)))
            .with("updated_at", Value::N(to_millis(at)));
        let route = Item::new(table::number_route(&number.phone_number_id))
            .with("account_id", Value::S(account.to_string()));
        // WABA-level webhooks (template and quality updates) go to the tenant that last
        // connected one of the WABA's numbers.
        let waba_route = Item::new(table::waba_route(number.waba_id.as_str()))
            .with("account_id", Value::S(account.to_string()));
        self.items
            .transact(vec![
                Write::put_new(route),
                Write::put_new(item),
                Write::put(waba_route),
            ])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NumberAlreadyConnected,
                e => ServiceError::Store(e),
            })?;
        self.routes.forget(number.phone_number_id.as_str());
        self.routes
            .forget(&format!("waba:{}", number.waba_id.as_str()));
        tracing::info!(account_id = %account, "number connected");
        Ok(number)
    }

    pub async fn numbers(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<WhatsAppNumber>, Option<Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                Query::partition(table::account_partition(account))
                    .begins_with(table::NUMBER_PREFIX)
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let mut numbers = Vec::with_capacity(page.items.len());
        for item in &page.items {
            numbers.push(self.number_from_item(account, item).await?);
        }
        Ok((numbers, page.next))
    }

    pub async fn number(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<WhatsAppNumber, ServiceError> {
        let item = self
            .items
            .get(&table::number(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.number_from_item(account, &item).await
    }

    pub async fn update_number(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
        changes: NumberChanges,
    ) -> Result<WhatsAppNumber, ServiceError> {
        let key = table::number(account, id);
        let mut update = Update::new(key.clone())
            .set("updated_at", Value::N(to_millis(now())))
            .when(Condition::Exists);
        if let Some(waba) = &changes.waba_id {
            update = update.set("waba_id", Value::S(waba.as_str().into()));
        }
        if let Some(display) = &changes.display_phone_number {
            let sealed = self
                .seal(
                    account,
                    ENTITY,
                    &key,
                    "display_phone_number",
                    display.e164(),
                )
                .await?;
            update = update.set("display_phone_number", sealed);
        }
        if let Some(rate) = changes.messages_per_second {
            update = update.set("messages_per_second", Value::N(i64::from(rate)));
        }
        if let Some(token) = &changes.access_token {
            update = update.remove("sending_stopped");
            let sealed = self
                .seal(account, ENTITY, &key, "access_token", token.expose())
                .await?;
            update = update.set("access_token", sealed);
        }
        let item = self
            .items
            .update(update)
            .await
            .map_err(not_found_if_absent)?;
        tracing::info!(account_id = %account, "number updated");
        self.number_from_item(account, &item).await
    }

    /// Removes the number and its routing entry; webhooks for it are then ignored.
    pub async fn disconnect_number(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<(), ServiceError> {
        self.items
            .transact(vec![
                Write::Delete {
                    key: table::number(account, id),
                    condition: Some(Condition::Exists),
                },
                Write::Delete {
                    key: table::number_route(id),
                    condition: Some(Condition::Equals(
                        "account_id".into(),
                        Value::S(account.to_string()),
                    )),
                },
            ])
            .await
            .map_err(not_found_if_absent)?;
        self.routes.forget(id.as_str());
        tracing::info!(account_id = %account, "number disconnected");
        Ok(())
    }

    /// The number's Graph API token, for sending.
    pub async fn access_token(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<AccessToken, ServiceError> {
        let item = self
            .items
            .get(&table::number(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        let token = self.open(account, ENTITY, &item, "access_token").await?;
        Ok(AccessToken::parse(&token).map_err(corrupt)?)
    }

    /// Stops all sending from a number until its owner acts (a new token, or Meta's review).
    pub async fn stop_sending(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
        code: i64,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let stop = Value::M(
            [
                ("code".to_owned(), Value::N(code)),
                ("reason".to_owned(), Value::S(reason.to_owned())),
                ("at".to_owned(), Value::N(to_millis(now()))),
            ]
            .into(),
        );
        let update = Update::new(table::number(account, id))
            .set("sending_stopped", stop)
            .when(Condition::Exists);
        self.items
            .update(update)
            .await
            .map_err(not_found_if_absent)?;
        tracing::warn!(account_id = %account, code, "number stopped sending");
        Ok(())
    }

    /// The tenant a number's webhooks belong to, if it is connected.
    pub async fn route_number(
        &self,
        id: &PhoneNumberId,
    ) -> Result<Option<AccountId>, ServiceError> {
        match self.items.get(&table::number_route(id)).await? {
            Some(route) => Ok(Some(route.s("account_id")?.parse().map_err(corrupt)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn number_from_item(
        &self,
        account: &AccountId,
        item: &Item,
    ) -> Result<WhatsAppNumber, ServiceError> {
        let id = item
            .key
            .sk
            .strip_prefix(table::NUMBER_PREFIX)
            .ok_or_else(|| StoreError::Corrupt("number sort key".into()))?;
        let display = self
            .open(account, ENTITY, item, "display_phone_number")
            .await?;
        Ok(WhatsAppNumber {
            phone_number_id: PhoneNumberId::parse(id).map_err(corrupt)?,
            waba_id: WabaId::parse(item.s("waba_id")?).map_err(corrupt)?,
            display_phone_number: PhoneNumber::from_meta(&display).map_err(corrupt)?,
            messages_per_second: item
                .opt_n("messages_per_second")
                .map_or(DEFAULT_MESSAGES_PER_SECOND, |n| n as u32),
            sending_stopped: match item.attrs.get("sending_stopped") {
                Some(Value::M(m)) => Some(SendingStopped {
                    code: match m.get("code") {
                        Some(Value::N(n)) => *n,
                        _ => 0,
                    },
                    reason: match m.get("reason") {
                        Some(Value::S(s)) => s.clone(),
                        _ => String::new(),
                    },
                    at: match m.get("at") {
                        Some(Value::N(n)) => from_millis(*n)?,
                        _ => now(),
                    },
                }),
                _ => None,
            },
            created_at: from_millis(item.n("created_at")?)?,
            updated_at: from_millis(item.n("updated_at")?)?,
        })
    }
}
