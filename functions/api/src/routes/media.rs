use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use shared::domain::{Media, MediaId, MediaKind, MediaState, MediaType, PhoneNumberId, Timestamp};
use shared::http::{ApiQuery, Problem, ProblemType};
use shared::services::media::NewMedia;
use shared::services::App;

use crate::{created, Caller};

#[derive(Serialize)]
pub struct MediaView {
    id: String,
    #[serde(rename = "type")]
    kind: MediaKind,
    direction: &'static str,
    phone_number_id: String,
    state: MediaState,
    mime_type: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
    failure: Option<String>,
    /// Where to download the file, without an API key, until `download_expires_at`.
    download_url: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    download_expires_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
}

impl From<Media> for MediaView {
    fn from(m: Media) -> Self {
        Self {
            id: m.id.to_string(),
            kind: m.kind,
            direction: if m.inbound { "inbound" } else { "outbound" },
            phone_number_id: m.number.to_string(),
            state: m.state,
            mime_type: m.mime_type,
            size: m.size,
            sha256: m.sha256,
            failure: m.failure,
            download_url: None,
            download_expires_at: None,
            created_at: m.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The connected number the file will be sent from.
    from: String,
    /// Only needed for `image/webp`, which Meta takes as a sticker.
    #[serde(rename = "type")]
    kind: Option<String>,
    filename: Option<String>,
}

/// The file is the body, its media type the `Content-Type`.
pub async fn upload(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = params
        .kind
        .as_deref()
        .map(MediaKind::parse)
        .transpose()
        .map_err(|e| invalid("type", &e.0))?;
    let media_type = MediaType::parse(content_type, kind).map_err(|e| {
        Problem::new(ProblemType::UnsupportedMediaType).with_detail(format!(
            "{} Send the file with its Content-Type (image/jpeg, application/pdf, …).",
            e.0
        ))
    })?;
    let number = PhoneNumberId::parse(&params.from).map_err(|e| invalid("from", &e.0))?;
    // Read no further than the kind's limit: a larger file is refused without being held.
    let max = media_type.kind().max_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(&media_type));
    }
    let file = axum::body::to_bytes(body, max as usize + 1)
        .await
        .map_err(|_| too_large(&media_type))?;
    if file.len() as u64 > max {
        return Err(too_large(&media_type));
    }
    let media = app
        .upload_media(
            &me.account_id,
            NewMedia {
                number,
                media_type,
                filename: params.filename,
                file,
            },
        )
        .await?;
    Ok(created(
        format!("/v1/media/{}", media.id),
        MediaView::from(media),
    ))
}

/// The media object, with a fresh download link when the file is held.
pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<MediaView>, Problem> {
    let id = MediaId::parse(&id).map_err(|_| Problem::not_found())?;
    let media = app.media(&me.account_id, &id).await?;
    let stored = media.state == MediaState::Stored;
    let mut view = MediaView::from(media);
    if stored {
        let (token, expires_at) = app.media_link(&me.account_id, &id).await?;
        view.download_url = Some(format!("{}/media/{token}", public_base(&headers)));
        view.download_expires_at = Some(expires_at);
    }
    Ok(Json(view))
}

/// A download link: the token is the credential.
pub async fn download(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> Result<Response, Problem> {
    let file = app.media_download(&token).await.map_err(|e| match e {
        shared::services::ServiceError::NotFound => Problem::new(ProblemType::LinkInvalid)
            .with_detail("The link is unknown or expired; ask GET /v1/media/{id} for a new one."),
        e => e.into(),
    })?;
    Ok(file_response(file))
}

/// A stranger's file, served from the app's own origin: never rendered here (no sniffing,
/// a download, and a policy that would sandbox it even if a browser showed it). An `<img>`
/// of the app still shows an image served so.
pub fn file_response(file: shared::services::media::MediaFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.mime_type),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        file.bytes,
    )
        .into_response()
}

/// Scheme and host the caller reached us at (API Gateway sets `X-Forwarded-Proto`).
pub fn public_base(headers: &HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = get("x-forwarded-host")
        .or_else(|| get(header::HOST.as_str()))
        .unwrap_or("localhost");
    let proto = get("x-forwarded-proto").unwrap_or(
        if host.starts_with("127.0.0.1") || host.starts_with("localhost") {
            "http"
        } else {
            "https"
        },
    );
    format!("{proto}://{host}")
}

fn invalid(field: &str, message: &str) -> Problem {
    shared::services::ServiceError::invalid(field, message).into()
}

fn too_large(media_type: &MediaType) -> Problem {
    Problem::new(ProblemType::PayloadTooLarge).with_detail(format!(
        "{} files are at most {} bytes.",
        media_type.kind(),
        media_type.kind().max_bytes()
    ))
}
