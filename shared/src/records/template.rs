//! Message templates, one item per WABA, name and language, as last heard from Meta. They hold
//! the business's own wording and no personal data, so nothing is sealed; they go with the
//! account's partition at closure like everything else.

use super::{corrupt, from_json, from_millis, to_json, to_millis, RecordError};
use crate::domain::{
    AccountId, LanguageCode, Template, TemplateCategory, TemplateId, TemplateName, TemplateStatus,
    Timestamp, WabaId,
};
use crate::ports::{Condition, Item, Key, Query, Update, Value};
use crate::table;

pub fn key(account: &AccountId, t: &Template) -> Key {
    table::template(
        account,
        t.waba_id.as_str(),
        t.name.as_str(),
        t.language.as_str(),
    )
}

pub fn to_item(account: &AccountId, t: &Template) -> Result<Item, RecordError> {
    let mut item = Item::new(key(account, t))
        .with_gsi1(table::template_by_id(account, t.id.as_str()))
        .with("template_id", Value::S(t.id.to_string()))
        .with("waba_id", Value::S(t.waba_id.as_str().into()))
        .with("name", Value::S(t.name.to_string()))
        .with("language", Value::S(t.language.to_string()))
        .with("status", Value::S(t.status.as_str().into()))
        .with("category", Value::S(t.category.as_str().into()))
        .with("components", Value::S(to_json(&t.components)?))
        .with("updated_at", Value::N(to_millis(t.updated_at)));
    if let Some(q) = &t.quality_score {
        item = item.with("quality_score", Value::S(q.clone()));
    }
    if let Some(r) = &t.reason {
        item = item.with("reason", Value::S(r.clone()));
    }
    Ok(item)
}

pub fn from_item(item: &Item) -> Result<Template, RecordError> {
    Ok(Template {
        id: TemplateId::parse(item.s("template_id")?)?,
        waba_id: WabaId::parse(item.s("waba_id")?)?,
        name: TemplateName::parse(item.s("name")?)?,
        language: LanguageCode::parse(item.s("language")?)?,
        status: TemplateStatus::parse(item.s("status")?)?,
        category: TemplateCategory::parse(item.s("category")?)?,
        quality_score: item.opt_s("quality_score").map(str::to_owned),
        reason: item.opt_s("reason").map(str::to_owned),
        components: from_json(item.s("components")?).map_err(|_| corrupt("template components"))?,
        updated_at: from_millis(item.n("updated_at")?)?,
    })
}

/// The account's templates: of one WABA, and of one name in it, when given.
pub fn all(account: &AccountId, waba: Option<&WabaId>, name: Option<&TemplateName>) -> Query {
    let prefix = match waba {
        Some(w) => table::templates_prefix(w.as_str(), name.map(TemplateName::as_str)),
        None => table::TEMPLATE_PREFIX.to_owned(),
    };
    Query::partition(table::account_partition(account)).begins_with(prefix)
}

/// The template with Meta's id `id`, in the index (scoped to the tenant).
pub fn by_id(account: &AccountId, id: &TemplateId) -> Query {
    Query::gsi1(table::template_by_id(account, id.as_str()).pk).limit(1)
}

/// A status change from Meta's webhook, if the template is known.
pub fn status_changed(
    account: &AccountId,
    waba: &WabaId,
    name: &TemplateName,
    language: &LanguageCode,
    status: &TemplateStatus,
    reason: Option<&str>,
    at: Timestamp,
) -> Update {
    let update = Update::new(table::template(
        account,
        waba.as_str(),
        name.as_str(),
        language.as_str(),
    ))
    .set("status", Value::S(status.as_str().into()))
    .set("updated_at", Value::N(to_millis(at)))
    .when(Condition::Exists);
    match reason {
        Some(r) => update.set("reason", Value::S(r.into())),
        None => update.remove("reason"),
    }
}

/// One attribute of a known template changed at Meta (category, quality score, components).
pub fn changed(
    account: &AccountId,
    waba: &WabaId,
    name: &TemplateName,
    language: &LanguageCode,
    attribute: &'static str,
    value: Value,
    at: Timestamp,
) -> Update {
    Update::new(table::template(
        account,
        waba.as_str(),
        name.as_str(),
        language.as_str(),
    ))
    .set(attribute, value)
    .set("updated_at", Value::N(to_millis(at)))
    .when(Condition::Exists)
}

/// The attributes [`changed`] may set.
pub const CATEGORY: &str = "category";
pub const QUALITY_SCORE: &str = "quality_score";
pub const COMPONENTS: &str = "components";
