use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::bounded_text;
use super::{AccountId, Email, Invalid, Keywords, Region, Timestamp};

/// The name a business signs up under: 1 to 200 characters, trimmed. It may be a person's
/// name (sole traders), so it is stored encrypted like any personal field.
#[derive(Clone, PartialEq, Eq)]
pub struct BusinessName(String);

impl BusinessName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        bounded_text(input, "business name", Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BusinessName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BusinessName(…)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Active,
    /// Closure requested: keys revoked, erasure under way.
    Closing,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Closing => "closing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AccountState::Active),
            "closing" => Some(AccountState::Closing),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: AccountId,
    pub business_name: BusinessName,
    pub email: Email,
    /// Reads phone numbers written without `+` (contact uploads, the API).
    pub default_region: Option<Region>,
    pub state: AccountState,
    /// Inbound messages that opt a contact out of marketing messages.
    pub stop_keywords: Keywords,
    /// Inbound messages that lift a contact's opt-out.
    pub resume_keywords: Keywords,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
