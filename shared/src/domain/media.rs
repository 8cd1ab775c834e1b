use std::fmt;

use super::{Invalid, PhoneNumberId, Timestamp};

/// The kinds of media WhatsApp carries, each with the MIME types and the size Meta accepts
/// (Cloud API "supported media types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Document,
    Image,
    Sticker,
    Video,
}

const MB: u64 = 1024 * 1024;

impl MediaKind {
    pub const ALL: [MediaKind; 5] = [
        MediaKind::Audio,
        MediaKind::Document,
        MediaKind::Image,
        MediaKind::Sticker,
        MediaKind::Video,
    ];

    /// The largest file Meta takes of this kind. Stickers: the animated limit (static ones
    /// are limited to 100 KB by Meta itself).
    pub fn max_bytes(self) -> u64 {
        match self {
            MediaKind::Audio | MediaKind::Video => 16 * MB,
            MediaKind::Document => 100 * MB,
            MediaKind::Image => 5 * MB,
            MediaKind::Sticker => 500 * 1024,
        }
    }

    pub fn mime_types(self) -> &'static [&'static str] {
        match self {
            MediaKind::Audio => &[
                "audio/aac",
                "audio/amr",
                "audio/mpeg",
                "audio/mp4",
                "audio/ogg",
            ],
            MediaKind::Document => &[
                "text/plain",
                "application/pdf",
                "application/msword",
                "application/vnd.ms-excel",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ],
            MediaKind::Image => &["image/jpeg", "image/png"],
            MediaKind::Sticker => &["image/webp"],
            MediaKind::Video => &["video/3gpp", "video/mp4"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Image => "image",
            MediaKind::Sticker => "sticker",
            MediaKind::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Invalid::new("media kind is audio, document, image, sticker or video"))
    }

    /// The kind a MIME type (parameters such as `; codecs=opus` ignored) is sent as.
    pub fn of_mime(mime: &str) -> Option<Self> {
        let essence = essence(mime);
        Self::ALL
            .into_iter()
            .find(|k| k.mime_types().contains(&essence.as_str()))
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A MIME type Meta accepts, with the kind it is sent as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaType {
    mime: String,
    kind: MediaKind,
}

impl MediaType {
    /// Parses a `Content-Type`; for `image/webp`, which is both an image and a sticker,
    /// `kind` says which (an image otherwise would be refused: Meta takes webp only as sticker).
    pub fn parse(content_type: &str, kind: Option<MediaKind>) -> Result<Self, Invalid> {
        let mime = essence(content_type);
        let found = MediaKind::of_mime(&mime).ok_or_else(|| {
            Invalid::new("this media type is not one WhatsApp accepts (see docs/messaging.md)")
        })?;
        if let Some(k) = kind {
            if !k.mime_types().contains(&mime.as_str()) {
                return Err(Invalid::new(format!("{mime} is not a {k} type")));
            }
            return Ok(Self { mime, kind: k });
        }
        Ok(Self { mime, kind: found })
    }

    pub fn mime(&self) -> &str {
        &self.mime
    }

    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// Checks a size against Meta's limit for this kind.
    pub fn check_size(&self, size: u64) -> Result<(), Invalid> {
        if size == 0 {
            return Err(Invalid::new("the file is empty"));
        }
        let max = self.kind.max_bytes();
        if size > max {
            return Err(Invalid::new(format!(
                "{} files are at most {} bytes",
                self.kind, max
            )));
        }
        Ok(())
    }
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Meta's id of an uploaded or received media object: digits, as the Graph API gives them.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct MediaId(String);

impl TryFrom<String> for MediaId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<MediaId> for String {
    fn from(id: MediaId) -> String {
        id.0
    }
}

impl MediaId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Invalid::new("a media id is 1 to 64 letters or digits"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_kinds_and_limits() {
        let t = MediaType::parse("audio/ogg; codecs=opus", None).unwrap();
        assert_eq!(t.kind(), MediaKind::Audio);
        assert_eq!(t.mime(), "audio/ogg");
        assert!(t.check_size(16 * MB).is_ok());
        assert!(t.check_size(16 * MB + 1).is_err());
        assert!(t.check_size(0).is_err());
        assert_eq!(
            MediaType::parse("image/webp", None).unwrap().kind(),
            MediaKind::Sticker
        );
        assert!(MediaType::parse("image/webp", Some(MediaKind::Image)).is_err());
        assert!(MediaType::parse("application/x-msdownload", None).is_err());
        assert_eq!(
            MediaType::parse("IMAGE/PNG", None).unwrap().kind(),
            MediaKind::Image
        );
    }

    #[test]
    fn media_ids_are_plain() {
        assert!(MediaId::parse("2621233374848975").is_ok());
        assert!(MediaId::parse("../x").is_err());
        assert!(MediaId::parse("").is_err());
    }
}

/// Where a media object stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Received in a message; the file is not fetched from Meta yet.
    Pending,
    /// The file is held (sealed) and can be downloaded.
    Stored,
    /// Meta would not give the file (expired, too large, refused); `failure` says why.
    Failed,
}

impl MediaState {
    pub const ALL: [MediaState; 3] = [MediaState::Pending, MediaState::Stored, MediaState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored => "stored",
            MediaState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A media object of a tenant, keyed by Meta's media id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub id: MediaId,
    pub kind: MediaKind,
    pub inbound: bool,
    /// The number it was received on or uploaded for.
    pub number: PhoneNumberId,
    pub state: MediaState,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
    /// Hex SHA-256 of the file.
    pub sha256: Option<String>,
    pub failure: Option<String>,
    pub created_at: Timestamp,
}
