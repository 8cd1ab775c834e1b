//! Contacts: the list with a tag filter and a lookup by phone, a contact's page (attributes,
//! tags, consent and its history, opt-out), creating, correcting and deleting one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::{
    parse_tags, Attributes, Consent, Contact, ContactId, ContactName, OptOut, Tag,
};
use shared::services::{
    App, ConsentInput, ContactChanges, ContactFilter, FieldError, Fields, NewContact, ServiceError,
    SignedIn,
};

use super::layout::{self, csrf, field, Nav};
use super::{contact_label, field_error, path_id, Page, PageError, Posted, Visitor};

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    tag: Option<String>,
    phone: Option<String>,
    before: Option<String>,
}

/// The create form's fields, kept to show again with its errors.
#[derive(Deserialize, Default)]
pub struct ContactForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    tags: String,
    /// A checkbox: present when ticked.
    consent: Option<String>,
    #[serde(default)]
    consent_source: String,
    /// Edit only: record an opt-out with this reason, or lift one (`lift`).
    #[serde(default)]
    opt_out: String,
    /// Edit only: `attr_name_N` and `attr_value_N`, one pair per attribute row.
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl ContactForm {
    /// The attribute rows posted, by name; an emptied value asks to remove the attribute.
    fn attributes(&self) -> BTreeMap<String, String> {
        (0..=Attributes::MAX_COUNT)
            .filter_map(|i| {
                let name = self.rest.get(&format!("attr_name_{i}"))?.trim();
                let value = self
                    .rest
                    .get(&format!("attr_value_{i}"))
                    .map_or("", |v| v.trim());
                (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
            })
            .collect()
    }
}

/// What the attribute rows change: every posted name set (or removed when emptied), and
/// every attribute whose row was cleared removed.
fn attribute_changes(
    current: &Contact,
    posted: BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let mut changes: BTreeMap<String, Option<String>> = current
        .attributes
        .map()
        .keys()
        .filter(|k| !posted.contains_key(*k))
        .map(|k| (k.clone(), None))
        .collect();
    for (name, value) in posted {
        let unchanged = current.attributes.map().get(&name) == Some(&value);
        if !unchanged {
            changes.insert(name, (!value.is_empty()).then_some(value));
        }
    }
    changes
}

/// One row per attribute, and a blank one to add another.
fn attribute_rows(c: &Contact, errors: &[FieldError]) -> Markup {
    let rows: Vec<(&str, &str)> = c
        .attributes
        .map()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(std::iter::once(("", "")))
        .take(Attributes::MAX_COUNT + 1)
        .collect();
    html! {
        fieldset.attributes {
            legend { "Attributes" }
            p.muted { "Your own fields (a customer number, a city). Empty a value to remove it; broadcasts can use them in templates." }
            @for (i, (k, v)) in rows.iter().enumerate() {
                div.attr {
                    input name={"attr_name_" (i)} type="text" value=(k) aria-label={"Attribute " (i + 1) " name"} placeholder="name";
                    input name={"attr_value_" (i)} type="text" value=(v) aria-label={"Attribute " (i + 1) " value"} placeholder="value";
                }
            }
            @for e in errors.iter().filter(|e| e.field.starts_with("attributes")) {
                p.error { (e.field.trim_start_matches("attributes").trim_start_matches('.')) " " (e.message) }
            }
        }
    }
}

fn consent_label(c: &Contact) -> &'static str {
    match (&c.opt_out, &c.consent) {
        (Some(_), _) => "opted out",
        (None, Some(Consent { opted_in: true, .. })) => "opted in",
        _ => "no consent",
    }
}

fn tags_text(c: &Contact) -> String {
    c.tags
        .iter()
        .map(Tag::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn split_tags(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|t| !t.is_empty())
}

fn new_form(who: &SignedIn, form: &ContactForm, errors: &[FieldError]) -> Markup {
    html! {
        details.new-contact open[!errors.is_empty()] {
            summary { "New contact" }
            form method="post" action="/app/contacts" novalidate {
                (csrf(who))
                (field("Name", "name", "text", &form.name, field_error(errors, "name"), "off"))
                (field("Phone (with +country code)", "phone", "tel", &form.phone, field_error(errors, "phone"), "off"))
                div.field {
                    label for="f-tags" { "Tags (comma-separated)" }
                    input id="f-tags" name="tags" type="text" value=(form.tags);
                    @if let Some(e) = field_error(errors, "tags") { p.error { (e) } }
                }
                (consent_fields(form.consent.is_some(), &form.consent_source, errors))
                button type="submit" { "Create contact" }
            }
        }
    }
}

fn consent_fields(ticked: bool, source: &str, errors: &[FieldError]) -> Markup {
    html! {
        div.field.check {
            input id="f-consent" name="consent" type="checkbox" value="yes" checked[ticked];
            label for="f-consent" { "Agreed to receive WhatsApp messages from us" }
        }
        div.field {
            label for="f-consent_source" { "Where they agreed (e.g. checkout form)" }
            input id="f-consent_source" name="consent_source" type="text" value=(source);
            @if let Some(e) = field_error(errors, "consent.source") { p.error { (e) } }
        }
    }
}

async fn list_page(
    app: &App,
    who: &SignedIn,
    q: &ListQuery,
    form: &ContactForm,
    errors: &[FieldError],
) -> Result<Markup, PageError> {
    let account = &who.principal.account_id;
    let mut lookup_error = None;
    let (contacts, next) = match q.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(raw) => match app.read_phone(account, raw).await? {
            Ok(phone) => (
                app.find_contact_by_phone(account, &phone)
                    .await?
                    .into_iter()
                    .collect(),
                None,
            ),
            Err(e) => {
                lookup_error = Some(e.0);
                (Vec::new(), None)
            }
        },
        None => {
            let tag = q
                .tag
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(Tag::parse)
                .transpose()
                .map_err(|e| PageError::Failed(format!("The tag {}", e.0)))?;
            let filter = ContactFilter {
                tag,
                opted_in: None,
            };
            let cursor = q
                .before
                .as_deref()
                .and_then(|c| shared::ports::Cursor::decode(c).ok());
            app.contacts(account, &filter, PAGE_SIZE, cursor).await?
        }
    };
    let searching = q.phone.is_some() || q.tag.as_deref().is_some_and(|t| !t.is_empty());
    Ok(layout::app(
        who,
        Nav::Contacts,
        "Contacts",
        false,
        html! {
            h1 { "Contacts" }
            p.actions { a href="/app/contacts/imports" { "Import contacts from a CSV file" } }
            form.search method="get" action="/app/contacts" role="search" {
                div.field {
                    label for="q-phone" { "Find by phone" }
                    input id="q-phone" name="phone" type="search" value=(q.phone.as_deref().unwrap_or_default());
                    @if let Some(e) = &lookup_error { p.error { "The phone " (e) } }
                }
                div.field {
                    label for="q-tag" { "Tag" }
                    input id="q-tag" name="tag" type="search" value=(q.tag.as_deref().unwrap_or_default());
                }
                button type="submit" { "Search" }
                @if searching { " " a href="/app/contacts" { "Clear" } }
            }
            (new_form(who, form, errors))
            @if contacts.is_empty() {
                p.empty {
                    @if searching { "No contact matches." }
                    @else { "No contacts yet. Add one above, or they appear when customers write to you." }
                }
            } @else {
                table.contacts {
                    caption.sr-only { "Contacts" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Phone" } th scope="col" { "Tags" } th scope="col" { "Consent" } } }
                    tbody {
                        @for c in &contacts {
                            tr {
                                td { a href={"/app/contacts/" (c.id)} { (contact_label(c)) } }
                                td { (c.phone.as_ref().map(|p| p.e164()).unwrap_or("—")) }
                                td { (tags_text(c)) }
                                td { (consent_label(c)) }
                            }
                        }
                    }
                }
                @if let Some(next) = &next {
                    @let tag = q.tag.as_deref().unwrap_or_default();
                    p.more { a href={"/app/contacts?tag=" (tag) "&before=" (next.encode())} { "More contacts" } }
                }
            }
        },
    ))
}

pub async fn list(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let page = list_page(&app, &who, &q, &ContactForm::default(), &[]).await?;
    Ok(Page::ok(page).respond(&headers))
}

pub async fn create(
    State(app): State<Arc<App>>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<ContactForm>,
) -> Result<Response, PageError> {
    let account = &visitor.principal.account_id;
    let mut f = Fields::new();
    let phone = match form.phone.trim() {
        "" => {
            f.fail("phone", "is needed");
            None
        }
        raw => f.check("phone", app.read_phone(account, raw).await?),
    };
    let name = match form.name.trim() {
        "" => Some(None),
        n => f.check("name", ContactName::parse(n)).map(Some),
    };
    let tags = f.check("tags", parse_tags(split_tags(&form.tags)));
    let consent = consent_input(&mut f, &form);
    let result = match f.finish(|| {
        Some(NewContact {
            phone,
            user_id: None,
            name: name?,
            username: None,
            tags: tags?,
            attributes: Default::default(),
            consent: consent?,
        })
    }) {
        Ok(new) => app.create_contact(account, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => Ok(Redirect::to(&format!("/app/contacts/{}", c.id)).into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let page = list_page(&app, &visitor, &ListQuery::default(), &form, &errors).await?;
            Ok(Page::ok(page)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(ServiceError::ContactExists { existing_id }) => {
            let errors = [FieldError {
                field: "phone".into(),
                message: format!("belongs to another contact already ({existing_id})"),
            }];
            let page = list_page(&app, &visitor, &ListQuery::default(), &form, &errors).await?;
            Ok(Page::ok(page)
                .status(StatusCode::CONFLICT)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}

/// The consent a form states: recorded when ticked (with where); `None` when a field is bad.
fn consent_input(f: &mut Fields, form: &ContactForm) -> Option<Option<ConsentInput>> {
    let source = match form.consent_source.trim() {
        "" => None,
        s => Some(f.check("consent.source", Consent::parse_source(s))?),
    };
    Some(form.consent.as_ref().map(|_| ConsentInput {
        opted_in: true,
        source,
        text: None,
    }))
}

fn detail_page(
    who: &SignedIn,
    c: &Contact,
    history: &[shared::domain::ConsentRecord],
    errors: &[FieldError],
) -> Markup {
    let consent = c.consent.as_ref().filter(|k| k.opted_in);
    layout::app(
        who,
        Nav::Contacts,
        &contact_label(c),
        false,
        html! {
                   p { a href="/app/contacts" { "← All contacts" } }
                   h1 { (contact_label(c)) }
                   dl.facts {
                       dt { "Phone" } dd { (c.phone.as_ref().map(|p| p.e164()).unwrap_or("—")) }
                       @if let Some(u) = &c.username { dt { "WhatsApp username" } dd { (u.as_str()) } }
                       dt { "Tags" } dd { @if c.tags.is_empty() { "none" } @else { (tags_text(c)) } }
                       @for (k, v) in c.attributes.map() { dt { (k) } dd { (v) } }
                       dt { "Consent" } dd {
                           @match consent {
                               Some(k) => { "opted in" @if let Some(s) = &k.source { " (" (s) ")" } }
                               None => "none recorded",
                           }
                       }
                       dt { "Opt-out" } dd {
                           @match &c.opt_out {
                               Some(o) => { "opted out: " (o.reason) }
                               None => "no",
                           }
                       }
                       dt { "Conversation" } dd { a href={"/app/inbox/" (c.id)} { "Open in the inbox" } }
                   }
                   @if !history.is_empty() {
                       h2 { "Consent history" }
                       ol.history {
                           @for r in history {
                               li { (if r.opted_in { "opted in" } else { "withdrawn" }) " · " (r.recorded_at.date().to_string()) " · via " (r.via)
                                    @if let Some(s) = &r.source { " · " (s) } }
                           }
                       }
                   }
                   h2 { "Correct" }
                   form method="post" action={"/app/contacts/" (c.id)} novalidate {
                       (csrf(who))
                       (field("Name", "name", "text", c.name.as_ref().map_or("", |n| n.as_str()), field_error(errors, "name"), "off"))
                       div.field {
                           label for="f-tags" { "Tags (comma-separated)" }
                           input id="f-tags" name="tags" type="text" value=(tags_text(c));
                           @if let Some(e) = field_error(errors, "tags") { p.error { (e) } }
                       }
        (attribute_rows(c, errors))
                       (consent_fields(consent.is_some(), consent.and_then(|k| k.source.as_deref()).unwrap_or_default(), errors))
                       div.field {
                           label for="f-opt_out" { "Opt-out" }
                           select id="f-opt_out" name="opt_out" {
                               option value="" { "Leave as it is" }
                               @if c.opt_out.is_some() { option value="lift" { "Lift the opt-out (they asked to hear from us again)" } }
                               @else { option value="asked in the app" { "Record an opt-out (they asked us to stop)" } }
                           }
                       }
                       button type="submit" { "Save" }
                   }
                   h2 { "Delete" }
                   form method="post" action={"/app/contacts/" (c.id) "/delete"} {
                       (csrf(who))
                       p { "Deleting erases the contact, its consent history and every message with it, here and in exports. It cannot be undone." }
                       button.danger type="submit" { "Delete this contact" }
                   }
               },
    )
}

pub async fn show(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let account = &who.principal.account_id;
    let c = app.contact(account, &id).await?;
    let history = app.consent_history(account, &c).await?;
    Ok(Page::ok(detail_page(&who, &c, &history, &[])).respond(&headers))
}

pub async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted {
        visitor,
        form,
        headers,
    }: Posted<ContactForm>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let account = &visitor.principal.account_id;
    let current = app.contact(account, &id).await?;
    let mut f = Fields::new();
    let name = match form.name.trim() {
        "" => Some(None),
        n => f.check("name", ContactName::parse(n)).map(Some),
    };
    let tags = f.check("tags", parse_tags(split_tags(&form.tags)));
    let had_consent = current.consent.as_ref().is_some_and(|k| k.opted_in);
    let consent = match (consent_input(&mut f, &form), had_consent) {
        (Some(None), true) => Some(Some(ConsentInput {
            opted_in: false,
            source: None,
            text: None,
        })),
        (c, _) => c,
    };
    let opt_out = match form.opt_out.as_str() {
        "" => Some(None),
        "lift" => Some(Some(None)),
        reason => f
            .check("opt_out", OptOut::parse_reason(reason))
            .map(|r| Some(Some(r))),
    };
    let result = match f.finish(|| {
        Some(ContactChanges {
            name: Some(name?),
            tags: Some(tags?),
            consent: consent?,
            opt_out: opt_out?,
            attributes: Some(attribute_changes(&current, form.attributes())),
            ..Default::default()
        })
    }) {
        Ok(changes) => app.update_contact(account, &id, changes).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/app/contacts/{id}")).into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let history = app.consent_history(account, &current).await?;
            Ok(Page::ok(detail_page(&visitor, &current, &history, &errors))
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .respond(&headers))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted {
        visitor, headers, ..
    }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let receipt = app.delete_contact(&visitor.principal, &id).await?;
    let body = html! {
        h1 { "Contact deleted" }
        p role="status" { "What was erased:" }
        dl.facts {
            dt { "Contact" } dd { (receipt.contacts) }
            dt { "Consent records" } dd { (receipt.consent_records) }
            dt { "Messages" } dd { (receipt.messages) }
            dt { "Lookup entries" } dd { (receipt.lookup_entries) }
        }
        p { a href="/app/contacts" { "Back to contacts" } }
    };
    Ok(Page::ok(layout::app(
        &visitor,
        Nav::Contacts,
        "Contact deleted",
        false,
        body,
    ))
    .respond(&headers))
}
