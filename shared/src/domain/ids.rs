use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Ids are ULIDs (sortable by creation time) behind a prefix naming what they identify, so an
/// API key id pasted where an account id belongs is refused at parse time.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(ulid::Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, later than every other this process made: two made in the same
            /// millisecond (contacts created back to back) list in the order they were made.
            pub fn generate() -> Self {
                Self(super::ordered_ulid())
            }

            /// An id that sorts at `at` (its creation time is `at`, not now).
            pub fn generate_at(at: super::Timestamp) -> Self {
                Self(ulid::Ulid::from_datetime(at.into()))
            }

            /// The smallest id of the millisecond `ms` (epoch): ids made before it sort below.
            pub fn first_at(ms: i64) -> Self {
                Self(ulid::Ulid::from_parts(ms.max(0) as u64, 0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", Self::PREFIX, self.0)
            }
        }

        impl FromStr for $name {
            type Err = Invalid;

            fn from_str(s: &str) -> Result<Self, Invalid> {
                s.strip_prefix(Self::PREFIX)
                    .and_then(|rest| ulid::Ulid::from_string(rest).ok())
                    .map(Self)
                    .ok_or_else(|| {
                        Invalid::new(concat!("not a valid id (expected ", $prefix, "…)"))
                    })
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;

            fn try_from(s: String) -> Result<Self, Invalid> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

prefixed_id!(
    /// A business account: the tenant everything else belongs to.
    AccountId,
    "acc_"
);

impl AccountId {
    /// Not a business: the operators of the service, whose key seals what belongs to no
    /// tenant yet (webhook payloads that could not be read). No signup can produce it.
    pub const OPERATOR: AccountId = AccountId(ulid::Ulid::nil());
}
prefixed_id!(
    /// An API key's public id (not the secret).
    ApiKeyId,
    "key_"
);
prefixed_id!(
    /// A contact of a business: our own id, whatever the contact's phone or BSUID.
    ContactId,
    "con_"
);
prefixed_id!(
    /// A portability export of an account or a contact.
    ExportId,
    "exp_"
);
prefixed_id!(
    /// A contact import (an uploaded CSV file and its processing).
    ImportId,
    "imp_"
);
prefixed_id!(
    /// A message, sent or received, in a contact's thread.
    MessageId,
    "msg_"
);
prefixed_id!(
    /// A broadcast: one template sent to many contacts.
    BroadcastId,
    "brd_"
);
prefixed_id!(
    /// A person who uses the app for an account: its owner, an admin or an agent.
    UserId,
    "usr_"
);
prefixed_id!(
    /// An internal note on a conversation: seen by the account's users, never sent.
    NoteId,
    "not_"
);

prefixed_id!(
    /// A webhook endpoint: where a business receives its own events.
    EndpointId,
    "we_"
);

/// An event's id: `evt_` and 32 hex digits, the first 12 the event's time in epoch
/// milliseconds, so ids sort by when events happened. An event caused by something Meta or a
/// caller names (a wamid and its status, an import) has the rest derived from that cause, so
/// the same cause raised twice (a webhook Meta delivers again) is the same event, delivered
/// once per endpoint; other events get random bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    pub const PREFIX: &'static str = "evt_";

    fn with(at: super::Timestamp, rest: &[u8]) -> Self {
        let ms = (at.unix_timestamp_nanos() / 1_000_000).clamp(0, 0xffff_ffff_ffff) as u64;
        Self(format!(
            "{}{}{}",
            Self::PREFIX,
            &hex::encode(ms.to_be_bytes())[4..],
            hex::encode(&rest[..10])
        ))
    }

    /// The id of the event at `at` that `parts` (the account, the type, the cause) name.
    pub fn derived(at: super::Timestamp, parts: &[&str]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        Self::with(at, &h.finalize())
    }

    pub fn random(at: super::Timestamp) -> Self {
        // A ULID's 80 random bits.
        let bits = ulid::Ulid::new().random().to_be_bytes();
        Self::with(at, &bits[6..])
    }

    /// The smallest id of events at `at` or later (for "since").
    pub fn first_at(at: super::Timestamp) -> Self {
        Self::with(at, &[0u8; 10])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EventId {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s.strip_prefix(Self::PREFIX) {
            Some(h)
                if h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(Self(s.to_owned()))
            }
            _ => Err(Invalid::new("not a valid id (expected evt_…)")),
        }
    }
}

impl TryFrom<String> for EventId {
    type Error = Invalid;

    fn try_from(s: String) -> Result<Self, Invalid> {
        s.parse()
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> String {
        id.0
    }
}

/// A ULID later than every other this process made: ids made in the same millisecond keep
/// the order they were made in (a newest-first log lists them right).
pub fn ordered_ulid() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut g = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert_with(ulid::Generator::new)
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_other_prefixes() {
        let a = AccountId::generate();
        assert_eq!(a.to_string().parse::<AccountId>().unwrap(), a);
        assert!(a
            .to_string()
            .replace("acc_", "key_")
            .parse::<AccountId>()
            .is_err());
        assert!("acc_nope".parse::<AccountId>().is_err());
        assert!("".parse::<ApiKeyId>().is_err());
    }
}
