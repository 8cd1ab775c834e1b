//! WhatsApp business numbers connected to an account, and the routing entry that sends a
//! webhook for a number to its tenant.

use super::accounts::{not_found_if_absent, Principal};
use super::{App, ServiceError};
use crate::domain::{
    now, AccessToken, AccountId, AuditAction, AuditTarget, PhoneNumber, PhoneNumberId,
    SendingStopped, WabaId, WhatsAppNumber, DEFAULT_MESSAGES_PER_SECOND,
};
use crate::ports::{Cursor, StoreError};
use crate::records::number;

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
        let n = WhatsAppNumber {
            phone_number_id: new.phone_number_id,
            waba_id: new.waba_id,
            display_phone_number: new.display_phone_number,
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            sending_stopped: None,
            created_at: at,
            updated_at: at,
        };
        let sealer = self.sealer(account, number::SEALED).await?;
        let item = number::to_item(&sealer, &n, &new.access_token)?;
        // WABA-level webhooks (template and quality updates) go to the tenant that last
        // connected one of the WABA's numbers.
        self.items
            .transact(number::connect_writes(account, item, &n))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NumberAlreadyConnected,
                e => ServiceError::Store(e),
            })?;
        self.forget_routes(&n.phone_number_id, Some(&n.waba_id));
        tracing::info!(account_id = %account, "number connected");
        Ok(n)
    }

    pub async fn numbers(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<WhatsAppNumber>, Option<Cursor>), ServiceError> {
        let query = number::all(account).limit(limit).after(cursor);
        self.list_sealed(account, query, number::SEALED, number::from_item)
            .await
    }

    pub async fn number(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<WhatsAppNumber, ServiceError> {
        self.found_sealed(
            account,
            &crate::table::number(account, id),
            number::SEALED,
            number::from_item,
        )
        .await
    }

    /// Corrects a number or replaces its token (audited).
    pub async fn update_number(
        &self,
        by: &Principal,
        id: &PhoneNumberId,
        changes: NumberChanges,
    ) -> Result<WhatsAppNumber, ServiceError> {
        let account = &by.account_id;
        let sealer = self.sealer(account, number::SEALED * 2).await?;
        let mut correction = number::correct(&sealer, id, now());
        if let Some(waba) = &changes.waba_id {
            correction = correction.waba_id(waba);
        }
        if let Some(display) = &changes.display_phone_number {
            correction = correction.display_phone_number(display)?;
        }
        if let Some(rate) = changes.messages_per_second {
            correction = correction.messages_per_second(rate);
        }
        let replaces_token = changes.access_token.is_some();
        if let Some(token) = &changes.access_token {
            correction = correction.access_token(token)?;
        }
        let item = self
            .items
            .update(correction.into_update())
            .await
            .map_err(not_found_if_absent)?;
        tracing::info!(account_id = %account, "number updated");
        let action = match replaces_token {
            true => AuditAction::NumberTokenReplaced,
            false => AuditAction::NumberCorrected,
        };
        self.audit(
            account,
            &by.actor,
            action,
            Some(AuditTarget::new("number", id)),
        )
        .await?;
        Ok(number::from_item(&sealer, &item)?)
    }

    /// Removes the number and its routing entry; webhooks for it are then ignored (audited).
    pub async fn disconnect_number(
        &self,
        by: &Principal,
        id: &PhoneNumberId,
    ) -> Result<(), ServiceError> {
        let account = &by.account_id;
        self.items
            .transact(number::disconnect_writes(account, id))
            .await
            .map_err(not_found_if_absent)?;
        self.forget_routes(id, None);
        tracing::info!(account_id = %account, "number disconnected");
        self.audit(
            account,
            &by.actor,
            AuditAction::NumberDisconnected,
            Some(AuditTarget::new("number", id)),
        )
        .await
    }

    /// The number's Graph API token, for sending.
    pub async fn access_token(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<AccessToken, ServiceError> {
        self.found_sealed(
            account,
            &crate::table::number(account, id),
            1,
            number::access_token,
        )
        .await
    }

    /// Stops all sending from a number until its owner acts (a new token, or Meta's review).
    pub async fn stop_sending(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
        code: i64,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let stop = SendingStopped {
            code,
            reason: reason.to_owned(),
            at: now(),
        };
        self.items
            .update(number::stop_sending(account, id, &stop))
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
        match self.items.get(&crate::table::number_route(id)).await? {
            Some(route) => Ok(Some(number::route_target(&route)?)),
            None => Ok(None),
        }
    }
}
