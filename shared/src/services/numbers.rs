//! WhatsApp business numbers connected to an account, and the routing entry that sends a
//! webhook for a number to its tenant.

use super::accounts::{not_found_if_absent, Principal};
use super::{App, ServiceError};
use crate::domain::{
    now, AccessToken, AccountId, AuditAction, AuditTarget, PhoneNumber, PhoneNumberId,
    SendingStopped, WabaId, WhatsAppNumber, DEFAULT_MESSAGES_PER_SECOND,
};
use crate::graph::GraphError;
use crate::ports::{Cursor, StoreError};
use crate::records::number;

pub struct NewNumber {
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    /// As the caller wrote it; Meta's own is used when absent, and must agree when given.
    pub display_phone_number: Option<PhoneNumber>,
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

/// How a number stands with Meta, from what Meta's webhooks said: its business's messaging
/// limit and the number's latest quality event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberHealth {
    /// Business-initiated recipients a day (Meta's `business_capability_update`).
    pub messaging_limit: Option<u64>,
    /// Meta's latest `phone_number_quality_update` event (`FLAGGED`, `UNFLAGGED`, `UPGRADE`,
    /// `DOWNGRADE`, …), its current limit tier when it said, and when.
    pub quality_event: Option<(String, Option<String>, crate::domain::Timestamp)>,
}

impl App {
    /// The number's standing: its WABA's messaging limit and the latest quality notice among
    /// the account's 200 newest notices.
    pub async fn number_health(
        &self,
        account: &AccountId,
        number: &WhatsAppNumber,
    ) -> Result<NumberHealth, ServiceError> {
        let route = self
            .items
            .get(&crate::table::waba_route(number.waba_id.as_str()))
            .await?;
        let (notices, _) = self.notices(account, 200, None).await?;
        // Meta names the number by its display number in these; a notice may carry our id too.
        let digits = number.display_phone_number.digits();
        let quality = notices.into_iter().find(|n| {
            n.field == "phone_number_quality_update"
                && (n.number.as_ref() == Some(&number.phone_number_id)
                    || n.payload
                        .get("display_phone_number")
                        .and_then(|v| v.as_str())
                        == Some(digits))
        });
        Ok(NumberHealth {
            messaging_limit: route.as_ref().and_then(number::messaging_limit),
            quality_event: quality.map(|n| {
                let tier = n
                    .payload
                    .get("current_limit")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                (n.event.unwrap_or_default(), tier, n.received_at)
            }),
        })
    }

    /// Connects a number to the account once its token proves, at Meta, that the number is
    /// listed under the WABA, and subscribes our app to the WABA's webhooks. A number belongs
    /// to one tenant at a time, and so does a WABA: both routes are written in the same
    /// transaction as the number itself.
    /// Connects a number for `by`, whose role must allow managing numbers.
    pub async fn connect_number_by(
        &self,
        by: &Principal,
        new: NewNumber,
    ) -> Result<WhatsAppNumber, ServiceError> {
        by.require(crate::domain::Permission::ManageNumbers)?;
        self.connect_number(&by.account_id, new).await
    }

    pub async fn connect_number(
        &self,
        account: &AccountId,
        new: NewNumber,
    ) -> Result<WhatsAppNumber, ServiceError> {
        self.check_plan_numbers(account, &new.phone_number_id)
            .await?;
        let proven = self
            .prove_number(&new.phone_number_id, &new.waba_id, &new.access_token)
            .await?;
        let display = match (new.display_phone_number, proven) {
            (Some(given), Some(meta)) if given != meta => {
                return Err(ServiceError::invalid(
                    "display_phone_number",
                    "differs from the number Meta lists for this phone_number_id",
                ))
            }
            (Some(given), _) => given,
            (None, Some(meta)) => meta,
            (None, None) => {
                return Err(ServiceError::invalid(
                    "display_phone_number",
                    "required: Meta did not say which number this is",
                ))
            }
        };
        self.graph
            .subscribe_app(&new.waba_id, &new.access_token)
            .await?;
        let at = now();
        let n = WhatsAppNumber {
            phone_number_id: new.phone_number_id,
            waba_id: new.waba_id,
            display_phone_number: display,
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            sending_stopped: None,
            created_at: at,
            updated_at: at,
        };
        let sealer = self.sealer(account, number::SEALED).await?;
        let item = number::to_item(&sealer, &n, &new.access_token)?;
        self.items
            .transact(number::connect_writes(account, item, &n))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed {
                    index: Some(number::CONNECT_WABA_WRITE),
                } => ServiceError::WabaConnectedElsewhere,
                StoreError::ConditionFailed { .. } => ServiceError::NumberAlreadyConnected,
                e => ServiceError::Store(e),
            })?;
        self.forget_routes(&n.phone_number_id, Some(&n.waba_id));
        tracing::info!(account_id = %account, "number connected");
        // The WABA's templates, so sends are checked against them from the start; a failure
        // here leaves them to the first send, the daily sync or POST /v1/templates/sync.
        if let Err(e) = self
            .sync_waba_templates(account, &n.waba_id, &new.access_token)
            .await
        {
            tracing::warn!(account_id = %account, error = %e, "templates not synced at connect");
        }
        Ok(n)
    }

    /// Asks Meta, with the business's token, whether the WABA lists the number; answers the
    /// display number Meta gives for it. A token Meta refuses, or one that cannot see the
    /// WABA or the number, proves nothing.
    async fn prove_number(
        &self,
        id: &PhoneNumberId,
        waba: &WabaId,
        token: &AccessToken,
    ) -> Result<Option<PhoneNumber>, ServiceError> {
        let listed = match self.graph.waba_number(waba, id, token).await {
            Ok(Some(listed)) => listed,
            Ok(None) => return Err(ServiceError::NumberNotProven { graph_code: None }),
            Err(e) => return Err(not_proven(e)),
        };
        // The number's own node too: the listing alone could be a stale page.
        let node = self
            .graph
            .phone_number(id, token)
            .await
            .map_err(not_proven)?;
        if node.id != id.as_str() {
            return Err(ServiceError::NumberNotProven { graph_code: None });
        }
        let display = node
            .display_phone_number
            .or(listed.display_phone_number)
            .and_then(|d| PhoneNumber::from_meta(&d).ok());
        Ok(display)
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

    /// Corrects a number or replaces its token (audited). A new token or a new WABA is proven
    /// with Meta first, as at connect; moving to another WABA moves the WABA's route with it.
    pub async fn update_number(
        &self,
        by: &Principal,
        id: &PhoneNumberId,
        changes: NumberChanges,
    ) -> Result<WhatsAppNumber, ServiceError> {
        by.require(crate::domain::Permission::ManageNumbers)?;
        let account = &by.account_id;
        let current = self.number(account, id).await?;
        let moves_to = changes.waba_id.clone().filter(|w| *w != current.waba_id);
        if moves_to.is_some() || changes.access_token.is_some() {
            let token = match &changes.access_token {
                Some(t) => t.clone(),
                None => self.access_token(account, id).await?,
            };
            let waba = moves_to.as_ref().unwrap_or(&current.waba_id);
            self.prove_number(id, waba, &token).await?;
            if let Some(to) = &moves_to {
                self.graph.subscribe_app(to, &token).await?;
                self.items
                    .transact(number::move_writes(account, id, &current.waba_id, to))
                    .await
                    .map_err(|e| match e {
                        StoreError::ConditionFailed {
                            index: Some(number::MOVE_WABA_WRITE),
                        } => ServiceError::WabaConnectedElsewhere,
                        e => not_found_if_absent(e),
                    })?;
                self.leave_waba(account, &current.waba_id).await?;
                self.forget_routes(id, Some(to));
            }
        }
        let sealer = self.sealer(account, number::SEALED * 2).await?;
        let mut correction = number::correct(&sealer, id, now());
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

    /// Removes the number, its route and its share of the WABA's route; webhooks for it are
    /// then ignored, and the WABA's too once the account's last number under it goes (audited).
    pub async fn disconnect_number(
        &self,
        by: &Principal,
        id: &PhoneNumberId,
    ) -> Result<(), ServiceError> {
        by.require(crate::domain::Permission::ManageNumbers)?;
        let account = &by.account_id;
        let current = self.number(account, id).await?;
        self.items
            .transact(number::disconnect_writes(account, id, &current.waba_id))
            .await
            .map_err(not_found_if_absent)?;
        self.leave_waba(account, &current.waba_id).await?;
        self.forget_routes(id, Some(&current.waba_id));
        tracing::info!(account_id = %account, "number disconnected");
        self.audit(
            account,
            &by.actor,
            AuditAction::NumberDisconnected,
            Some(AuditTarget::new("number", id)),
        )
        .await
    }

    /// Drops the WABA's route if none of the account's numbers is left under it.
    async fn leave_waba(&self, account: &AccountId, waba: &WabaId) -> Result<(), ServiceError> {
        match self
            .items
            .transact(vec![number::waba_route_if_unused(account, waba)])
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
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

    /// The number's token and, if it may not send, why: read together right before a send, so
    /// a stop (the account closing, a token Meta refused) holds for every send after it.
    pub(crate) async fn sending_credentials(
        &self,
        account: &AccountId,
        id: &PhoneNumberId,
    ) -> Result<(AccessToken, Option<SendingStopped>), ServiceError> {
        self.found_sealed(account, &crate::table::number(account, id), 1, |s, item| {
            Ok((number::access_token(s, item)?, number::stopped(item)?))
        })
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
        self.raise_sending_stopped(account, id, &stop).await
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

/// A Graph error met while proving a number: a refusal of the token or of its reach is the
/// caller's failure to prove; Meta being unreachable or failing is not.
fn not_proven(e: GraphError) -> ServiceError {
    match &e {
        GraphError::Api { status, error } if (400..500).contains(status) && *status != 429 => {
            ServiceError::NumberNotProven {
                graph_code: Some(error.code),
            }
        }
        _ => e.into(),
    }
}
