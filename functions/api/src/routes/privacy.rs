use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use shared::http::{ApiQuery, PageParams, PageResponse, Problem};
use shared::services::privacy::audit::AuditEntry;
use shared::services::App;

use crate::Caller;

/// The tenant's audit log, newest first.
pub async fn audit_log(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<AuditEntry>>, Problem> {
    let (entries, next) = app
        .audit_log(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(entries, next)))
}
