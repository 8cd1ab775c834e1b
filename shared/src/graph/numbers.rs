//! Numbers and WhatsApp Business Accounts on the Graph API: what Meta says a number is
//! (`GET /{phone-number-id}`), which numbers a WABA holds (`GET /{waba-id}/phone_numbers`,
//! paged) and subscribing our app to a WABA's webhooks (`POST /{waba-id}/subscribed_apps`).
//! Each call is made with the business's own token, so an answer proves that token's reach.

use serde::Deserialize;

use super::{GraphClient, GraphError, Paging};
use crate::domain::{AccessToken, PhoneNumberId, WabaId};

/// A number as Meta describes it (the default fields of `GET /{phone-number-id}`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PhoneNumberInfo {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
    #[serde(default)]
    pub quality_rating: Option<String>,
}

#[derive(Deserialize)]
struct Connection {
    #[serde(default)]
    data: Vec<PhoneNumberInfo>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Success {
    #[serde(default)]
    success: bool,
}

/// Pages read at most when looking for a number under a WABA (100 numbers each); Meta caps a
/// WABA far below this.
const MAX_PAGES: usize = 50;

impl GraphClient {
    pub async fn phone_number(
        &self,
        id: &PhoneNumberId,
        token: &AccessToken,
    ) -> Result<PhoneNumberInfo, GraphError> {
        self.get_json(
            &format!("{id}?fields=id,display_phone_number,verified_name,quality_rating"),
            token,
        )
        .await
    }

    /// The WABA's entry for `id`, if the WABA lists it (reading every page until found).
    pub async fn waba_number(
        &self,
        waba: &WabaId,
        id: &PhoneNumberId,
        token: &AccessToken,
    ) -> Result<Option<PhoneNumberInfo>, GraphError> {
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut path = format!(
                "{}/phone_numbers?fields=id,display_phone_number,verified_name,quality_rating&limit=100",
                waba.as_str()
            );
            if let Some(cursor) = &after {
                path.push_str("&after=");
                path.push_str(&super::query_value(cursor));
            }
            let page: Connection = self.get_json(&path, token).await?;
            if let Some(found) = page.data.into_iter().find(|n| n.id == id.as_str()) {
                return Ok(Some(found));
            }
            match page.paging.and_then(Paging::next_cursor) {
                Some(cursor) => after = Some(cursor),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Subscribes our app to the WABA's webhooks (idempotent at Meta).
    pub async fn subscribe_app(
        &self,
        waba: &WabaId,
        token: &AccessToken,
    ) -> Result<bool, GraphError> {
        let answer: Success = self
            .post_json(
                &format!("{}/subscribed_apps", waba.as_str()),
                token,
                &serde_json::json!({}),
            )
            .await?;
        Ok(answer.success)
    }
}
