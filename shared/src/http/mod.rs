//! HTTP plumbing shared by every HTTP function (api, webhook, billing): problem+json errors,
//! strict JSON bodies, request logging without personal data, pagination parameters.

mod json;
mod nullable;
mod page;
mod problem;
mod routes;
mod trace;

pub use json::{ApiJson, ApiQuery};
pub use nullable::nullable;
pub use page::{PageParams, PageResponse};
pub use problem::{Problem, ProblemType};
pub use routes::RouteTable;
pub use trace::{fallback, method_not_allowed, quiet_when_ok, standard_layers};
