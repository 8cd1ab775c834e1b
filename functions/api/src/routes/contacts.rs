use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use shared::domain::{Attributes, Bsuid, ContactId, ContactName, OptOut, Tag, Tags};
use shared::http::{ApiJson, ApiQuery, PageParams, PageResponse, Problem};
use shared::services::{
    App, ConsentInput, ContactChanges, ContactFilter, DeletionReceipt, Fields, NewContact,
};
use shared::views::ContactView;

use crate::{created, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    opted_in: bool,
    source: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    phone: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    consent: Option<ConsentBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOutBody {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    #[serde(default, deserialize_with = "shared::http::nullable")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::nullable")]
    user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::nullable")]
    name: Option<Option<String>>,
    tags: Option<Vec<String>>,
    /// Merged: a `null` value removes the attribute.
    attributes: Option<BTreeMap<String, Option<String>>>,
    consent: Option<ConsentBody>,
    /// An object records an opt-out now; `null` lifts it.
    #[serde(default, deserialize_with = "shared::http::nullable")]
    opt_out: Option<Option<OptOutBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
    tag: Option<String>,
    opted_in: Option<bool>,
    /// Exact lookup through the blind index; the other filters do not apply.
    phone: Option<String>,
    user_id: Option<String>,
}

fn tags(f: &mut Fields, raw: &[String]) -> Option<Tags> {
    f.check(
        "tags",
        shared::domain::parse_tags(raw.iter().map(String::as_str)),
    )
}

fn consent(f: &mut Fields, body: ConsentBody) -> Option<ConsentInput> {
    let source = body
        .source
        .map(|s| f.check("consent.source", shared::domain::Consent::parse_source(&s)));
    let text = body
        .text
        .map(|t| f.check("consent.text", shared::domain::Consent::parse_text(&t)));
    Some(ConsentInput {
        opted_in: body.opted_in,
        source: Fields::given(source)?,
        text: Fields::given(text)?,
    })
}

/// An id that does not parse names no contact of ours: the same 404 as any other.
fn contact_id(raw: &str) -> Result<ContactId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

pub async fn create(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, Problem> {
    let mut f = Fields::new();
    let phone = match &req.phone {
        Some(p) => f.check("phone", app.read_phone(&me.account_id, p).await?),
        None => None,
    };
    let user_id = req
        .user_id
        .as_deref()
        .map(|u| f.check("user_id", Bsuid::parse(u)));
    let name = req
        .name
        .as_deref()
        .map(|n| f.check("name", ContactName::parse(n)));
    let tags = tags(&mut f, &req.tags);
    let attributes = f.check("attributes", Attributes::parse(req.attributes));
    let consent = req.consent.map(|c| consent(&mut f, c));
    if req.phone.is_none() && req.user_id.is_none() {
        f.fail("phone", "a contact needs a phone or a user_id");
    }
    let new = f.finish(|| {
        Some(NewContact {
            phone,
            user_id: Fields::given(user_id)?,
            name: Fields::given(name)?,
            // Meta's to tell, from the user's messages.
            username: None,
            tags: tags?,
            attributes: attributes?,
            consent: Fields::given(consent)?,
        })
    })?;
    let contact = app.create_contact(&me.account_id, new).await?;
    let location = format!("/v1/contacts/{}", contact.id);
    Ok(created(location, ContactView::from(contact)))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<PageResponse<ContactView>>, Problem> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let mut f = Fields::new();
    if let Some(raw) = &q.phone {
        let phone = f.check("phone", app.read_phone(&me.account_id, raw).await?);
        let phone = f.finish(|| phone)?;
        let found = app.find_contact_by_phone(&me.account_id, &phone).await?;
        return Ok(Json(PageResponse::of(found.into_iter().collect(), None)));
    }
    if let Some(raw) = &q.user_id {
        let user_id = f.check("user_id", Bsuid::parse(raw));
        let user_id = f.finish(|| user_id)?;
        let found = app
            .find_contact_by_user_id(&me.account_id, &user_id)
            .await?;
        return Ok(Json(PageResponse::of(found.into_iter().collect(), None)));
    }
    let tag = q.tag.as_deref().map(|t| f.check("tag", Tag::parse(t)));
    let filter = f.finish(|| {
        Some(ContactFilter {
            tag: Fields::given(tag)?,
            opted_in: q.opted_in,
        })
    })?;
    let (contacts, next) = app.contacts(&me.account_id, &filter, limit, cursor).await?;
    Ok(Json(PageResponse::of(contacts, next)))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<ContactView>, Problem> {
    let id = contact_id(&id)?;
    let contact = app.contact(&me.account_id, &id).await?;
    let history = app.consent_history(&me.account_id, &contact).await?;
    let mut view = ContactView::from(contact);
    view.consent_history = Some(history.into_iter().map(Into::into).collect());
    Ok(Json(view))
}

pub async fn update(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<ContactView>, Problem> {
    let id = contact_id(&id)?;
    let mut f = Fields::new();
    let phone = match req.phone {
        Some(Some(p)) => Some(
            f.check("phone", app.read_phone(&me.account_id, &p).await?)
                .map(Some),
        ),
        Some(None) => Some(Some(None)),
        None => None,
    };
    let user_id = req.user_id.map(|u| {
        u.map(|u| f.check("user_id", Bsuid::parse(&u)))
            .map_or(Some(None), |r| r.map(Some))
    });
    let name = req.name.map(|n| {
        n.map(|n| f.check("name", ContactName::parse(&n)))
            .map_or(Some(None), |r| r.map(Some))
    });
    let tags = req.tags.map(|t| tags(&mut f, &t));
    let attributes = match req.attributes {
        Some(changes) => {
            let mut ok = true;
            for (k, v) in &changes {
                ok &= f.check("attributes", Attributes::parse_name(k)).is_some();
                if let Some(v) = v {
                    let single = BTreeMap::from([(k.clone(), v.clone())]);
                    ok &= f.check("attributes", Attributes::parse(single)).is_some();
                }
            }
            Some(ok.then_some(changes))
        }
        None => None,
    };
    let consent = req.consent.map(|c| consent(&mut f, c));
    let opt_out = req.opt_out.map(|o| {
        o.map(|o| f.check("opt_out.reason", OptOut::parse_reason(&o.reason)))
            .map_or(Some(None), |r| r.map(Some))
    });
    let changes = f.finish(|| {
        Some(ContactChanges {
            phone: Fields::given(phone)?,
            user_id: Fields::given(user_id)?,
            name: Fields::given(name)?,
            username: None,
            tags: Fields::given(tags)?,
            attributes: Fields::given(attributes)?,
            consent: Fields::given(consent)?,
            opt_out: Fields::given(opt_out)?,
        })
    })?;
    let contact = app.correct_contact(&me, &id, changes).await?;
    Ok(Json(contact.into()))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<DeletionReceipt>, Problem> {
    let id = contact_id(&id)?;
    let receipt = app.delete_contact(&me, &id).await?;
    Ok(Json(receipt))
}

pub async fn add_tags(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TagsRequest>,
) -> Result<Json<ContactView>, Problem> {
    let id = contact_id(&id)?;
    let mut f = Fields::new();
    let tags = tags(&mut f, &req.tags);
    let tags = f.finish(|| tags)?;
    Ok(Json(app.add_tags(&me.account_id, &id, tags).await?.into()))
}

pub async fn remove_tags(
    State(app): State<Arc<App>>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TagsRequest>,
) -> Result<Json<ContactView>, Problem> {
    let id = contact_id(&id)?;
    let mut f = Fields::new();
    let tags = tags(&mut f, &req.tags);
    let tags = f.finish(|| tags)?;
    Ok(Json(
        app.remove_tags(&me.account_id, &id, &tags).await?.into(),
    ))
}
