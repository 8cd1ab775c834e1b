//! The people who use the app for an account, what each role may do, and their sessions.

use std::fmt;

use serde::Serialize;
use time::Duration;
use zeroize::Zeroizing;

use super::text::bounded_text;
use super::{Email, Invalid, Timestamp, UserId};

/// What a person may do in an account. API keys act as the owner: they are the integrations
/// the owner made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Made at signup; the one who may close the account.
    Owner,
    /// Everything but closing the account.
    Admin,
    /// The inbox and contacts.
    Agent,
}

impl Role {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        match input {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            _ => Err(Invalid::new("must be one of owner, admin, agent")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn may(self, what: Permission) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => what != Permission::CloseAccount,
            Role::Agent => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What only some roles may do. Everything not listed here (inbox, contacts, messages,
/// templates in messages) every user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    ManageBilling,
    ManageNumbers,
    ManageKeys,
    ManageUsers,
    ManageExports,
    ManageAccount,
    ManageWebhooks,
    CloseAccount,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageBilling => "billing",
            Permission::ManageNumbers => "numbers",
            Permission::ManageKeys => "api keys",
            Permission::ManageUsers => "users",
            Permission::ManageExports => "exports",
            Permission::ManageAccount => "account settings",
            Permission::ManageWebhooks => "webhook endpoints",
            Permission::CloseAccount => "closing the account",
        }
    }
}

/// A person's name as shown to the account's other users: 1 to 100 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        bounded_text(input, "name", 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 15 to 128 characters (NIST SP 800-63B-4 for a password that is the
/// only factor), no composition rules, never logged or kept; only its argon2id hash is.
pub struct Password(Zeroizing<String>);

impl Password {
    pub const MIN_CHARS: usize = 15;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let n = input.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Invalid::new("must be at least 15 characters"));
        }
        if n > Self::MAX_CHARS {
            return Err(Invalid::new("must be at most 128 characters"));
        }
        Ok(Self(Zeroizing::new(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: UserName,
    pub email: Email,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// A signed-in browser. The cookie holds the account id and a random token; only the token's
/// hash is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub role: Role,
    /// The token every state-changing request of this session carries (forms and scripts).
    pub csrf: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

impl Session {
    /// A session not used for this long is over.
    pub const IDLE: Duration = Duration::hours(2);
    /// Whatever its use, a session is over this long after sign-in.
    pub const ABSOLUTE: Duration = Duration::hours(12);
    /// Use is recorded at most this often (a write per request would be waste).
    pub const TOUCH_EVERY: Duration = Duration::minutes(1);

    pub fn expired(&self, now: Timestamp) -> bool {
        now - self.last_seen_at > Self::IDLE || now - self.created_at > Self::ABSOLUTE
    }
}

/// An invitation to join an account: a link with a random token, shown once to whoever
/// invited, used once, and void after [`Invitation::VALID_FOR`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub email: Email,
    pub role: Role,
    pub invited_by: String,
    pub expires_at: Timestamp,
}

impl Invitation {
    pub const VALID_FOR: Duration = Duration::days(7);
}

/// An internal note on a conversation: for the account's users, never sent to the contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub id: super::NoteId,
    /// Who wrote it: a user's id, or the API key's.
    pub author: String,
    pub text: String,
    pub created_at: Timestamp,
}

/// A note's text: 1 to 4,096 characters.
pub fn note_text(input: &str) -> Result<String, Invalid> {
    bounded_text(input, "note", 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_close_and_agents_manage_nothing() {
        assert!(Role::Owner.may(Permission::CloseAccount));
        assert!(!Role::Admin.may(Permission::CloseAccount));
        assert!(Role::Admin.may(Permission::ManageUsers));
        for p in [
            Permission::ManageBilling,
            Permission::ManageNumbers,
            Permission::ManageKeys,
            Permission::ManageUsers,
            Permission::ManageExports,
            Permission::CloseAccount,
        ] {
            assert!(!Role::Agent.may(p));
        }
    }

    #[test]
    fn passwords_are_long_and_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse battery staple").unwrap();
        assert_eq!(format!("{p:?}"), "Password(…)");
    }
}
