//! Users and notes as the API and the export show them: never a password hash.

use serde::Serialize;

use crate::domain::{Note, Role, Timestamp, User};

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<Timestamp>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            name: u.name.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
            role: u.role,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Serialize)]
pub struct NoteView {
    pub id: String,
    pub contact_id: String,
    /// The user (or API key) who wrote it.
    pub author: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

impl NoteView {
    pub fn of(contact_id: &crate::domain::ContactId, n: Note) -> Self {
        Self {
            id: n.id.to_string(),
            contact_id: contact_id.to_string(),
            author: n.author,
            text: n.text,
            created_at: n.created_at,
        }
    }
}
