//! Billing: the subscription folded from payment-provider events (idempotent by event id,
//! order-free), the plan's allowance that gates sending, and the billing details (sealed).
//! Usage counting is in [`usage`].

pub mod usage;

use super::accounts::Principal;
use super::{App, ServiceError};
use crate::domain::AuditAction;
use crate::domain::{
    contains_card_number, month_of, now, AccountId, BillingConfig, Card, Plan, SubscriptionState,
    Timestamp,
};
use crate::payments::{BillingDetails, DetailsChanges, PaymentEvent};
use crate::ports::StoreError;
use crate::records::{billing, contact, from_secs, number};

/// How long an applied event id is remembered (the provider retries for 3 days).
const EVENT_MEMORY_DAYS: i64 = 30;
const NAME_MAX: usize = 200;
const FIELD_MAX: usize = 200;

impl BillingConfig {
    /// `WHATATALK_PLANS` (the JSON itself) or `WHATATALK_PLANS_FILE` (a path to it), else the
    /// built-in `config/plans.json`.
    pub fn from_env() -> Result<Self, crate::domain::Invalid> {
        if let Ok(json) = std::env::var("WHATATALK_PLANS") {
            if !json.trim().is_empty() {
                return Self::parse(&json);
            }
        }
        if let Ok(path) = std::env::var("WHATATALK_PLANS_FILE") {
            let json = std::fs::read_to_string(&path)
                .map_err(|e| crate::domain::Invalid::new(format!("{path}: {e}")))?;
            return Self::parse(&json);
        }
        Ok(Self::default())
    }
}

/// What an account may do, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Billing {
    pub plan: Plan,
    /// `None`: no subscription, the default plan.
    pub state: Option<SubscriptionState>,
    pub sending_allowed: bool,
    /// A past-due subscription may send until then.
    pub grace_until: Option<Timestamp>,
    pub period: Option<(Timestamp, Timestamp)>,
    /// The calendar month (UTC) the allowance counts in, `YYYY-MM`.
    pub month: String,
    pub templates_used: u64,
    pub card: Option<Card>,
    pub details: BillingDetails,
}

impl Billing {
    pub fn allowance_left(&self) -> u64 {
        self.plan
            .included_template_messages
            .saturating_sub(self.templates_used)
    }

    /// A `402` saying why, with the plan and the allowance as they stand.
    fn refusal(&self, reason: impl Into<String>) -> ServiceError {
        ServiceError::PaymentRequired {
            reason: reason.into(),
            plan: self.plan.id.clone(),
            state: self.state.map(|s| s.as_str().to_owned()),
            included: self.plan.included_template_messages,
            used: self.templates_used,
        }
    }
}

/// What became of a payment event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    Duplicate,
    /// A type we do not act on.
    Ignored,
    /// No account is linked to it yet; the provider will deliver it again.
    UnknownAccount,
}

impl App {
    async fn billing_record(&self, account: &AccountId) -> Result<billing::Billing, ServiceError> {
        let item = self.items.get(&billing::key(account)).await?;
        Ok(billing::from_item(item)?)
    }

    /// The account's plan, subscription state, allowance and billing details.
    pub async fn billing(&self, account: &AccountId) -> Result<Billing, ServiceError> {
        let (mut standing, record) = self.standing(account).await?;
        let sealer = self.sealer(account, billing::SEALED).await?;
        standing.details = record.details(&sealer)?;
        Ok(standing)
    }

    /// [`App::billing`] without opening the sealed details: what the send path needs.
    pub(crate) async fn standing(
        &self,
        account: &AccountId,
    ) -> Result<(Billing, billing::Billing), ServiceError> {
        let record = self.billing_record(account).await?;
        let s = &record.subscription;
        let state = s.state();
        let plan = self
            .billing_config
            .plan_or_default(state.and(s.plan.as_deref()))
            .clone();
        let grace_until = s
            .past_due_since()
            .map(|t| t + i64::from(self.billing_config.past_due_grace_days) * 86_400)
            .map(from_secs)
            .transpose()?;
        let at = now();
        let sending_allowed = match state {
            None | Some(SubscriptionState::Trialing | SubscriptionState::Active) => true,
            Some(SubscriptionState::PastDue) => grace_until.is_some_and(|g| at < g),
            Some(SubscriptionState::Unpaid | SubscriptionState::Canceled) => false,
        };
        let period = match s.period {
            Some((a, b)) => Some((from_secs(a)?, from_secs(b)?)),
            None => None,
        };
        let month = month_of(at);
        let templates_used = self.templates_used(account, &month).await?;
        let card = s.card.clone();
        Ok((
            Billing {
                plan,
                state,
                sending_allowed,
                grace_until,
                period,
                month,
                templates_used,
                card,
                details: BillingDetails::default(),
            },
            record,
        ))
    }

    /// Refuses sending that the subscription or the plan's allowance does not cover:
    /// `templates` is how many template messages the send would add this month. What it read
    /// comes back, for a caller with more of the plan to apply.
    pub async fn check_send_allowance(
        &self,
        account: &AccountId,
        templates: u64,
    ) -> Result<Billing, ServiceError> {
        let (b, _) = self.standing(account).await?;
        let refuse = |reason: &str| b.refusal(reason);
        if !b.sending_allowed {
            return Err(refuse(match b.state {
                Some(SubscriptionState::PastDue) => {
                    "the subscription is past due beyond its grace period"
                }
                Some(SubscriptionState::Unpaid) => "the subscription is unpaid",
                _ => "the subscription is canceled",
            }));
        }
        if templates > 0
            && b.plan.overage.is_none()
            && b.templates_used + templates > b.plan.included_template_messages
        {
            return Err(refuse(
                "the plan's template messages for this month are used up and it has no overage",
            ));
        }
        Ok(b)
    }

    /// Refuses connecting a number beyond the plan's count (connecting one again is left to
    /// its own answer).
    pub(crate) async fn check_plan_numbers(
        &self,
        account: &AccountId,
        id: &crate::domain::PhoneNumberId,
    ) -> Result<(), ServiceError> {
        let (b, _) = self.standing(account).await?;
        let allowed = b.plan.numbers as usize;
        let page = self
            .items
            .query(number::all(account).limit(allowed as u32 + 1))
            .await?;
        let again = page
            .items
            .iter()
            .any(|i| number::id_of(i).is_ok_and(|n| n == *id));
        if page.items.len() >= allowed && !again {
            return Err(b.refusal(format!("the plan allows {allowed} connected numbers")));
        }
        Ok(())
    }

    /// Contacts the account holds (created through any path, erased ones taken off).
    pub async fn contacts_held(&self, account: &AccountId) -> Result<u64, ServiceError> {
        let tally = self
            .items
            .get(&crate::table::contact_tally(account))
            .await?;
        Ok(contact::tallied(tally.as_ref()))
    }

    /// How many more contacts the plan lets the account add.
    pub(crate) async fn contact_room(
        &self,
        account: &AccountId,
    ) -> Result<ContactRoom, ServiceError> {
        let (billing, _) = self.standing(account).await?;
        let held = self.contacts_held(account).await?;
        Ok(ContactRoom {
            left: billing.plan.contacts.saturating_sub(held),
            held_at_start: held,
            billing,
        })
    }

    /// Refuses adding `adding` contacts beyond the plan's limit (402). Two requests racing for
    /// the last places may both pass: the limit is a plan's, not a safety bound.
    pub(crate) async fn check_plan_contacts(
        &self,
        account: &AccountId,
        adding: u64,
    ) -> Result<(), ServiceError> {
        let room = self.contact_room(account).await?;
        match adding > room.left {
            true => Err(room.refusal()),
            false => Ok(()),
        }
    }

    /// Where the account pays for `plan_id`: the plan's checkout, carrying the account's id
    /// as `client_reference_id` so the provider's `checkout.session.completed` names it.
    /// `None` when the plan has no checkout configured.
    pub fn checkout_link(
        &self,
        by: &Principal,
        plan_id: &str,
    ) -> Result<Option<url::Url>, ServiceError> {
        by.require(crate::domain::Permission::ManageBilling)?;
        let plan = self
            .billing_config
            .plan(plan_id)
            .ok_or(ServiceError::NotFound)?;
        // Checked to be an https URL when the configuration was read.
        let Some(mut url) = plan
            .checkout_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            return Ok(None);
        };
        url.query_pairs_mut()
            .append_pair("client_reference_id", &by.account_id.to_string());
        Ok(Some(url))
    }

    /// The provider's customer portal, when one is configured.
    pub fn portal_link(&self, by: &Principal) -> Result<Option<url::Url>, ServiceError> {
        by.require(crate::domain::Permission::ManageBilling)?;
        Ok(self
            .billing_config
            .portal_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok()))
    }

    /// Applies one verified payment event.
    pub async fn apply_payment_event(
        &self,
        event: &PaymentEvent,
    ) -> Result<EventOutcome, ServiceError> {
        let Some(change) = &event.change else {
            return Ok(EventOutcome::Ignored);
        };
        let Some(account) = self.billing_account(event).await? else {
            tracing::warn!(event_type = %event.kind, "payment event for no known account");
            return Ok(EventOutcome::UnknownAccount);
        };
        for _ in 0..5 {
            let record = self.billing_record(&account).await?;
            let mut subscription = record.subscription.clone();
            subscription.apply(event.created, change);
            let mut next = record.next(&account).subscription(&subscription, now())?;
            if let Some(c) = &event.customer {
                next = next.customer(c);
            }
            // The provider's copy of the billing details, unless the account holder corrected
            // them since.
            if let (Some((name, address)), true) =
                (&event.billing, event.created >= record.details_at)
            {
                let changes = DetailsChanges {
                    name: Some(name.clone().map(|n| n.chars().take(NAME_MAX).collect())),
                    address: Some(address.clone()),
                    tax_id: None,
                };
                let sealer = self.sealer(&account, billing::SEALED).await?;
                next = next.details(&sealer, &changes, event.created)?;
            }
            let expires_at = now().unix_timestamp() + EVENT_MEMORY_DAYS * 86_400;
            let writes = vec![
                billing::event_marker(&account, &event.id, &event.kind, expires_at),
                next.write(),
            ];
            match self.items.transact(writes).await {
                Ok(()) => {
                    tracing::info!(account_id = %account, event_type = %event.kind, state = ?subscription.state(), "payment event applied");
                    self.raise_subscription_changed(&account, event).await?;
                    return Ok(EventOutcome::Applied);
                }
                Err(StoreError::ConditionFailed { index: Some(0) }) => {
                    return Ok(EventOutcome::Duplicate)
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Busy)
    }

    /// The account an event is for: `metadata.account_id` (recording its customer id for
    /// later events), else the customer id recorded before.
    async fn billing_account(
        &self,
        event: &PaymentEvent,
    ) -> Result<Option<AccountId>, ServiceError> {
        if let Some(hint) = event
            .account_hint
            .as_deref()
            .and_then(|h| h.parse::<AccountId>().ok())
        {
            if self
                .items
                .get(&crate::table::account(&hint))
                .await?
                .is_some()
            {
                if let Some(c) = &event.customer {
                    self.items
                        .put(billing::customer_link(c, &hint), None)
                        .await?;
                }
                return Ok(Some(hint));
            }
        }
        let Some(customer) = &event.customer else {
            return Ok(None);
        };
        let Some(link) = self.items.get(&billing::customer(customer)).await? else {
            return Ok(None);
        };
        Ok(billing::customer_account(&link))
    }

    /// Corrects the billing details. Anything that looks like a card number is refused: card
    /// data never enters this service.
    pub async fn update_billing_details(
        &self,
        by: &Principal,
        changes: DetailsChanges,
    ) -> Result<Billing, ServiceError> {
        by.require(crate::domain::Permission::ManageBilling)?;
        let account = &by.account_id;
        let mut texts: Vec<(&str, &str)> = Vec::new();
        if let Some(Some(n)) = &changes.name {
            texts.push(("name", n));
        }
        if let Some(Some(t)) = &changes.tax_id {
            texts.push(("tax_id", t));
        }
        if let Some(Some(a)) = &changes.address {
            for (field, value) in a.fields() {
                if let Some(v) = value {
                    texts.push((field, v));
                }
            }
        }
        for (field, value) in &texts {
            if contains_card_number(value) {
                // Neither the value nor the field's content is logged.
                tracing::warn!(field = %field, "card number refused in billing details");
                return Err(ServiceError::CardDataRefused {
                    field: (*field).to_owned(),
                });
            }
            if value.chars().count() > FIELD_MAX || value.trim().is_empty() {
                return Err(ServiceError::invalid(
                    field,
                    &format!("must be 1 to {FIELD_MAX} characters"),
                ));
            }
        }
        let sealer = self.sealer(account, billing::SEALED).await?;
        for _ in 0..5 {
            let record = self.billing_record(account).await?;
            let next = record
                .next(account)
                .details(&sealer, &changes, now().unix_timestamp())?;
            let (item, condition) = next.put();
            match self.items.put(item, Some(condition)).await {
                Ok(()) => {
                    tracing::info!(account_id = %account, "billing details corrected");
                    self.audit(
                        account,
                        &by.actor,
                        AuditAction::BillingDetailsCorrected,
                        None,
                    )
                    .await?;
                    return self.billing(account).await;
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Busy)
    }
}

/// Room left under the plan's contact limit.
pub(crate) struct ContactRoom {
    pub left: u64,
    /// Contacts held when the room was read.
    pub held_at_start: u64,
    billing: Billing,
}

impl ContactRoom {
    /// Why one more contact is refused.
    pub(crate) fn reason(&self) -> String {
        format!("the plan allows {} contacts", self.billing.plan.contacts)
    }

    pub(crate) fn refusal(&self) -> ServiceError {
        self.billing.refusal(self.reason())
    }
}
