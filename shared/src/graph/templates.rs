//! Message templates on the Graph API: `GET /{waba-id}/message_templates` (paged, optionally by
//! name), `POST /{waba-id}/message_templates` (create), `POST /{template-id}` (edit) and
//! `DELETE /{waba-id}/message_templates?name=…[&hsm_id=…]`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{query_value, GraphClient, GraphError, Paging};
use crate::domain::{AccessToken, TemplateId, WabaId};

/// A template as Meta lists it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct TemplateInfo {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: String,
    #[serde(default)]
    pub components: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_score: Option<QualityScore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct QualityScore {
    pub score: String,
}

/// The fields asked for when listing: the defaults and the quality score.
const FIELDS: &str = "id,name,language,status,category,components,quality_score,rejected_reason";

#[derive(Deserialize)]
struct Connection {
    #[serde(default)]
    data: Vec<TemplateInfo>,
    #[serde(default)]
    paging: Option<Paging>,
}

/// The body of a create: what `POST /{waba-id}/message_templates` takes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: Vec<Value>,
    /// `positional` or `named`; Meta's default is positional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_format: Option<String>,
}

/// Meta's answer to a create.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Created {
    pub id: String,
    pub status: String,
    pub category: String,
}

#[derive(Deserialize)]
struct Success {
    #[serde(default)]
    success: bool,
}

/// Pages read at most in one sync (100 templates each); Meta caps a WABA's templates far below.
pub const MAX_PAGES: usize = 100;

impl GraphClient {
    /// One page of the WABA's templates (only those called `name`, when given).
    pub async fn templates_page(
        &self,
        waba: &WabaId,
        token: &AccessToken,
        name: Option<&str>,
        after: Option<&str>,
    ) -> Result<(Vec<TemplateInfo>, Option<String>), GraphError> {
        let mut path = format!(
            "{}/message_templates?fields={FIELDS}&limit=100",
            waba.as_str()
        );
        if let Some(name) = name {
            path.push_str("&name=");
            path.push_str(&query_value(name));
        }
        if let Some(cursor) = after {
            path.push_str("&after=");
            path.push_str(&query_value(cursor));
        }
        let page: Connection = self.get_json(&path, token).await?;
        Ok((page.data, page.paging.and_then(Paging::next_cursor)))
    }

    /// Every template of the WABA (called `name`, when given), following every page.
    pub async fn templates(
        &self,
        waba: &WabaId,
        token: &AccessToken,
        name: Option<&str>,
    ) -> Result<Vec<TemplateInfo>, GraphError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let (page, next) = self
                .templates_page(waba, token, name, after.as_deref())
                .await?;
            all.extend(page);
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        Ok(all)
    }

    pub async fn create_template(
        &self,
        waba: &WabaId,
        token: &AccessToken,
        template: &NewTemplate,
    ) -> Result<Created, GraphError> {
        self.post_json(
            &format!("{}/message_templates", waba.as_str()),
            token,
            template,
        )
        .await
    }

    /// Edits an approved, rejected or paused template's components or category.
    pub async fn edit_template(
        &self,
        id: &TemplateId,
        token: &AccessToken,
        changes: &Value,
    ) -> Result<bool, GraphError> {
        let answer: Success = self.post_json(id.as_str(), token, changes).await?;
        Ok(answer.success)
    }

    /// Deletes every language of `name`, or only the template `id` of it.
    pub async fn delete_template(
        &self,
        waba: &WabaId,
        token: &AccessToken,
        name: &str,
        id: Option<&TemplateId>,
    ) -> Result<bool, GraphError> {
        let mut path = format!(
            "{}/message_templates?name={}",
            waba.as_str(),
            query_value(name)
        );
        if let Some(id) = id {
            path.push_str("&hsm_id=");
            path.push_str(id.as_str());
        }
        let answer: Success = self.delete_json(&path, token).await?;
        Ok(answer.success)
    }
}
