//! The REST API (`/v1/…`, `/health`): one axum [`Router`] that the Lambda runs with
//! `lambda_http` and the local runner serves with `axum::serve`.

mod auth;
mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use axum::Router;
use shared::services::App;

pub use auth::Caller;
use routes::created;

/// Largest JSON body the API reads (contact files go through upload links, or the 1 MiB inline
/// import).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route of the API as (method, path). Tests walk this list (the cross-tenant test
/// visits each route with an id in it), so a route added to the router belongs here too.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/signup"),
    ("GET", "/v1/account"),
    ("PATCH", "/v1/account"),
    ("DELETE", "/v1/account"),
    ("GET", "/v1/deletion-receipts/{token}"),
    ("POST", "/v1/api-keys"),
    ("GET", "/v1/api-keys"),
    ("DELETE", "/v1/api-keys/{key_id}"),
    ("POST", "/v1/numbers"),
    ("GET", "/v1/numbers"),
    ("GET", "/v1/numbers/{phone_number_id}"),
    ("PATCH", "/v1/numbers/{phone_number_id}"),
    ("DELETE", "/v1/numbers/{phone_number_id}"),
    ("POST", "/v1/contacts"),
    ("GET", "/v1/contacts"),
    ("POST", "/v1/contacts/import"),
    ("POST", "/v1/contacts/imports"),
    ("GET", "/v1/contacts/imports"),
    ("GET", "/v1/contacts/imports/{import_id}"),
    ("POST", "/v1/contacts/imports/{import_id}/start"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages"),
    ("GET", "/v1/messages/{message_id}"),
    ("GET", "/v1/conversations"),
    ("POST", "/v1/conversations/{contact_id}/read"),
    ("GET", "/v1/contacts/{contact_id}/messages"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/privacy"),
    ("POST", "/v1/exports"),
    ("GET", "/v1/exports/{export_id}"),
    ("POST", "/v1/privacy/accept"),
    ("GET", "/v1/notices"),
    ("POST", "/v1/notices/{notice_id}/read"),
    ("GET", "/v1/billing"),
    ("GET", "/v1/billing/usage"),
    ("PATCH", "/v1/billing/details"),
    ("POST", "/v1/media"),
    ("GET", "/v1/media/{media_id}"),
    ("GET", "/media/{token}"),
    ("POST", "/v1/broadcasts"),
    ("GET", "/v1/broadcasts"),
    ("GET", "/v1/broadcasts/{broadcast_id}"),
    ("POST", "/v1/broadcasts/{broadcast_id}/pause"),
    ("POST", "/v1/broadcasts/{broadcast_id}/resume"),
    ("POST", "/v1/broadcasts/{broadcast_id}/cancel"),
    ("GET", "/v1/contacts/{contact_id}"),
    ("PATCH", "/v1/contacts/{contact_id}"),
    ("DELETE", "/v1/contacts/{contact_id}"),
    ("POST", "/v1/contacts/{contact_id}/tags"),
    ("DELETE", "/v1/contacts/{contact_id}/tags"),
];

/// The API with the standard layers (request logs, panics as problems, body limit).
pub fn router(app: Arc<App>) -> Router {
    shared::http::standard_layers(routes(app), BODY_LIMIT)
}

/// The API's routes alone, for a runner that layers several functions' routes together.
pub fn routes(app: Arc<App>) -> Router {
    use routes::{
        accounts, api_keys, billing, broadcasts, contacts, conversations, imports, media, messages,
        numbers, privacy,
    };
    Router::new()
        .route("/health", get(routes::health))
        .route("/openapi.json", get(routes::openapi))
        .route("/v1/signup", post(accounts::signup))
        .route(
            "/v1/account",
            get(accounts::show)
                .merge(patch(accounts::update))
                .delete(privacy::close),
        )
        .route("/v1/deletion-receipts/{token}", get(privacy::receipt))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route(
            "/v1/api-keys/{key_id}",
            axum::routing::delete(api_keys::revoke),
        )
        .route("/v1/numbers", post(numbers::connect).get(numbers::list))
        .route(
            "/v1/numbers/{phone_number_id}",
            get(numbers::show)
                .merge(patch(numbers::update))
                .delete(numbers::disconnect),
        )
        .route("/v1/contacts", post(contacts::create).get(contacts::list))
        .route(
            "/v1/contacts/import",
            post(imports::inline).layer(DefaultBodyLimit::max(
                shared::services::imports::MAX_INLINE_BYTES,
            )),
        )
        .route(
            "/v1/contacts/imports",
            post(imports::create).get(imports::list),
        )
        .route("/v1/contacts/imports/{import_id}", get(imports::show))
        .route(
            "/v1/contacts/imports/{import_id}/start",
            post(imports::start),
        )
        .route(
            "/v1/contacts/{contact_id}",
            get(contacts::show)
                .merge(patch(contacts::update))
                .delete(contacts::delete),
        )
        .route(
            "/v1/contacts/{contact_id}/tags",
            post(contacts::add_tags).delete(contacts::remove_tags),
        )
        .route("/v1/messages", post(messages::send).get(messages::list))
        .route("/v1/messages/{message_id}", get(messages::show))
        .route("/v1/conversations", get(conversations::list))
        .route(
            "/v1/conversations/{contact_id}/read",
            post(conversations::read),
        )
        .route(
            "/v1/contacts/{contact_id}/messages",
            get(conversations::thread),
        )
        .route("/v1/audit", get(privacy::audit_log))
        .route("/v1/privacy", get(privacy::inventory))
        .route("/v1/exports", post(privacy::request_export))
        .route("/v1/exports/{export_id}", get(privacy::show_export))
        .route("/v1/privacy/accept", post(privacy::accept))
        .route("/v1/notices", get(privacy::notices))
        .route("/v1/notices/{notice_id}/read", post(privacy::read_notice))
        .route("/v1/billing", get(billing::show))
        .route("/v1/billing/usage", get(billing::usage))
        .route("/v1/billing/details", patch(billing::update_details))
        .route("/v1/media", post(media::upload))
        .route("/v1/media/{media_id}", get(media::show))
        .route("/media/{token}", get(media::download))
        .route(
            "/v1/broadcasts",
            post(broadcasts::create).get(broadcasts::list),
        )
        .route("/v1/broadcasts/{broadcast_id}", get(broadcasts::show))
        .route(
            "/v1/broadcasts/{broadcast_id}/pause",
            post(broadcasts::pause),
        )
        .route(
            "/v1/broadcasts/{broadcast_id}/resume",
            post(broadcasts::resume),
        )
        .route(
            "/v1/broadcasts/{broadcast_id}/cancel",
            post(broadcasts::cancel),
        )
        .with_state(app)
}
