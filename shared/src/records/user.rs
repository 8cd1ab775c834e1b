//! Users of the app: a record in the tenant's partition (name and email sealed, the role, the
//! argon2id hash) and a global login lookup by the email's blind index; their sessions and
//! invitations, each by the SHA-256 of its token, in the tenant's partition.

use super::{from_millis, id_after, opt_millis, to_millis, RecordError, Sealer};
use crate::domain::{
    AccountId, Email, Invitation, Role, Session, Timestamp, User, UserId, UserName,
};
use crate::ports::{Condition, Item, Key, Query, Update, Value, Write};
use crate::table;

const ENTITY: &str = "user";
const INVITATION: &str = "invitation";
/// Sealed fields of a user item: name and email.
pub const SEALED: u64 = 2;
/// Sealed fields of an invitation: the email.
pub const INVITATION_SEALED: u64 = 1;

fn role(item: &Item) -> Result<Role, RecordError> {
    Ok(Role::parse(item.s("role")?)?)
}

/// The user's record and its login lookup, each written only if absent: a second user with
/// the same email (in any account) fails the transaction.
pub fn new_writes(
    s: &Sealer,
    user: &User,
    password_hash: &str,
    login_index: &str,
) -> Result<Vec<Write>, RecordError> {
    let key = table::user(s.tenant(), &user.id);
    let record = Item::new(key.clone())
        .with(
            "name",
            s.seal_str(ENTITY, &key, "name", user.name.as_str())?,
        )
        .with(
            "email",
            s.seal_str(ENTITY, &key, "email", user.email.as_str())?,
        )
        .with("role", Value::S(user.role.as_str().into()))
        .with("password", Value::S(password_hash.to_owned()))
        .with("login", Value::S(login_index.to_owned()))
        .with("created_at", Value::N(to_millis(user.created_at)));
    let lookup = Item::new(table::login_lookup(login_index))
        .with("account_id", Value::S(s.tenant().to_string()))
        .with("user_id", Value::S(user.id.to_string()));
    Ok(vec![Write::put_new(record), Write::put_new(lookup)])
}

pub fn from_item(s: &Sealer, item: &Item) -> Result<User, RecordError> {
    Ok(User {
        id: id_after(item, table::USER_PREFIX)?,
        name: UserName::parse(&s.open(ENTITY, item, "name")?)?,
        email: Email::parse(&s.open(ENTITY, item, "email")?)?,
        role: role(item)?,
        created_at: from_millis(item.n("created_at")?)?,
        last_login_at: opt_millis(item, "last_login_at")?,
    })
}

/// The argon2id hash a login checks against.
pub fn password_hash(item: &Item) -> Result<&str, RecordError> {
    Ok(item.s("password")?)
}

/// The role, read without opening the sealed fields.
pub fn role_of(item: &Item) -> Result<Role, RecordError> {
    role(item)
}

pub fn key(account: &AccountId, id: &UserId) -> Key {
    table::user(account, id)
}

/// The account's users, in the order they joined.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::USER_PREFIX)
}

pub fn lookup(login_index: &str) -> Key {
    table::login_lookup(login_index)
}

/// Whose login a lookup item is.
pub fn owner(lookup: &Item) -> Result<(AccountId, UserId), RecordError> {
    Ok((
        lookup.s("account_id")?.parse()?,
        lookup.s("user_id")?.parse()?,
    ))
}

/// What a user record points to outside the partition: its login lookup.
pub fn lookup_of(record: &Item) -> Option<Key> {
    record.opt_s("login").map(table::login_lookup)
}

pub fn logged_in(account: &AccountId, id: &UserId, at: Timestamp) -> Update {
    Update::new(table::user(account, id))
        .set("last_login_at", Value::N(to_millis(at)))
        .when(Condition::Exists)
}

pub fn set_password(account: &AccountId, id: &UserId, hash: &str) -> Update {
    Update::new(table::user(account, id))
        .set("password", Value::S(hash.to_owned()))
        .when(Condition::Exists)
}

pub fn set_role(account: &AccountId, id: &UserId, role: Role) -> Update {
    Update::new(table::user(account, id))
        .set("role", Value::S(role.as_str().into()))
        .when(Condition::Exists)
}

/// Removes a user: the record and the login lookup.
pub fn remove(record: &Item) -> Vec<Write> {
    let mut writes = vec![Write::Delete {
        key: record.key.clone(),
        condition: None,
    }];
    if let Some(lookup) = lookup_of(record) {
        writes.push(Write::Delete {
            key: lookup,
            condition: None,
        });
    }
    writes
}

// Sessions.

/// A new session, expiring (TTL) at its absolute end.
pub fn new_session(account: &AccountId, token_hash: &str, session: &Session) -> Item {
    let expires = (session.created_at + Session::ABSOLUTE).unix_timestamp();
    Item::new(table::session(account, token_hash))
        .with("user_id", Value::S(session.user_id.to_string()))
        .with("role", Value::S(session.role.as_str().into()))
        .with("csrf", Value::S(session.csrf.clone()))
        .with("created_at", Value::N(to_millis(session.created_at)))
        .with("last_seen_at", Value::N(to_millis(session.last_seen_at)))
        .expiring_at(expires)
}

pub fn session_from_item(item: &Item) -> Result<Session, RecordError> {
    Ok(Session {
        user_id: item.s("user_id")?.parse()?,
        role: role(item)?,
        csrf: item.s("csrf")?.to_owned(),
        created_at: from_millis(item.n("created_at")?)?,
        last_seen_at: from_millis(item.n("last_seen_at")?)?,
    })
}

pub fn session_key(account: &AccountId, token_hash: &str) -> Key {
    table::session(account, token_hash)
}

pub fn touch_session(key: &Key, at: Timestamp) -> Update {
    Update::new(key.clone())
        .set("last_seen_at", Value::N(to_millis(at)))
        .when(Condition::Exists)
}

/// Every session of the account (to end a user's).
pub fn sessions(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::SESSION_PREFIX)
}

pub fn session_user(item: &Item) -> Option<&str> {
    item.opt_s("user_id")
}

// Invitations.

pub fn new_invitation(
    s: &Sealer,
    token_hash: &str,
    invitation: &Invitation,
) -> Result<Item, RecordError> {
    let key = table::invitation(s.tenant(), token_hash);
    Ok(Item::new(key.clone())
        .with(
            "email",
            s.seal_str(INVITATION, &key, "email", invitation.email.as_str())?,
        )
        .with("role", Value::S(invitation.role.as_str().into()))
        .with("invited_by", Value::S(invitation.invited_by.clone()))
        .with("expires", Value::N(to_millis(invitation.expires_at)))
        .expiring_at(invitation.expires_at.unix_timestamp()))
}

pub fn invitation_from_item(s: &Sealer, item: &Item) -> Result<Invitation, RecordError> {
    Ok(Invitation {
        email: Email::parse(&s.open(INVITATION, item, "email")?)?,
        role: role(item)?,
        invited_by: item.s("invited_by")?.to_owned(),
        expires_at: from_millis(item.n("expires")?)?,
    })
}

pub fn invitation_key(account: &AccountId, token_hash: &str) -> Key {
    table::invitation(account, token_hash)
}

/// Uses the invitation up: it goes, and only if it is still there (single use).
pub fn use_invitation(key: &Key) -> Write {
    Write::Delete {
        key: key.clone(),
        condition: Some(Condition::Exists),
    }
}
