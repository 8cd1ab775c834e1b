//! API keys as the API shows them: never the secret or its hash.

use serde::Serialize;

use crate::domain::{ApiKey, ApiKeyStatus, Timestamp};

#[derive(Serialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub status: ApiKeyStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<Timestamp>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            status: k.status(),
            id: k.id.to_string(),
            name: k.name.as_str().to_owned(),
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}
