//! People and their sessions: the owner made at signup, invitations, logins (rate-limited per
//! email and per client address), sessions with idle and absolute expiry, password changes
//! and roles. Who may manage users is decided here, not in the pages.

use futures::TryStreamExt;
use sha2::{Digest, Sha256};

use super::{App, Principal, ServiceError};
use crate::crypto::{password, random};
use crate::domain::{
    now, AccountId, Actor, AuditAction, AuditTarget, Email, Invitation, Password, Permission,
    RateLimited, Role, Session, User, UserId, UserName,
};
use crate::ports::{Item, StoreError, Write};
use crate::records::{self, account, limits, user};

/// Login attempts of one email in [`LOGIN_WINDOW_SECONDS`].
pub const LOGINS_PER_EMAIL: u32 = 10;
/// Login attempts from one client address in [`LOGIN_WINDOW_SECONDS`].
pub const LOGINS_PER_ADDRESS: u32 = 50;
pub const LOGIN_WINDOW_SECONDS: i64 = 15 * 60;

/// A person to add: the owner at signup, or an invitee accepting.
pub struct NewUser {
    pub name: UserName,
    pub email: Email,
    pub password: Password,
}

/// A signed-in browser's credential as the cookie carries it: `{account_id}.{token}`. Shown
/// to the browser once; only the token's hash is kept.
pub struct SessionCookie(String);

impl SessionCookie {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCookie(…)")
    }
}

/// A signed-in request: who, and the session it came with.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub principal: Principal,
    pub session: Session,
    /// The privacy policy version in force, while the account has not accepted it (read with
    /// the account, at no extra cost; pages show a banner).
    pub policy_pending: Option<String>,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `{account}.{token}` → the account and the token's hash; anything else is refused before
/// any read.
fn split_credential(credential: &str) -> Option<(AccountId, String)> {
    let (account, token) = credential.split_once('.')?;
    let ok = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    Some((account.parse().ok()?, sha256_hex(token))).filter(|_| ok)
}

impl App {
    /// The blind index of an email under the operators' key: a login finds its account with
    /// it, and nothing stored outside the tenant names the address.
    pub(crate) async fn login_index(&self, email: &Email) -> Result<String, ServiceError> {
        self.ensure_operator_key().await?;
        Ok(self
            .keyring
            .blind_index(&AccountId::OPERATOR, "email", email.as_str())
            .await?)
    }

    /// The writes that add `new` to the tenant `s` opens for: record and login lookup.
    pub(crate) async fn new_user_writes(
        &self,
        account: &AccountId,
        new: &NewUser,
        role: Role,
    ) -> Result<(User, Vec<Write>), ServiceError> {
        let login = self.login_index(&new.email).await?;
        if self.items.get(&user::lookup(&login)).await?.is_some() {
            return Err(ServiceError::EmailTaken);
        }
        let u = User {
            id: UserId::generate(),
            name: new.name.clone(),
            email: new.email.clone(),
            role,
            created_at: now(),
            last_login_at: None,
        };
        let sealer = self.sealer(account, user::SEALED).await?;
        let hash = password::hash(&new.password);
        let writes = user::new_writes(&sealer, &u, &hash, &login)?;
        Ok((u, writes))
    }

    /// Counts one login attempt against `subject`'s window, or refuses it.
    async fn admit_login(
        &self,
        subject: &str,
        limit: u32,
        policy: &'static str,
    ) -> Result<(), ServiceError> {
        let at = now().unix_timestamp();
        let window = at / LOGIN_WINDOW_SECONDS;
        match self
            .items
            .update(limits::count_login(
                subject,
                window,
                LOGIN_WINDOW_SECONDS,
                limit,
            ))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                Err(ServiceError::RateLimited(RateLimited {
                    policy,
                    limit,
                    window_seconds: LOGIN_WINDOW_SECONDS as u32,
                    retry_after_ms: ((window + 1) * LOGIN_WINDOW_SECONDS - at).max(1) as u64 * 1000,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks an email and password and starts a session. Every failure is the same
    /// `Unauthorized`, and takes one argon2 verification whether the email exists or not.
    pub async fn login(
        &self,
        email: &str,
        password_typed: &str,
        address: Option<&str>,
    ) -> Result<(SignedIn, SessionCookie), ServiceError> {
        if let Some(a) = address {
            self.admit_login(&format!("address:{a}"), LOGINS_PER_ADDRESS, "login-address")
                .await?;
        }
        let Ok(email) = Email::parse(email) else {
            password::verify(password_typed, password::decoy());
            return Err(ServiceError::Unauthorized);
        };
        let login = self.login_index(&email).await?;
        self.admit_login(&format!("email:{login}"), LOGINS_PER_EMAIL, "login-email")
            .await?;
        let found = match self.items.get(&user::lookup(&login)).await? {
            Some(lookup) => {
                let (account_id, user_id) = user::owner(&lookup)?;
                self.items
                    .get(&user::key(&account_id, &user_id))
                    .await?
                    .map(|item| (account_id, user_id, item))
            }
            None => None,
        };
        let Some((account_id, user_id, item)) = found else {
            password::verify(password_typed, password::decoy());
            return Err(ServiceError::Unauthorized);
        };
        if !password::verify(password_typed, user::password_hash(&item)?) {
            self.audit(
                &account_id,
                &Actor::User(user_id.clone()),
                AuditAction::UserLoginFailed,
                None,
            )
            .await?;
            return Err(ServiceError::Unauthorized);
        }
        if !self.account_open(&account_id).await? {
            return Err(ServiceError::Unauthorized);
        }
        let role = user::role_of(&item)?;
        let signed_in = self.login_user(&account_id, &user_id, role).await?;
        self.items
            .update(user::logged_in(&account_id, &user_id, now()))
            .await?;
        self.audit(
            &account_id,
            &Actor::User(user_id),
            AuditAction::UserLoggedIn,
            None,
        )
        .await?;
        Ok(signed_in)
    }

    /// Starts a session for a user who just proved who they are.
    pub(crate) async fn login_user(
        &self,
        account: &AccountId,
        user_id: &UserId,
        role: Role,
    ) -> Result<(SignedIn, SessionCookie), ServiceError> {
        let token = random::token_hex();
        let at = now();
        let session = Session {
            user_id: user_id.clone(),
            role,
            csrf: random::token_hex(),
            created_at: at,
            last_seen_at: at,
        };
        self.items
            .put(
                user::new_session(account, &sha256_hex(&token), &session),
                Some(crate::ports::Condition::NotExists),
            )
            .await?;
        tracing::info!(account_id = %account, user_id = %user_id, "session started");
        Ok((
            SignedIn {
                principal: Principal {
                    account_id: account.clone(),
                    actor: Actor::User(user_id.clone()),
                    role,
                },
                session,
                policy_pending: None,
            },
            SessionCookie(format!("{account}.{token}")),
        ))
    }

    /// The session a cookie names, if it is live and its account open: one batch read, and a
    /// write at most once a minute to record use.
    pub async fn session(&self, credential: &str) -> Result<SignedIn, ServiceError> {
        let (account_id, hash) = split_credential(credential).ok_or(ServiceError::Unauthorized)?;
        let key = user::session_key(&account_id, &hash);
        let found = self
            .items
            .batch_get(&[key.clone(), crate::table::account(&account_id)])
            .await?;
        let (Some(item), Some(acct)) = (&found[0], &found[1]) else {
            return Err(ServiceError::Unauthorized);
        };
        if !account::is_open(acct) {
            return Err(ServiceError::Unauthorized);
        }
        let session = user::session_from_item(item)?;
        let (accepted, _) = account::accepted_policy(acct)?;
        let policy_pending = (accepted.as_deref() != Some(self.policy.version.as_str()))
            .then(|| self.policy.version.clone());
        let at = now();
        if session.expired(at) {
            self.items.delete(&key, None).await?;
            return Err(ServiceError::Unauthorized);
        }
        if at - session.last_seen_at > Session::TOUCH_EVERY {
            // Ended concurrently (logout): that request's answer stands.
            match self.items.update(user::touch_session(&key, at)).await {
                Ok(_) => {}
                Err(StoreError::ConditionFailed { .. }) => return Err(ServiceError::Unauthorized),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(SignedIn {
            principal: Principal {
                account_id,
                actor: Actor::User(session.user_id.clone()),
                role: session.role,
            },
            session,
            policy_pending,
        })
    }

    /// Ends the session a cookie names (audited when it was one).
    pub async fn logout(&self, credential: &str) -> Result<(), ServiceError> {
        let Some((account_id, hash)) = split_credential(credential) else {
            return Ok(());
        };
        let key = user::session_key(&account_id, &hash);
        if let Some(item) = self.items.get(&key).await? {
            self.items.delete(&key, None).await?;
            let s = user::session_from_item(&item)?;
            self.audit(
                &account_id,
                &Actor::User(s.user_id),
                AuditAction::UserLoggedOut,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// Ends every session of `user_id` but `keep` (a token hash).
    async fn end_sessions(
        &self,
        account: &AccountId,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> Result<u64, ServiceError> {
        let id = user_id.to_string();
        let doomed: Vec<Item> = records::items(&*self.items, user::sessions(account))
            .try_filter(|item| {
                let mine = user::session_user(item) == Some(id.as_str());
                let kept = keep.is_some_and(|k| item.key == user::session_key(account, k));
                futures::future::ready(mine && !kept)
            })
            .try_collect()
            .await?;
        for item in &doomed {
            self.items.delete(&item.key, None).await?;
        }
        Ok(doomed.len() as u64)
    }

    /// Changes the signed-in user's password after checking the current one; every other
    /// session of the user ends.
    pub async fn change_password(
        &self,
        by: &SignedIn,
        credential: &str,
        current: &str,
        new: Password,
    ) -> Result<(), ServiceError> {
        let account = &by.principal.account_id;
        let user_id = &by.session.user_id;
        let item = self.found(&user::key(account, user_id)).await?;
        if !password::verify(current, user::password_hash(&item)?) {
            return Err(ServiceError::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        self.items
            .update(user::set_password(account, user_id, &password::hash(&new)))
            .await?;
        let keep = split_credential(credential).map(|(_, h)| h);
        self.end_sessions(account, user_id, keep.as_deref()).await?;
        self.audit(
            account,
            &by.principal.actor,
            AuditAction::PasswordChanged,
            Some(AuditTarget::new("user", user_id)),
        )
        .await
    }

    pub async fn users(&self, account: &AccountId) -> Result<Vec<User>, ServiceError> {
        let sealer = self.sealer(account, 200 * user::SEALED).await?;
        let (users, _) = records::list(&*self.items, user::all(account).limit(200), |i| {
            user::from_item(&sealer, i)
        })
        .await?;
        Ok(users)
    }

    pub async fn user(&self, account: &AccountId, id: &UserId) -> Result<User, ServiceError> {
        self.found_sealed(
            account,
            &user::key(account, id),
            user::SEALED,
            user::from_item,
        )
        .await
    }

    /// An invitation link's credential (`{account}.{token}`), shown once to the inviter.
    pub async fn invite(
        &self,
        by: &Principal,
        email: Email,
        role: Role,
    ) -> Result<(Invitation, String), ServiceError> {
        by.require(Permission::ManageUsers)?;
        if role == Role::Owner {
            return Err(ServiceError::invalid("role", "must be admin or agent"));
        }
        let account = &by.account_id;
        if !self.account_open(account).await? {
            return Err(ServiceError::AccountClosing);
        }
        let login = self.login_index(&email).await?;
        if self.items.get(&user::lookup(&login)).await?.is_some() {
            return Err(ServiceError::EmailTaken);
        }
        let token = random::token_hex();
        let invitation = Invitation {
            email,
            role,
            invited_by: by.actor.to_string(),
            expires_at: now() + Invitation::VALID_FOR,
        };
        let sealer = self.sealer(account, user::INVITATION_SEALED).await?;
        let item = user::new_invitation(&sealer, &sha256_hex(&token), &invitation)?;
        self.items.put(item, None).await?;
        self.audit(account, &by.actor, AuditAction::UserInvited, None)
            .await?;
        Ok((invitation, format!("{account}.{token}")))
    }

    /// The invitation a link names, if it is still valid.
    pub async fn invitation(&self, credential: &str) -> Result<Invitation, ServiceError> {
        let (account, hash) = split_credential(credential).ok_or(ServiceError::NotFound)?;
        let item = self.found(&user::invitation_key(&account, &hash)).await?;
        let sealer = self.sealer(&account, user::INVITATION_SEALED).await?;
        let invitation = user::invitation_from_item(&sealer, &item)?;
        if invitation.expires_at <= now() {
            return Err(ServiceError::NotFound);
        }
        Ok(invitation)
    }

    /// Accepts an invitation: the user is made with the invitation's email and role, the
    /// invitation is used up in the same transaction, and the new user is signed in.
    pub async fn accept_invitation(
        &self,
        credential: &str,
        name: UserName,
        password: Password,
    ) -> Result<(SignedIn, SessionCookie), ServiceError> {
        let invitation = self.invitation(credential).await?;
        let (account, hash) = split_credential(credential).ok_or(ServiceError::NotFound)?;
        if !self.account_open(&account).await? {
            return Err(ServiceError::NotFound);
        }
        let new = NewUser {
            name,
            email: invitation.email,
            password,
        };
        let (u, mut writes) = self
            .new_user_writes(&account, &new, invitation.role)
            .await?;
        writes.push(user::use_invitation(&user::invitation_key(&account, &hash)));
        self.items.transact(writes).await.map_err(|e| match e {
            // Used by someone else a moment ago, or the email joined meanwhile.
            StoreError::ConditionFailed { .. } => ServiceError::NotFound,
            e => e.into(),
        })?;
        self.audit(
            &account,
            &Actor::User(u.id.clone()),
            AuditAction::UserJoined,
            Some(AuditTarget::new("user", &u.id)),
        )
        .await?;
        self.login_user(&account, &u.id, u.role).await
    }

    /// Gives a user another role (not the owner's, and nobody becomes owner); the user's
    /// sessions end, so the new role holds from the next sign-in.
    pub async fn set_role(
        &self,
        by: &Principal,
        id: &UserId,
        role: Role,
    ) -> Result<User, ServiceError> {
        by.require(Permission::ManageUsers)?;
        let account = &by.account_id;
        let current = self.user(account, id).await?;
        if current.role == Role::Owner || role == Role::Owner {
            return Err(ServiceError::invalid(
                "role",
                "the owner's role does not change, and nobody else becomes owner",
            ));
        }
        self.items.update(user::set_role(account, id, role)).await?;
        self.end_sessions(account, id, None).await?;
        self.audit(
            account,
            &by.actor,
            AuditAction::UserRoleChanged,
            Some(AuditTarget::new("user", id)),
        )
        .await?;
        self.user(account, id).await
    }

    /// Removes a user (never the owner): the record, the login and every session go.
    pub async fn remove_user(&self, by: &Principal, id: &UserId) -> Result<(), ServiceError> {
        by.require(Permission::ManageUsers)?;
        let account = &by.account_id;
        let item = self.found(&user::key(account, id)).await?;
        if user::role_of(&item)? == Role::Owner {
            return Err(ServiceError::invalid("user", "the owner cannot be removed"));
        }
        self.items.transact(user::remove(&item)).await?;
        self.end_sessions(account, id, None).await?;
        self.audit(
            account,
            &by.actor,
            AuditAction::UserRemoved,
            Some(AuditTarget::new("user", id)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_account_and_a_64_hex_token_make_a_credential() {
        let account = AccountId::generate();
        let token = random::token_hex();
        let (a, h) = split_credential(&format!("{account}.{token}")).unwrap();
        assert_eq!(a, account);
        assert_eq!(h, sha256_hex(&token));
        assert!(split_credential(&format!("{account}.{}", &token[1..])).is_none());
        assert!(split_credential(&format!("nope.{token}")).is_none());
        assert!(split_credential(&token).is_none());
    }
}
