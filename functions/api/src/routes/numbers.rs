use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use shared::domain::{parse_messages_per_second, AccessToken, PhoneNumber, PhoneNumberId, WabaId};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::{App, Fields, NewNumber, NumberChanges};
use shared::views::NumberView;

use crate::{created, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    phone_number_id: String,
    waba_id: String,
    /// Optional: Meta's is used; when given it must be the same number.
    display_phone_number: Option<String>,
    access_token: String,
}

pub async fn connect(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<ConnectRequest>,
) -> Result<Response, Problem> {
    let mut f = Fields::new();
    let phone_number_id = f.check(
        "phone_number_id",
        PhoneNumberId::parse(&req.phone_number_id),
    );
    let waba_id = f.check("waba_id", WabaId::parse(&req.waba_id));
    let display = req
        .display_phone_number
        .map(|d| f.check("display_phone_number", PhoneNumber::from_meta(&d)));
    let token = f.check("access_token", AccessToken::parse(&req.access_token));
    let new = f.finish(|| {
        Some(NewNumber {
            phone_number_id: phone_number_id?,
            waba_id: waba_id?,
            display_phone_number: Fields::given(display)?,
            access_token: token?,
        })
    })?;
    let number = app.connect_number_by(&me, new).await?;
    let location = format!("/v1/numbers/{}", number.phone_number_id);
    Ok(created(location, NumberView::from(number)))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageResponse<NumberView>>, Problem> {
    let (numbers, next) = app
        .numbers(&me.account_id, page.limit()?, page.cursor()?)
        .await?;
    Ok(Json(PageResponse::of(numbers, next)))
}

/// An id that does not parse names no number of ours: the same 404 as any other.
fn number_id(raw: &str) -> Result<PhoneNumberId, Problem> {
    PhoneNumberId::parse(raw).map_err(|_| Problem::not_found())
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<NumberView>, Problem> {
    let number = app.number(&me.account_id, &number_id(&id)?).await?;
    Ok(Json(number.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    waba_id: Option<String>,
    display_phone_number: Option<String>,
    /// A new token (rotation, or after Meta reports error 190).
    access_token: Option<String>,
    /// The number's throughput tier, 1 to 1,000 (Meta starts numbers at 80).
    messages_per_second: Option<u32>,
}

pub async fn update(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<NumberView>, Problem> {
    let id = number_id(&id)?;
    let mut f = Fields::new();
    let waba_id = req.waba_id.map(|w| f.check("waba_id", WabaId::parse(&w)));
    let display = req
        .display_phone_number
        .map(|d| f.check("display_phone_number", PhoneNumber::from_meta(&d)));
    let token = req
        .access_token
        .map(|t| f.check("access_token", AccessToken::parse(&t)));
    let rate = req
        .messages_per_second
        .map(|r| f.check("messages_per_second", parse_messages_per_second(r)));
    let changes = f.finish(|| {
        Some(NumberChanges {
            waba_id: waba_id.flatten(),
            display_phone_number: display.flatten(),
            access_token: token.flatten(),
            messages_per_second: Fields::given(rate)?,
        })
    })?;
    let number = app.update_number(&me, &id, changes).await?;
    Ok(Json(number.into()))
}

pub async fn disconnect(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = number_id(&id)?;
    app.disconnect_number(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
