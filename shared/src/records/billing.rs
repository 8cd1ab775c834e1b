//! Billing: one item per account holding the subscription folded from the payment provider's
//! events (with a version for optimistic writes), the card's brand and last four digits, and
//! the billing details (sealed); a marker per event applied; the provider's customer → account.

use super::{from_json, to_json, to_millis, RecordError, Sealer};
use crate::domain::{AccountId, Subscription, Timestamp};
use crate::payments::{BillingDetails, DetailsChanges};
use crate::ports::{Condition, Item, Key, Value, Write};
use crate::table;

const ENTITY: &str = "billing";
/// Sealed fields of a billing item: name, address, tax id.
pub const SEALED: u64 = 3;

/// The billing item as stored, or the empty one of an account that has none yet.
pub struct Billing {
    pub subscription: Subscription,
    pub version: i64,
    /// When the details were last set (epoch seconds): by the holder, or the provider.
    pub details_at: i64,
    item: Option<Item>,
}

pub fn key(account: &AccountId) -> Key {
    table::billing(account)
}

pub fn from_item(item: Option<Item>) -> Result<Billing, RecordError> {
    let Some(item) = item else {
        return Ok(Billing {
            subscription: Subscription::default(),
            version: 0,
            details_at: 0,
            item: None,
        });
    };
    Ok(Billing {
        subscription: match item.opt_s("subscription") {
            Some(json) => from_json(json)?,
            None => Subscription::default(),
        },
        version: item.opt_n("version").unwrap_or(0),
        details_at: item.opt_n("details_at").unwrap_or(0),
        item: Some(item),
    })
}

impl Billing {
    /// The sealed details, opened.
    pub fn details(&self, s: &Sealer) -> Result<BillingDetails, RecordError> {
        let Some(item) = &self.item else {
            return Ok(BillingDetails::default());
        };
        Ok(BillingDetails {
            name: s.open_optional(ENTITY, item, "billing_name")?,
            address: s
                .open_optional(ENTITY, item, "billing_address")?
                .map(|json| from_json(&json))
                .transpose()?,
            tax_id: s.open_optional(ENTITY, item, "tax_id")?,
        })
    }

    /// The next version of the item, to write with [`Next::write`].
    pub fn next(&self, account: &AccountId) -> Next {
        let mut item = self
            .item
            .clone()
            .unwrap_or_else(|| Item::new(table::billing(account)));
        item.attrs
            .insert("version".into(), Value::N(self.version + 1));
        Next {
            item,
            condition: match &self.item {
                Some(_) => Condition::Equals("version".into(), Value::N(self.version)),
                None => Condition::NotExists,
            },
        }
    }
}

/// A new version of the billing item, written only over the version it was made from.
pub struct Next {
    item: Item,
    condition: Condition,
}

impl Next {
    pub fn subscription(mut self, s: &Subscription, at: Timestamp) -> Result<Self, RecordError> {
        self.item
            .attrs
            .insert("subscription".into(), Value::S(to_json(s)?));
        self.item
            .attrs
            .insert("updated_at".into(), Value::N(to_millis(at)));
        Ok(self)
    }

    pub fn customer(mut self, customer: &str) -> Self {
        self.item
            .attrs
            .insert("customer".into(), Value::S(customer.to_owned()));
        self
    }

    /// Seals the changed details; `at` (epoch seconds) is when they were set.
    pub fn details(
        mut self,
        s: &Sealer,
        changes: &DetailsChanges,
        at: i64,
    ) -> Result<Self, RecordError> {
        let key = self.item.key.clone();
        let address = match &changes.address {
            Some(Some(a)) => Some(Some(to_json(a)?)),
            Some(None) => Some(None),
            None => None,
        };
        for (field, value) in [
            ("billing_name", changes.name.clone()),
            ("billing_address", address),
            ("tax_id", changes.tax_id.clone()),
        ] {
            match value {
                Some(Some(v)) => {
                    let sealed = s.seal_str(ENTITY, &key, field, &v)?;
                    self.item.attrs.insert(field.into(), sealed);
                }
                Some(None) => {
                    self.item.attrs.remove(field);
                }
                None => {}
            }
        }
        self.item.attrs.insert("details_at".into(), Value::N(at));
        Ok(self)
    }

    /// The write, in a transaction.
    pub fn write(self) -> Write {
        Write::Put {
            item: self.item,
            condition: Some(self.condition),
        }
    }

    /// The item and its condition, for a put of its own.
    pub fn put(self) -> (Item, Condition) {
        (self.item, self.condition)
    }
}

/// The marker of a payment event applied (new only: a second delivery fails on it).
pub fn event_marker(account: &AccountId, event_id: &str, kind: &str, expires_at: i64) -> Write {
    Write::put_new(
        Item::new(table::billing_event(account, event_id))
            .with("type", Value::S(kind.to_owned()))
            .expiring_at(expires_at),
    )
}

/// The payment provider's customer → the account.
pub fn customer_link(customer: &str, account: &AccountId) -> Item {
    Item::new(table::billing_customer(customer)).with("account_id", Value::S(account.to_string()))
}

pub fn customer(customer: &str) -> Key {
    table::billing_customer(customer)
}

/// The account a customer link names.
pub fn customer_account(link: &Item) -> Option<AccountId> {
    link.opt_s("account_id").and_then(|a| a.parse().ok())
}

/// What a billing item points to outside the partition: the customer link.
pub fn customer_of(item: &Item) -> Option<Key> {
    item.opt_s("customer").map(table::billing_customer)
}
