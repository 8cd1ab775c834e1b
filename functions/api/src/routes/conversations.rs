use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{ContactId, Conversation, Timestamp};
use shared::http::{ApiQuery, PageParams, PageResponse, Problem};
use shared::services::App;

use crate::Caller;
use shared::views::MessageView;

#[derive(Serialize)]
pub struct ConversationView {
    contact_id: String,
    last_message: LastMessageView,
    /// Inbound messages since the conversation was last marked read.
    unread: u64,
    /// Whether free-form messages may be sent: the contact wrote to `window_number` within
    /// the last 24 hours.
    window_open: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    window_open_until: Option<Timestamp>,
    window_number: Option<String>,
    /// The app's user who answers it, if one was assigned.
    assignee: Option<String>,
}

#[derive(Serialize)]
pub struct LastMessageView {
    id: String,
    direction: &'static str,
    #[serde(rename = "type")]
    kind: String,
    #[serde(with = "time::serde::rfc3339")]
    at: Timestamp,
    preview: Option<String>,
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        let last = c.last_message;
        Self {
            contact_id: c.contact_id.to_string(),
            last_message: LastMessageView {
                id: last.id.to_string(),
                direction: if last.inbound { "inbound" } else { "outbound" },
                kind: last.kind,
                at: last.at,
                preview: last.preview,
            },
            unread: c.unread,
            window_open: c.window.as_ref().is_some_and(|w| w.is_open()),
            window_open_until: c.window.as_ref().map(|w| w.open_until),
            window_number: c.window.map(|w| w.number.to_string()),
            assignee: c.assignee.map(|u| u.to_string()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

impl ListParams {
    fn page(self) -> PageParams {
        PageParams {
            limit: self.limit,
            cursor: self.cursor,
        }
    }
}

fn contact_id(raw: &str) -> Result<ContactId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

/// One row per contact, the most recent conversation first.
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<PageResponse<ConversationView>>, Problem> {
    let page = q.page();
    let (rows, next) = app
        .conversations(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(rows, next)))
}

/// Marks the conversation read here and at Meta (blue ticks for the contact).
pub async fn read(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, Problem> {
    let id = contact_id(&id)?;
    Ok(Json(
        app.mark_conversation_read(&me.account_id, &id)
            .await?
            .into(),
    ))
}

/// A contact's messages, both ways, oldest first.
pub async fn thread(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<PageResponse<MessageView>>, Problem> {
    let id = contact_id(&id)?;
    // An unknown contact is a 404, not an empty thread.
    app.contact(&me.account_id, &id).await?;
    let page = q.page();
    let (messages, next) = app
        .thread(&me.account_id, &id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(messages, next)))
}
