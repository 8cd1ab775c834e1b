//! The REST API (`/v1/…`, `/health`): one axum [`Router`] that the Lambda runs with
//! `lambda_http` and the local runner serves with `axum::serve`.

mod auth;
pub mod pages;
mod routes;

use std::sync::Arc;

use axum::Router;
use shared::http::RouteTable;
use shared::services::App;

pub use auth::Caller;
use routes::created;

/// Largest JSON body the API reads (contact files go through upload links, or the 1 MiB inline
/// import).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route the API serves as (method, path), read from the router's own table: the
/// cross-tenant test visits each route with an id in it, and the openapi test holds the
/// document to this list.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    table().served().to_vec()
}

/// The API with the standard layers (request logs, panics as problems, body limit).
pub fn router(app: Arc<App>) -> Router {
    shared::http::standard_layers(routes(app), BODY_LIMIT)
}

/// The API's routes and the app's pages, for a runner that layers several functions'
/// routes together.
pub fn routes(app: Arc<App>) -> Router {
    table()
        .into_router()
        .merge(pages::table().into_router())
        .with_state(app)
}

fn table() -> RouteTable<Arc<App>> {
    use routes::{
        accounts, api_keys, billing, broadcasts, contacts, conversations, imports, media, messages,
        numbers, privacy, templates, webhook_endpoints as hooks,
    };
    RouteTable::new()
        .get("/health", routes::health)
        .get("/openapi.json", routes::openapi)
        .post("/v1/signup", accounts::signup)
        .get("/v1/account", accounts::show)
        .patch("/v1/account", accounts::update)
        .delete("/v1/account", privacy::close)
        .get("/v1/deletion-receipts/{token}", privacy::receipt)
        .post("/v1/api-keys", api_keys::create)
        .get("/v1/api-keys", api_keys::list)
        .delete("/v1/api-keys/{key_id}", api_keys::revoke)
        .post("/v1/webhook-endpoints", hooks::create)
        .get("/v1/webhook-endpoints", hooks::list)
        .get("/v1/webhook-endpoints/{endpoint_id}", hooks::show)
        .patch("/v1/webhook-endpoints/{endpoint_id}", hooks::update)
        .delete("/v1/webhook-endpoints/{endpoint_id}", hooks::delete)
        .post(
            "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
            hooks::rotate_secret,
        )
        .post("/v1/webhook-endpoints/{endpoint_id}/test", hooks::test)
        .get(
            "/v1/webhook-endpoints/{endpoint_id}/deliveries",
            hooks::deliveries,
        )
        .post(
            "/v1/webhook-endpoints/{endpoint_id}/deliveries/{event_id}/replay",
            hooks::replay_one,
        )
        .post(
            "/v1/webhook-endpoints/{endpoint_id}/replay",
            hooks::replay_failed,
        )
        .post("/v1/numbers", numbers::connect)
        .get("/v1/numbers", numbers::list)
        .get("/v1/numbers/{phone_number_id}", numbers::show)
        .patch("/v1/numbers/{phone_number_id}", numbers::update)
        .delete("/v1/numbers/{phone_number_id}", numbers::disconnect)
        .post("/v1/contacts", contacts::create)
        .get("/v1/contacts", contacts::list)
        .post_limited(
            "/v1/contacts/import",
            imports::inline,
            shared::services::imports::MAX_INLINE_BYTES,
        )
        .post("/v1/contacts/imports", imports::create)
        .get("/v1/contacts/imports", imports::list)
        .get("/v1/contacts/imports/{import_id}", imports::show)
        .post("/v1/contacts/imports/{import_id}/start", imports::start)
        .get("/v1/contacts/{contact_id}", contacts::show)
        .patch("/v1/contacts/{contact_id}", contacts::update)
        .delete("/v1/contacts/{contact_id}", contacts::delete)
        .post("/v1/contacts/{contact_id}/tags", contacts::add_tags)
        .delete("/v1/contacts/{contact_id}/tags", contacts::remove_tags)
        .post("/v1/messages", messages::send)
        .get("/v1/messages", messages::list)
        .get("/v1/messages/{message_id}", messages::show)
        .get("/v1/conversations", conversations::list)
        .post("/v1/conversations/{contact_id}/read", conversations::read)
        .get("/v1/contacts/{contact_id}/messages", conversations::thread)
        .get("/v1/audit", privacy::audit_log)
        .get("/v1/privacy", privacy::inventory)
        .post("/v1/exports", privacy::request_export)
        .get("/v1/exports/{export_id}", privacy::show_export)
        .post("/v1/privacy/accept", privacy::accept)
        .get("/v1/notices", privacy::notices)
        .post("/v1/notices/{notice_id}/read", privacy::read_notice)
        .get("/v1/billing", billing::show)
        .get("/v1/billing/usage", billing::usage)
        .patch("/v1/billing/details", billing::update_details)
        .post("/v1/media", media::upload)
        .get("/v1/media/{media_id}", media::show)
        .get("/media/{token}", media::download)
        .post("/v1/broadcasts", broadcasts::create)
        .get("/v1/broadcasts", broadcasts::list)
        .get("/v1/broadcasts/{broadcast_id}", broadcasts::show)
        .post("/v1/broadcasts/{broadcast_id}/pause", broadcasts::pause)
        .post("/v1/broadcasts/{broadcast_id}/resume", broadcasts::resume)
        .post("/v1/broadcasts/{broadcast_id}/cancel", broadcasts::cancel)
        .get(
            "/v1/broadcasts/{broadcast_id}/recipients",
            broadcasts::recipients,
        )
        .get(
            "/v1/broadcasts/{broadcast_id}/recipients.csv",
            broadcasts::recipients_csv,
        )
        .get("/v1/templates", templates::list)
        .post("/v1/templates", templates::create)
        .post("/v1/templates/sync", templates::sync)
        .get("/v1/templates/{template_id}", templates::show)
        .patch("/v1/templates/{template_id}", templates::update)
        .delete("/v1/templates/{template_id}", templates::delete)
}
