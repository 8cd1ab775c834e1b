//! Media on the Graph API: uploading a file for a phone number (`POST /{phone-number-id}/media`,
//! multipart form), looking a media id up (`GET /{media-id}`, whose URL lives 5 minutes) and
//! downloading it with the token.

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Deserializer};

use super::{body_error, GraphClient, GraphError};
use crate::domain::{AccessToken, MediaId, PhoneNumberId};

/// What `GET /{media-id}` answers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MediaInfo {
    pub id: String,
    pub url: String,
    pub mime_type: String,
    #[serde(default)]
    pub sha256: Option<String>,
    /// A number in Meta's answers, a string in its API description: both are read.
    #[serde(default, deserialize_with = "number_or_string")]
    pub file_size: Option<u64>,
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(u64),
        S(String),
    }
    Ok(match Option::<Size>::deserialize(d)? {
        None => None,
        Some(Size::N(n)) => Some(n),
        Some(Size::S(s)) => s.trim().parse().ok(),
    })
}

/// Hosts Meta serves media files from (`lookaside.fbsbx.com`, over HTTPS).
const MEDIA_HOST_SUFFIX: &str = ".fbsbx.com";

impl GraphClient {
    /// Whether `url` is one a media download may take the token to.
    pub fn is_media_host(&self, url: &url::Url) -> bool {
        let meta = url.scheme() == "https"
            && url
                .host_str()
                .is_some_and(|h| h.ends_with(MEDIA_HOST_SUFFIX) && !h.contains(':'));
        meta || url.origin() == self.base_url().origin()
    }

    pub async fn media_info(
        &self,
        media: &MediaId,
        number: &PhoneNumberId,
        token: &AccessToken,
    ) -> Result<MediaInfo, GraphError> {
        // `phone_number_id` makes Meta check the media belongs to this number.
        self.get_json(&format!("{media}?phone_number_id={number}"), token)
            .await
    }

    /// Downloads the file behind a media URL, refusing more than `max` bytes as they arrive.
    pub async fn download_media(
        &self,
        url: &str,
        token: &AccessToken,
        max: u64,
    ) -> Result<Bytes, GraphError> {
        let url = url::Url::parse(url).map_err(|e| GraphError::Decode(e.to_string()))?;
        // The token goes only where Meta keeps media (or to the Graph API we are configured
        // with: the stand-in serves its own files).
        if !self.is_media_host(&url) {
            return Err(GraphError::Decode(format!(
                "a media URL outside Meta's hosts: {}",
                url.host_str().unwrap_or("?")
            )));
        }
        let mut response = Self::respond(self.http()?.get(url).bearer_auth(token.expose())).await?;
        if response.content_length().is_some_and(|n| n > max) {
            return Err(GraphError::TooLarge { max });
        }
        let mut out = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(body_error)? {
            if out.len() as u64 + chunk.len() as u64 > max {
                return Err(GraphError::TooLarge { max });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// Uploads a file for `number` to send later by id; Meta keeps it 30 days.
    pub async fn upload_media(
        &self,
        number: &PhoneNumberId,
        token: &AccessToken,
        mime: &str,
        filename: &str,
        file: Bytes,
    ) -> Result<MediaId, GraphError> {
        let boundary = format!("whatatalk-{}", ulid::Ulid::new());
        let body = multipart(&boundary, mime, filename, &file);
        let request = self
            .http()?
            .post(self.url(&format!("{number}/media"))?)
            .bearer_auth(token.expose())
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        let uploaded: Uploaded = Self::send(request).await?;
        MediaId::parse(&uploaded.id).map_err(|e| GraphError::Decode(e.to_string()))
    }
}

/// The form Meta's upload takes: `messaging_product`, `type` and the `file` part.
fn multipart(boundary: &str, mime: &str, filename: &str, file: &[u8]) -> Bytes {
    // The filename is ours to choose and only labels the part: keep it to safe characters.
    let filename: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    let filename = if filename.is_empty() {
        "file".to_owned()
    } else {
        filename
    };
    let mut out = BytesMut::with_capacity(file.len() + 512);
    for (name, value) in [("messaging_product", "whatsapp"), ("type", mime)] {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_info_reads_sizes_as_numbers_or_strings() {
        let a: MediaInfo = serde_json::from_str(
            r#"{"id":"1","url":"https://x/y","mime_type":"image/jpeg","file_size":"303833","messaging_product":"whatsapp"}"#,
        )
        .unwrap();
        assert_eq!(a.file_size, Some(303833));
        let b: MediaInfo = serde_json::from_str(
            r#"{"id":"1","url":"https://x/y","mime_type":"image/jpeg","file_size":12}"#,
        )
        .unwrap();
        assert_eq!(b.file_size, Some(12));
    }

    #[test]
    fn the_form_has_three_parts() {
        let body = multipart("b", "image/png", "a b/../c.png", b"PNG");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("name=\"messaging_product\"\r\n\r\nwhatsapp"));
        assert!(text.contains("name=\"type\"\r\n\r\nimage/png"));
        assert!(text.contains("filename=\"ab..c.png\""));
        assert!(text.ends_with("PNG\r\n--b--\r\n"));
    }

    #[tokio::test]
    async fn the_token_goes_only_to_metas_media_hosts_or_our_graph() {
        let client = GraphClient::new(super::super::GraphConfig::new(
            url::Url::parse("http://127.0.0.1:4000/").unwrap(),
            "v23.0",
        ));
        let allowed = |u: &str| client.is_media_host(&url::Url::parse(u).unwrap());
        assert!(allowed(
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2"
        ));
        assert!(allowed("http://127.0.0.1:4000/_standin/media/1"));
        for refused in [
            "http://lookaside.fbsbx.com/x",
            "https://fbsbx.com.evil.example/x",
            "https://evil.example/lookaside.fbsbx.com",
            "https://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:4001/x",
            "https://127.0.0.1:4000/x",
        ] {
            assert!(!allowed(refused), "{refused}");
        }
        let err = client
            .download_media(
                "https://evil.example/steal",
                &crate::domain::AccessToken::parse("EAAGsecrettoken12345").unwrap(),
                10,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, GraphError::Decode(_)), "{err}");
    }
}
