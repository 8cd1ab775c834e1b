use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{
    Account, AccountState, ApiKeyName, BusinessName, Email, Keywords, Region, RetentionChanges,
    RetentionPolicy, Timestamp,
};
use shared::http::{ApiJson, Problem};
use shared::services::{AccountChanges, App, Fields, NewAccount};

use crate::Caller;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    business_name: String,
    email: String,
    default_region: Option<String>,
}

#[derive(Serialize)]
pub struct SignupResponse {
    account_id: String,
    /// Shown once: only its hash is kept.
    api_key: String,
    api_key_id: String,
    account: AccountView,
}

#[derive(Serialize)]
pub struct AccountView {
    id: String,
    business_name: String,
    email: String,
    default_region: Option<String>,
    state: AccountState,
    stop_keywords: Vec<String>,
    resume_keywords: Vec<String>,
    /// Days messages, media and exports are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<RetentionPolicy>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: Timestamp,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.to_string(),
            business_name: a.business_name.as_str().to_owned(),
            email: a.email.as_str().to_owned(),
            default_region: a.default_region.map(|r| r.as_str().to_owned()),
            state: a.state,
            stop_keywords: a.stop_keywords.iter().map(str::to_owned).collect(),
            resume_keywords: a.resume_keywords.iter().map(str::to_owned).collect(),
            retention: None,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

pub async fn signup(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), Problem> {
    // Each signup costs a KMS call and four writes: a few an hour per client address.
    if let Some(address) = crate::auth::client_address(&headers) {
        app.admit_signup(&address).await?;
    }
    let mut f = Fields::new();
    let business_name = f.check("business_name", BusinessName::parse(&req.business_name));
    let email = f.check("email", Email::parse(&req.email));
    let region = req
        .default_region
        .map(|r| f.check("default_region", Region::parse(&r)));
    let new = f.finish(|| {
        Some(NewAccount {
            business_name: business_name?,
            email: email?,
            default_region: Fields::given(region)?,
        })
    })?;
    let first_key = ApiKeyName::parse("default").map_err(|e| Problem::internal(&e))?;
    let (account, key, secret) = app.signup(new, first_key).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            account_id: account.id.to_string(),
            api_key: secret.expose().to_owned(),
            api_key_id: key.id.to_string(),
            account: account.into(),
        }),
    ))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
) -> Result<Json<AccountView>, Problem> {
    let mut view = AccountView::from(app.account(&me.account_id).await?);
    view.retention = Some(app.retention_policy(&me.account_id).await?);
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    business_name: Option<String>,
    email: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "shared::http::nullable")]
    default_region: Option<Option<String>>,
    /// Messages that opt a contact out; `null` restores the default list.
    #[serde(default, deserialize_with = "shared::http::nullable")]
    stop_keywords: Option<Option<Vec<String>>>,
    /// Messages that lift an opt-out; `null` restores the default list.
    #[serde(default, deserialize_with = "shared::http::nullable")]
    resume_keywords: Option<Option<Vec<String>>>,
    /// Days to keep messages, media and exports.
    retention: Option<RetentionPatch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPatch {
    message_days: Option<u32>,
    media_days: Option<u32>,
    export_days: Option<u32>,
}

pub async fn update(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<AccountPatch>,
) -> Result<Json<AccountView>, Problem> {
    let mut f = Fields::new();
    let business_name = req
        .business_name
        .map(|n| f.check("business_name", BusinessName::parse(&n)));
    let email = req.email.map(|e| f.check("email", Email::parse(&e)));
    let region = req
        .default_region
        .map(|r| r.map(|r| f.check("default_region", Region::parse(&r))));
    let stop = req
        .stop_keywords
        .map(|k| k.map(|k| f.check("stop_keywords", Keywords::parse(&k))));
    let resume = req
        .resume_keywords
        .map(|k| k.map(|k| f.check("resume_keywords", Keywords::parse(&k))));
    let changes = f.finish(|| {
        Some(AccountChanges {
            business_name: business_name.flatten(),
            email: email.flatten(),
            default_region: Fields::clearable(region)?,
            stop_keywords: Fields::clearable(stop)?,
            resume_keywords: Fields::clearable(resume)?,
            retention: req.retention.as_ref().map(|r| RetentionChanges {
                message_days: r.message_days,
                media_days: r.media_days,
                export_days: r.export_days,
            }),
        })
    })?;
    let account = app.update_account(&me, changes).await?;
    let mut view = AccountView::from(account);
    view.retention = Some(app.retention_policy(&me.account_id).await?);
    Ok(Json(view))
}
