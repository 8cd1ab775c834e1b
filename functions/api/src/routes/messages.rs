use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::{Bsuid, MessageStatus, PhoneNumberId};
use shared::graph::messages::Content;
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem, ProblemType};
use shared::services::{App, Fields, MessageFilter, NewMessage, Recipient};
use shared::views::MessageView;

use crate::Caller;

#[derive(Serialize)]
pub struct Queued {
    id: String,
    status: MessageStatus,
}

fn malformed(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemType::MalformedRequest).with_detail(detail)
}

/// Reads Meta's own envelope too, so a body copied from Meta's documentation works with `from`
/// added: `messaging_product` (`whatsapp`) and `recipient_type` (`individual`) are checked and
/// dropped, `context.message_id` is `reply_to`, `recipient` (a BSUID) stands in for a missing
/// `to`, and a missing `type` is `text`, Meta's default.
fn from_meta_envelope(object: &mut serde_json::Map<String, Value>) -> Result<(), Problem> {
    match object.remove("messaging_product") {
        None => {}
        Some(Value::String(s)) if s == "whatsapp" => {}
        Some(_) => return Err(malformed("`messaging_product` must be \"whatsapp\"")),
    }
    match object.remove("recipient_type") {
        None => {}
        Some(Value::String(s)) if s == "individual" => {}
        Some(_) => return Err(malformed("`recipient_type` must be \"individual\"")),
    }
    if let Some(context) = object.remove("context") {
        let id = context
            .get("message_id")
            .filter(|_| context.as_object().is_some_and(|c| c.len() == 1))
            .cloned()
            .ok_or_else(|| malformed("`context` is {\"message_id\": \"wamid…\"}"))?;
        if object.insert("reply_to".into(), id).is_some() {
            return Err(malformed("give `reply_to` or `context`, not both"));
        }
    }
    // `to` wins when both are given, as at Meta.
    if let Some(recipient) = object.remove("recipient") {
        object.entry("to").or_insert(recipient);
    }
    object
        .entry("type")
        .or_insert_with(|| Value::String("text".into()));
    Ok(())
}

/// `{"from", "to", "reply_to"?, "type", "<type>": {...}}`: the content part has Meta's shape.
pub async fn send(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(value): ApiJson<Value>,
) -> Result<Response, Problem> {
    let Value::Object(mut object) = value else {
        return Err(malformed("The body must be a JSON object."));
    };
    from_meta_envelope(&mut object)?;
    let mut take = |name: &str| -> Result<Option<String>, Problem> {
        match object.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(malformed(format!("`{name}` must be a string"))),
        }
    };
    let from = take("from")?.ok_or_else(|| malformed("missing field `from`"))?;
    let to = take("to")?.ok_or_else(|| malformed("missing field `to`"))?;
    let reply_to = take("reply_to")?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("missing field `type`"))?
        .to_owned();
    if let Some(extra) = object.keys().find(|k| *k != "type" && **k != kind) {
        return Err(malformed(format!(
            "unknown field `{extra}`: a `{kind}` message takes from, to, reply_to, type and {kind}"
        )));
    }
    let content: Content = serde_path_to_error::deserialize(Value::Object(object))
        .map_err(|e| malformed(format!("Invalid message at `{}`: {}", e.path(), e.inner())))?;

    let mut f = Fields::new();
    let from = f.check("from", PhoneNumberId::parse(&from));
    let to = f.check("to", recipient(&app, &me.account_id, &to).await?);
    f.check("content", content.check());
    let new = f.finish(|| {
        Some(NewMessage {
            from: from?,
            to: to?,
            content,
            reply_to,
        })
    })?;
    let message = app.send_message(&me.account_id, new).await?;
    let location = format!("/v1/messages/{}", message.id);
    let body = Queued {
        id: message.id.to_string(),
        status: message.status,
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// `con_…` is a contact, `+…` or digits a phone, anything else a BSUID.
async fn recipient(
    app: &App,
    account: &shared::domain::AccountId,
    raw: &str,
) -> Result<Result<Recipient, shared::domain::Invalid>, Problem> {
    if raw.starts_with("con_") {
        return Ok(raw
            .parse()
            .map(Recipient::Contact)
            .map_err(|_| shared::domain::Invalid::new("not a contact id")));
    }
    if raw.starts_with('+') || raw.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(app.read_phone(account, raw).await?.map(Recipient::Phone));
    }
    Ok(Bsuid::parse(raw).map(Recipient::UserId).map_err(|_| {
        shared::domain::Invalid::new("must be a contact id, a phone number or a WhatsApp user id")
    }))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, Problem> {
    let id = id.parse().map_err(|_| Problem::not_found())?;
    Ok(Json(app.message(&me.account_id, &id).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
    status: Option<MessageStatus>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<PageResponse<MessageView>>, Problem> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let filter = MessageFilter { status: q.status };
    let (messages, next) = app
        .messages(&me.account_id, &filter, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(messages, next)))
}
