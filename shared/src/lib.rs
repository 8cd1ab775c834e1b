//! The WhatATalk core: everything that is not a Lambda's `main`.
//!
//! - [`domain`]: types that can only hold valid values (parse, don't validate).
//! - [`ports`]: the traits the core talks to storage, queues, keys and blobs through.
//! - [`adapters`]: the two implementations of every port — `local` (SQLite, files) and `aws`.
//! - [`crypto`]: per-tenant envelope encryption of personal fields and blind indexes.
//! - [`table`]: the single-table layout: where every item lives.
//! - [`records`]: how each entity is stored: item codecs, queries and updates, paging.
//! - [`services`]: the use cases (signup, API keys, numbers, …) over the ports.
//! - [`http`]: problem+json errors, JSON extraction and request tracing shared by HTTP functions.
//! - [`graph`]: the client of Meta's Graph API.
//! - [`telemetry`]: JSON logs with personal data redacted.
//! - [`webhook`]: Meta's webhook payloads and their signatures.
//! - [`events`]: events to the business's own endpoints: envelope, signatures, guarded client.

pub mod adapters;
pub mod crypto;
pub mod domain;
pub mod events;
pub mod graph;
pub mod http;
pub mod metrics;
pub mod payments;
pub mod ports;
pub mod records;
pub mod services;
pub mod table;
pub mod telemetry;
pub mod views;
pub mod webhook;

#[cfg(feature = "local")]
pub mod testing;
