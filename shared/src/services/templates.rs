//! Message templates per WABA, as Meta holds them: synced (every page), created, edited and
//! deleted at Meta with a token of one of the account's numbers under that WABA, updated by
//! Meta's template webhooks, and checked before a template message is queued.

use futures::TryStreamExt;
use serde_json::Value;

use super::{App, ServiceError};
use crate::domain::{
    now, AccessToken, AccountId, LanguageCode, Template, TemplateCategory, TemplateId,
    TemplateName, TemplateStatus, WabaId,
};
use crate::graph::messages::Template as TemplateMessage;
use crate::graph::templates::{NewTemplate as GraphNewTemplate, TemplateInfo};
use crate::ports::{Cursor, StoreError, Value as Attr};
use crate::records::{self, number, template};
use crate::webhook::NoticeChange;

/// A template to create at Meta.
#[derive(Clone, Debug)]
pub struct NewTemplate {
    pub waba_id: WabaId,
    pub name: TemplateName,
    pub language: LanguageCode,
    pub category: TemplateCategory,
    pub components: Vec<Value>,
    /// `positional` (Meta's default) or `named`.
    pub parameter_format: Option<String>,
}

/// Filters of `GET /v1/templates`.
#[derive(Clone, Debug, Default)]
pub struct TemplateFilter {
    pub waba_id: Option<WabaId>,
    pub name: Option<TemplateName>,
}

/// What a sync found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// WABAs read.
    pub wabas: u32,
    /// Templates Meta listed (and now stored).
    pub templates: u32,
    /// Templates stored here that Meta no longer lists (deleted).
    pub removed: u32,
}

impl SyncReport {
    fn add(&mut self, other: SyncReport) {
        self.wabas += other.wabas;
        self.templates += other.templates;
        self.removed += other.removed;
    }
}

/// A template as Meta listed it, for our store; `None` when Meta's values do not parse (it is
/// skipped and logged, never stored half-read).
fn from_meta(waba: &WabaId, t: TemplateInfo) -> Option<Template> {
    let parsed = (|| {
        Ok::<_, crate::domain::Invalid>(Template {
            id: TemplateId::parse(&t.id)?,
            waba_id: waba.clone(),
            name: TemplateName::parse(&t.name)?,
            language: LanguageCode::parse(&t.language)?,
            status: TemplateStatus::parse(&t.status)?,
            category: TemplateCategory::parse(&t.category)?,
            quality_score: t.quality_score.map(|q| q.score),
            reason: t.rejected_reason.filter(|r| r != "NONE"),
            components: t.components,
            updated_at: now(),
        })
    })();
    match parsed {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "a template Meta listed does not parse; skipped");
            None
        }
    }
}

impl App {
    /// A token that reaches the WABA: that of one of the account's numbers under it.
    async fn waba_token(
        &self,
        account: &AccountId,
        waba: &WabaId,
    ) -> Result<AccessToken, ServiceError> {
        let mut numbers = records::items(&*self.items, number::all(account));
        while let Some(item) = numbers.try_next().await? {
            if item.opt_s("waba_id") == Some(waba.as_str()) {
                let sealer = self.sealer(account, 1).await?;
                return Ok(number::access_token(&sealer, &item)?);
            }
        }
        Err(ServiceError::NumberNotConnected)
    }

    /// The WABAs the account's numbers are under.
    async fn wabas(&self, account: &AccountId) -> Result<Vec<WabaId>, ServiceError> {
        let mut wabas: Vec<WabaId> = Vec::new();
        let mut numbers = records::items(&*self.items, number::all(account));
        while let Some(item) = numbers.try_next().await? {
            if let Some(w) = item.opt_s("waba_id").and_then(|w| WabaId::parse(w).ok()) {
                if !wabas.contains(&w) {
                    wabas.push(w);
                }
            }
        }
        Ok(wabas)
    }

    /// Reads every template of every WABA the account's numbers are under, from Meta.
    pub async fn sync_templates(&self, account: &AccountId) -> Result<SyncReport, ServiceError> {
        let mut report = SyncReport::default();
        for waba in self.wabas(account).await? {
            let token = self.waba_token(account, &waba).await?;
            report.add(self.sync_waba_templates(account, &waba, &token).await?);
        }
        tracing::info!(account_id = %account, templates = report.templates, removed = report.removed, "templates synced");
        Ok(report)
    }

    /// Reads every page of one WABA's templates; stores each and removes the ones Meta no
    /// longer lists.
    pub(crate) async fn sync_waba_templates(
        &self,
        account: &AccountId,
        waba: &WabaId,
        token: &AccessToken,
    ) -> Result<SyncReport, ServiceError> {
        let listed = self.graph.templates(waba, token, None).await?;
        let mut report = SyncReport {
            wabas: 1,
            ..SyncReport::default()
        };
        let mut keys = std::collections::HashSet::new();
        for t in listed.into_iter().filter_map(|t| from_meta(waba, t)) {
            let item = template::to_item(account, &t)?;
            keys.insert(item.key.sk.clone());
            self.items.put(item, None).await?;
            report.templates += 1;
        }
        let mut stored = records::items(&*self.items, template::all(account, Some(waba), None));
        let mut gone = Vec::new();
        while let Some(item) = stored.try_next().await? {
            if !keys.contains(&item.key.sk) {
                gone.push(item.key);
            }
        }
        for key in gone {
            self.items.delete(&key, None).await?;
            report.removed += 1;
        }
        Ok(report)
    }

    pub async fn templates(
        &self,
        account: &AccountId,
        filter: &TemplateFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Template>, Option<Cursor>), ServiceError> {
        let query = template::all(account, filter.waba_id.as_ref(), filter.name.as_ref())
            .limit(limit)
            .after(cursor);
        Ok(records::list(&*self.items, query, template::from_item).await?)
    }

    pub async fn template(
        &self,
        account: &AccountId,
        id: &TemplateId,
    ) -> Result<Template, ServiceError> {
        let page = self.items.query(template::by_id(account, id)).await?;
        let item = page.items.first().ok_or(ServiceError::NotFound)?;
        Ok(template::from_item(item)?)
    }

    /// Creates a template at Meta (its components checked first) and stores it as Meta
    /// answered: usually `PENDING` until Meta's review, which its webhook reports.
    pub async fn create_template(
        &self,
        account: &AccountId,
        new: NewTemplate,
    ) -> Result<Template, ServiceError> {
        crate::domain::check_components(&new.components)
            .map_err(|e| ServiceError::invalid("components", &e.0))?;
        let token = self.waba_token(account, &new.waba_id).await?;
        let body = GraphNewTemplate {
            name: new.name.to_string(),
            language: new.language.to_string(),
            category: new.category.as_str().to_owned(),
            components: new.components.clone(),
            parameter_format: new.parameter_format,
        };
        let created = self
            .graph
            .create_template(&new.waba_id, &token, &body)
            .await?;
        let t = Template {
            id: TemplateId::parse(&created.id).map_err(|e| ServiceError::Graph {
                code: None,
                message: e.0,
            })?,
            waba_id: new.waba_id,
            name: new.name,
            language: new.language,
            status: TemplateStatus::parse(&created.status)
                .unwrap_or_else(|_| TemplateStatus::pending()),
            category: TemplateCategory::parse(&created.category).unwrap_or(new.category),
            quality_score: None,
            reason: None,
            components: new.components,
            updated_at: now(),
        };
        self.items
            .put(template::to_item(account, &t)?, None)
            .await?;
        tracing::info!(account_id = %account, template_id = %t.id, "template created");
        Ok(t)
    }

    /// Edits a template at Meta (components and/or category, as Meta allows), then reads it
    /// back from Meta.
    pub async fn edit_template(
        &self,
        account: &AccountId,
        id: &TemplateId,
        components: Option<Vec<Value>>,
        category: Option<TemplateCategory>,
    ) -> Result<Template, ServiceError> {
        let current = self.template(account, id).await?;
        let mut changes = serde_json::Map::new();
        if let Some(c) = &components {
            crate::domain::check_components(c)
                .map_err(|e| ServiceError::invalid("components", &e.0))?;
            changes.insert("components".into(), Value::from(c.clone()));
        }
        if let Some(c) = category {
            changes.insert("category".into(), Value::from(c.as_str()));
        }
        let token = self.waba_token(account, &current.waba_id).await?;
        self.graph
            .edit_template(id, &token, &Value::Object(changes))
            .await?;
        self.refresh_template(account, &current.waba_id, &current.name, &token)
            .await?;
        self.template(account, id).await
    }

    /// Deletes a template at Meta: only this language, or every language of its name.
    pub async fn delete_template(
        &self,
        account: &AccountId,
        id: &TemplateId,
        every_language: bool,
    ) -> Result<(), ServiceError> {
        let t = self.template(account, id).await?;
        let token = self.waba_token(account, &t.waba_id).await?;
        let only = (!every_language).then_some(id);
        self.graph
            .delete_template(&t.waba_id, &token, t.name.as_str(), only)
            .await?;
        let query = template::all(account, Some(&t.waba_id), Some(&t.name));
        let mut stored = records::items(&*self.items, query);
        let mut gone = Vec::new();
        while let Some(item) = stored.try_next().await? {
            if every_language || item.opt_s("template_id") == Some(id.as_str()) {
                gone.push(item.key);
            }
        }
        for key in gone {
            self.items.delete(&key, None).await?;
        }
        tracing::info!(account_id = %account, template_id = %id, every_language, "template deleted");
        Ok(())
    }

    /// Reads one name's templates (every language) from Meta and stores them.
    async fn refresh_template(
        &self,
        account: &AccountId,
        waba: &WabaId,
        name: &TemplateName,
        token: &AccessToken,
    ) -> Result<(), ServiceError> {
        let listed = self
            .graph
            .templates(waba, token, Some(name.as_str()))
            .await?;
        for t in listed.into_iter().filter_map(|t| from_meta(waba, t)) {
            // Meta's name filter matches substrings: keep only this name.
            if &t.name == name {
                self.items
                    .put(template::to_item(account, &t)?, None)
                    .await?;
            }
        }
        Ok(())
    }

    /// The stored template a message names, looked up at Meta once when not known here (one
    /// made in Meta's own manager works at once).
    async fn named_template(
        &self,
        account: &AccountId,
        waba: &WabaId,
        name: &TemplateName,
        language: &LanguageCode,
    ) -> Result<Option<Template>, ServiceError> {
        let key = crate::table::template(account, waba.as_str(), name.as_str(), language.as_str());
        if let Some(item) = self.items.get(&key).await? {
            return Ok(Some(template::from_item(&item)?));
        }
        let token = self.waba_token(account, waba).await?;
        self.refresh_template(account, waba, name, &token).await?;
        match self.items.get(&key).await? {
            Some(item) => Ok(Some(template::from_item(&item)?)),
            None => Ok(None),
        }
    }

    /// Checks a template message against its template, as Meta would: an approved template
    /// of that name in that language, and exactly the parameters it needs.
    pub(crate) async fn check_template_message(
        &self,
        account: &AccountId,
        waba: &WabaId,
        message: &TemplateMessage,
    ) -> Result<Template, ServiceError> {
        let name = TemplateName::parse(&message.name)
            .map_err(|e| ServiceError::invalid("template.name", &e.0))?;
        let language = LanguageCode::parse(&message.language.code)
            .map_err(|e| ServiceError::invalid("template.language.code", &e.0))?;
        let Some(t) = self.named_template(account, waba, &name, &language).await? else {
            return Err(ServiceError::TemplateNotFound {
                name: name.to_string(),
                language: language.to_string(),
            });
        };
        if !t.status.sends() {
            return Err(ServiceError::TemplateNotApproved {
                name: name.to_string(),
                status: t.status.as_str().to_owned(),
            });
        }
        t.shape()
            .check(message)
            .map_err(|m| ServiceError::invalid(m.field, &m.message))?;
        Ok(t)
    }

    /// Applies a template webhook to the stored template, if it is known; a status that stops
    /// sending pauses the broadcasts that use it.
    pub(crate) async fn apply_template_notice(
        &self,
        account: &AccountId,
        change: &NoticeChange,
    ) -> Result<(), ServiceError> {
        let v = &change.value;
        // Meta sends the id as a number; accept a string too.
        let id = match v.get("message_template_id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => return Ok(()),
        };
        let Ok(id) = TemplateId::parse(&id) else {
            return Ok(());
        };
        let t = match self.template(account, &id).await {
            Ok(t) => t,
            // Not known here: the next sync or send reads it from Meta.
            Err(ServiceError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let at = now();
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        let set = |attribute, value| {
            template::changed(
                account,
                &t.waba_id,
                &t.name,
                &t.language,
                attribute,
                value,
                at,
            )
        };
        let update = match change.field.as_str() {
            "message_template_status_update" => {
                let Some(status) = text("event").and_then(|e| TemplateStatus::parse(e).ok()) else {
                    return Ok(());
                };
                let reason = text("reason")
                    .filter(|r| *r != "NONE")
                    .or_else(|| v.pointer("/other_info/description").and_then(Value::as_str));
                if status.stops_broadcasts() {
                    self.pause_broadcasts_of(account, &t, &status, reason)
                        .await?;
                }
                self.raise_template_status(account, &t, &status, reason)
                    .await?;
                template::status_changed(
                    account,
                    &t.waba_id,
                    &t.name,
                    &t.language,
                    &status,
                    reason,
                    at,
                )
            }
            "template_category_update" => {
                let Some(category) = text("new_category")
                    .or_else(|| text("correct_category"))
                    .and_then(|c| TemplateCategory::parse(c).ok())
                else {
                    return Ok(());
                };
                set(template::CATEGORY, Attr::S(category.as_str().into()))
            }
            "message_template_quality_update" => {
                let Some(score) = text("new_quality_score") else {
                    return Ok(());
                };
                set(template::QUALITY_SCORE, Attr::S(score.to_owned()))
            }
            "message_template_components_update" => {
                // The webhook carries the new texts but not the whole structure: read it.
                let token = self.waba_token(account, &t.waba_id).await?;
                return self
                    .refresh_template(account, &t.waba_id, &t.name, &token)
                    .await;
            }
            _ => return Ok(()),
        };
        match self.items.update(update).await {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
