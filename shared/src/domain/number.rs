use std::fmt;

use zeroize::Zeroizing;

use super::{Invalid, PhoneNumber, Timestamp};

fn graph_id(input: &str, what: &str) -> Result<String, Invalid> {
    let s = input.trim();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new(format!(
            "{what} must be Meta's numeric id (1 to 32 digits)"
        )));
    }
    Ok(s.to_owned())
}

/// Meta's id of a WhatsApp business phone number (not the number itself).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumberId(String);

impl PhoneNumberId {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        graph_id(input, "phone_number_id").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Meta's id of a WhatsApp Business Account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WabaId(String);

impl WabaId {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        graph_id(input, "waba_id").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Graph API access token (system user or business integration token): 16 to 4096
/// printable ASCII characters without spaces. Never printed; zeroized when dropped.
#[derive(Clone)]
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim();
        if !(16..=4096).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new(
                "access_token must be 16 to 4096 printable characters without spaces",
            ));
        }
        Ok(Self(Zeroizing::new(s.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(…)")
    }
}

/// A WhatsApp business number connected to an account. The access token is kept apart: it is
/// read only when sending.
#[derive(Clone, Debug)]
pub struct WhatsAppNumber {
    pub phone_number_id: PhoneNumberId,
    pub waba_id: WabaId,
    pub display_phone_number: PhoneNumber,
    /// The number's throughput tier: messages per second Meta lets it send.
    pub messages_per_second: u32,
    /// Set when Meta refused all sending (expired token, restricted account).
    pub sending_stopped: Option<SendingStopped>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Meta's tiers run from 80 to 1,000 messages per second.
pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 80;
pub const MAX_MESSAGES_PER_SECOND: u32 = 1000;

pub fn parse_messages_per_second(n: u32) -> Result<u32, Invalid> {
    if (1..=MAX_MESSAGES_PER_SECOND).contains(&n) {
        Ok(n)
    } else {
        Err(Invalid::new(format!(
            "messages_per_second must be within 1..={MAX_MESSAGES_PER_SECOND}"
        )))
    }
}

/// Why a number stopped sending, and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendingStopped {
    pub code: i64,
    pub reason: String,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_digits_only() {
        assert!(PhoneNumberId::parse("106540352242922").is_ok());
        for bad in ["", "12a", "-1", &"1".repeat(33)] {
            assert!(PhoneNumberId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_bounded_and_hidden() {
        let t = AccessToken::parse("EAAG1234567890abcdef").unwrap();
        assert!(!format!("{t:?}").contains("EAAG"));
        assert!(AccessToken::parse("short").is_err());
        assert!(AccessToken::parse("has a space in the token").is_err());
    }
}
