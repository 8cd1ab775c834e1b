//! The shared inbox: conversations newest first, a contact's thread, and the composer.
//! Message text comes from strangers: it is only ever put in the page as escaped text.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use shared::domain::{
    now, Body, Contact, ContactId, Conversation, MediaId, Message, MessageStatus, Note,
    PhoneNumberId, Placeholders, Template, TemplateShape, Timestamp, User, UserId,
};
use shared::graph::messages::Content;
use shared::records::conversation::Filter;
use shared::services::{App, NewMessage, Recipient, ServiceError, SignedIn, TemplateFilter};

use super::layout::{self, csrf, Nav};
use super::{contact_label, path_id, when, Page, PageError, Posted, Visitor};

/// Conversations a page lists.
const PAGE_SIZE: u32 = 50;
/// Messages a thread shows (the latest).
const THREAD_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct InboxQuery {
    filter: Option<String>,
    /// Where the list goes on: older conversations.
    before: Option<String>,
}

impl InboxQuery {
    /// A malformed cursor starts from the newest again.
    fn cursor(&self) -> Option<shared::ports::Cursor> {
        self.before
            .as_deref()
            .and_then(|c| shared::ports::Cursor::decode(c).ok())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    All,
    Mine,
    Unassigned,
}

impl Which {
    fn parse(q: &InboxQuery) -> Self {
        match q.filter.as_deref() {
            Some("mine") => Which::Mine,
            Some("unassigned") => Which::Unassigned,
            _ => Which::All,
        }
    }

    fn query(self) -> &'static str {
        match self {
            Which::All => "",
            Which::Mine => "?filter=mine",
            Which::Unassigned => "?filter=unassigned",
        }
    }

    /// The list's next page: this filter, older than `next`.
    fn older(self, next: &shared::ports::Cursor) -> String {
        let sep = if self == Which::All { "?" } else { "&" };
        format!("/app/inbox{}{sep}before={}", self.query(), next.encode())
    }
}

/// A page of the list, and where it goes on.
struct ListPage {
    rows: Vec<ListRow>,
    next: Option<shared::ports::Cursor>,
}

/// What the conversation list shows.
struct ListRow {
    conversation: Conversation,
    contact: Option<Contact>,
}

/// The inbox's list: one page of conversations and their contacts, in two reads.
async fn conversation_list(
    app: &App,
    who: &SignedIn,
    which: Which,
    cursor: Option<shared::ports::Cursor>,
) -> Result<ListPage, ServiceError> {
    let account = &who.principal.account_id;
    let me = who.session.user_id.clone();
    let filter = match which {
        Which::All => Filter::All,
        Which::Mine => Filter::AssignedTo(&me),
        Which::Unassigned => Filter::Unassigned,
    };
    let (rows, next) = app
        .conversations_where(account, &filter, PAGE_SIZE, cursor)
        .await?;
    let ids: Vec<ContactId> = rows.iter().map(|c| c.contact_id.clone()).collect();
    let contacts = app.contacts_by_id(account, &ids).await?;
    let rows = rows
        .into_iter()
        .zip(contacts)
        .map(|(conversation, contact)| ListRow {
            conversation,
            contact,
        })
        .collect();
    Ok(ListPage { rows, next })
}

/// A conversation's contact, or that it was deleted.
fn row_label(contact: Option<&Contact>) -> String {
    contact.map_or_else(|| "Deleted contact".into(), contact_label)
}

/// "3 h 12 min left", or `None` when the window is closed.
fn window_left(open_until: Timestamp, at: Timestamp) -> Option<String> {
    let left = open_until - at;
    if left.is_negative() || left.is_zero() {
        return None;
    }
    let minutes = left.whole_minutes();
    Some(match minutes {
        0 => "less than a minute left".into(),
        m if m < 60 => format!("{m} min left"),
        m => format!("{} h {} min left", m / 60, m % 60),
    })
}

fn list_markup(list: &ListPage, which: Which, open: Option<&ContactId>) -> Markup {
    let rows = &list.rows;
    let at = now();
    let tabs = [
        (Which::All, "All"),
        (Which::Mine, "Mine"),
        (Which::Unassigned, "Unassigned"),
    ];
    html! {
        nav.filters aria-label="Filter conversations" {
            @for (w, label) in tabs {
                a href={"/app/inbox" (w.query())} aria-current=[(w == which).then_some("page")] { (label) }
            }
        }
        div id="conversation-list" data-live-region {
            @if rows.is_empty() && list.next.is_some() {
                p.empty { "None among the latest conversations." }
            } @else if rows.is_empty() {
                p.empty {
                    @match which {
                        Which::Mine => "No conversation is assigned to you.",
                        Which::Unassigned => "Every conversation has someone on it.",
                        Which::All => "No conversations yet. When a customer writes to your WhatsApp number, it shows here.",
                    }
                }
            } @else {
                ul.conversations {
                    @for row in rows {
                        @let c = &row.conversation;
                        @let name = row_label(row.contact.as_ref());
                        @let current = open == Some(&c.contact_id);
                        li.conversation.unread[c.unread > 0] {
                            a href={"/app/inbox/" (c.contact_id) (which.query())} aria-current=[current.then_some("true")] {
                                span.name { (name) }
                                @if c.unread > 0 {
                                    span.badge aria-label={(c.unread) " unread"} { (c.unread) }
                                }
                                span.preview {
                                    @if !c.last_message.inbound { "You: " }
                                    (c.last_message.preview.as_deref().unwrap_or(&c.last_message.kind))
                                }
                                span.meta {
                                    time datetime=(c.last_message.at.unix_timestamp()) { (when(c.last_message.at)) }
                                    @match c.window.as_ref().and_then(|w| window_left(w.open_until, at)) {
                                        Some(left) => span.window.open { " · " (left) },
                                        None => span.window.closed { " · window closed" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &list.next {
            p.more { a href=(which.older(next)) { "Older conversations" } }
        }
    }
}

/// The inbox with no conversation open.
pub async fn index(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Query(q): Query<InboxQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let which = Which::parse(&q);
    let rows = conversation_list(&app, &who, which, q.cursor()).await?;
    let (numbers, _) = app.numbers(&who.principal.account_id, 1, None).await?;
    let body = html! {
        div.inbox {
            section.list aria-label="Conversations" {
                h1 { "Inbox" }
                (list_markup(&rows, which, None))
            }
            section.thread aria-label="Conversation" {
                @if numbers.is_empty() {
                    div.empty-state {
                        h2 { "Connect your WhatsApp number" }
                        p { "Messages arrive here once a number is connected." }
                        @if who.principal.role.may(shared::domain::Permission::ManageNumbers) {
                            a.button href="/app/numbers" { "Connect a number" }
                        } @else {
                            p { "Ask the account's owner or an admin to connect one." }
                        }
                    }
                } @else {
                    p.empty { "Pick a conversation." }
                }
            }
        }
    };
    Ok(Page::ok(layout::app(&who, Nav::Inbox, "Inbox", true, body)).respond(&headers))
}

/// Everything a thread page shows.
struct ThreadData {
    contact: Contact,
    conversation: Option<Conversation>,
    messages: Vec<Message>,
    notes: Vec<Note>,
    users: Vec<User>,
    /// The number replies go from: the one the contact last wrote to, else the first.
    number: Option<PhoneNumberId>,
    /// Approved templates of that number's WABA.
    templates: Vec<Template>,
}

async fn thread_data(
    app: &App,
    who: &SignedIn,
    contact_id: &ContactId,
) -> Result<ThreadData, ServiceError> {
    let account = &who.principal.account_id;
    let contact = app.contact(account, contact_id).await?;
    let conversation = match app.conversation(account, contact_id).await {
        Ok(c) => Some(c),
        Err(ServiceError::NotFound) => None,
        Err(e) => return Err(e),
    };
    let messages = app.recent_thread(account, contact_id, THREAD_SIZE).await?;
    let notes = app.notes(account, contact_id).await?;
    let users = app.users(account).await?;
    let (numbers, _) = app.numbers(account, 20, None).await?;
    let window_number = conversation
        .as_ref()
        .and_then(|c| c.window.as_ref().map(|w| w.number.clone()));
    let number = window_number
        .and_then(|n| numbers.iter().find(|x| x.phone_number_id == n))
        .or_else(|| numbers.first());
    let templates = match number {
        Some(n) => {
            let filter = TemplateFilter {
                waba_id: Some(n.waba_id.clone()),
                name: None,
            };
            let (all, _) = app.templates(account, &filter, 100, None).await?;
            all.into_iter().filter(|t| t.status.sends()).collect()
        }
        None => Vec::new(),
    };
    Ok(ThreadData {
        contact,
        conversation,
        messages,
        notes,
        users,
        number: number.map(|n| n.phone_number_id.clone()),
        templates,
    })
}

fn status_tick(m: &Message) -> Markup {
    let (symbol, label, class) = match m.status {
        MessageStatus::Queued | MessageStatus::Sending => ("🕓", "queued", "queued"),
        MessageStatus::Sent => ("✓", "sent", "sent"),
        MessageStatus::Delivered => ("✓✓", "delivered", "delivered"),
        MessageStatus::Read => ("✓✓", "read", "read"),
        MessageStatus::Failed | MessageStatus::Canceled => ("⚠", "failed", "failed"),
        MessageStatus::Unknown => ("?", "outcome unknown", "unknown"),
        MessageStatus::Received => ("", "received", "received"),
    };
    html! {
        span class={"tick " (class)} data-status=(label) {
            span aria-hidden="true" { (symbol) }
            " " (label)
            @if let Some(e) = &m.error {
                ": " (e.title) " (" (e.code) ")"
            }
        }
    }
}

/// What an inbound message says, by its type; media as a preview or a link.
fn inbound_content(kind: &str, raw: &Value) -> Markup {
    let part = raw.get(kind);
    let text = |k: &str| part.and_then(|p| p.get(k)).and_then(Value::as_str);
    let media_id = text("id").and_then(|id| MediaId::parse(id).ok());
    html! {
        @match kind {
            "text" => p.text { (raw.pointer("/text/body").and_then(Value::as_str).unwrap_or_default()) },
            "image" | "sticker" => {
                @if let Some(id) = &media_id {
                    img.media src={"/app/media/" (id)} alt=(text("caption").unwrap_or("Image from the contact")) loading="lazy";
                }
                @if let Some(c) = text("caption") { p.text { (c) } }
            },
            "video" | "audio" | "document" => {
                @if let Some(id) = &media_id {
                    a.file href={"/app/media/" (id)} download { "Download " (kind) @if let Some(f) = text("filename") { " " (f) } }
                }
                @if let Some(c) = text("caption") { p.text { (c) } }
            },
            "button" => p.text { (raw.pointer("/button/text").and_then(Value::as_str).unwrap_or_default()) },
            "interactive" => p.text {
                (raw.pointer("/interactive/button_reply/title")
                    .or_else(|| raw.pointer("/interactive/list_reply/title"))
                    .and_then(Value::as_str)
                    .unwrap_or("(an interactive reply)"))
            },
            "location" => p.text { "📍 " (text("name").unwrap_or("A location")) },
            "reaction" => p.text { "Reacted " (text("emoji").unwrap_or_default()) },
            other => p.text.muted { "(a " (other) " message)" },
        }
    }
}

/// A sent template as WhatsApp shows it: its body with the parameters filled in.
fn template_content(t: &shared::graph::messages::Template, known: &[Template]) -> Markup {
    use shared::graph::messages::{Component, Parameter};
    let mut positional = Vec::new();
    let mut named = HashMap::new();
    for c in &t.components {
        if let Component::Body { parameters } = c {
            for p in parameters {
                if let Parameter::Text {
                    text,
                    parameter_name,
                } = p
                {
                    match parameter_name {
                        Some(n) => {
                            named.insert(n.clone(), text.clone());
                        }
                        None => positional.push(text.clone()),
                    }
                }
            }
        }
    }
    let body = known
        .iter()
        .find(|k| k.name.as_str() == t.name && k.language.as_str() == t.language.code)
        .and_then(Template::body_text)
        .map(|text| {
            Placeholders::fill(text, |k| match k.parse::<usize>() {
                Ok(i) => positional.get(i.wrapping_sub(1)).cloned(),
                Err(_) => named.get(k).cloned(),
            })
        });
    html! {
        p.template-name { "Template " code { (t.name) } " (" (t.language.code) ")" }
        @if let Some(b) = body { p.text { (b) } }
    }
}

fn outbound_content(content: &Content, templates: &[Template]) -> Markup {
    match content {
        Content::Text { text } => html! { p.text { (text.body) } },
        Content::Template { template } => template_content(template, templates),
        other => html! { p.text.muted { "(a " (other.kind()) " message)" } },
    }
}

fn message_markup(m: &Message, templates: &[Template]) -> Markup {
    let inbound = m.body.is_inbound();
    html! {
        li.message.inbound[inbound].outbound[!inbound] data-message=(m.id) {
            @match &m.body {
                Body::Inbound { kind, raw } => (inbound_content(kind, raw)),
                Body::Outbound(content) => (outbound_content(content, templates)),
            }
            p.meta {
                span.sr-only { @if inbound { "Received " } @else { "Sent " } }
                time datetime=(m.created_at.unix_timestamp()) { (when(m.created_at)) }
                @if !inbound { " " (status_tick(m)) }
            }
        }
    }
}

fn note_markup(n: &Note, users: &[User]) -> Markup {
    let author = users
        .iter()
        .find(|u| u.id.to_string() == n.author)
        .map(|u| u.name.as_str().to_owned())
        .unwrap_or_else(|| "An integration".into());
    html! {
        li.note {
            p.meta { "Internal note by " (author) " · " time { (when(n.created_at)) } }
            p.text { (n.text) }
        }
    }
}

/// Which form the composer offers, and what went wrong last time.
#[derive(Default)]
struct Composer<'a> {
    error: Option<&'a str>,
}

fn template_form(who: &SignedIn, contact: &ContactId, t: &Template) -> Markup {
    let shape: TemplateShape = t.shape();
    let needs_more = !matches!(
        shape.header,
        None | Some(shared::domain::HeaderShape::Text(Placeholders::None))
    ) || shape.buttons.iter().any(|b| b.required);
    let fields = t.body_placeholders();
    let id = format!("tpl-{}", t.id.as_str());
    html! {
        details.template {
            summary { (t.name.as_str()) " · " (t.language.as_str()) " · " (t.category.as_str().to_lowercase()) }
            @if let Some(b) = t.body_text() { p.preview { (b) } }
            @if needs_more {
                p.muted { "This template needs a header file or a button value; send it through the API." }
            } @else {
                form method="post" action={"/app/inbox/" (contact) "/templates"} {
                    (csrf(who))
                    input type="hidden" name="template_id" value=(t.id.as_str());
                    @for f in &fields {
                        div.field {
                            label for={(id) "-" (f)} { "Value for {{" (f) "}}" }
                            input id={(id) "-" (f)} name={"p_" (f)} type="text" required;
                        }
                    }
                    button type="submit" { "Send template" }
                }
            }
        }
    }
}

fn composer_markup(who: &SignedIn, d: &ThreadData, composer: &Composer) -> Markup {
    let contact = &d.contact.id;
    let open_until = d
        .conversation
        .as_ref()
        .and_then(|c| c.window.as_ref())
        .filter(|w| Some(&w.number) == d.number.as_ref())
        .map(|w| w.open_until);
    let left = open_until.and_then(|u| window_left(u, now()));
    html! {
        section.composer aria-label="Reply" {
            @if let Some(e) = composer.error {
                p.alert role="alert" { (e) }
            }
            @if d.number.is_none() {
                p { "Connect a WhatsApp number to reply." }
            } @else if let Some(left) = left {
                form method="post" action={"/app/inbox/" (contact) "/messages"} {
                    (csrf(who))
                    label for="reply" { "Reply " span.window.open { "(24-hour window: " (left) ")" } }
                    textarea id="reply" name="text" rows="3" maxlength="4096" required {}
                    button type="submit" { "Send" }
                }
            } @else {
                p.window.closed {
                    "The 24-hour window is closed: only an approved template can start the conversation again."
                }
                @if d.templates.is_empty() {
                    p { "No approved template for this number yet." }
                } @else {
                    div.templates role="group" aria-label="Templates" {
                        @for t in &d.templates { (template_form(who, contact, t)) }
                    }
                }
            }
        }
    }
}

fn thread_markup(who: &SignedIn, d: &ThreadData, composer: &Composer) -> Markup {
    let c = &d.contact;
    let assignee = d.conversation.as_ref().and_then(|c| c.assignee.as_ref());
    let unread = d.conversation.as_ref().map_or(0, |c| c.unread);
    html! {
        header.thread-head {
            h2 { (contact_label(c)) }
            @if let Some(p) = &c.phone { p.muted { (p.e164()) } }
            div.actions {
                @if d.conversation.is_some() {
                    form method="post" action={"/app/inbox/" (c.id) "/assign"} {
                        (csrf(who))
                        label for="assignee" { "Assigned to" }
                        select id="assignee" name="user_id" {
                            option value="" selected[assignee.is_none()] { "Nobody" }
                            @for u in &d.users {
                                option value=(u.id) selected[assignee == Some(&u.id)] { (u.name.as_str()) }
                            }
                        }
                        button type="submit" { "Assign" }
                    }
                    @if unread > 0 {
                        form method="post" action={"/app/inbox/" (c.id) "/read"} {
                            (csrf(who))
                            button type="submit" { "Mark as read (" (unread) ")" }
                        }
                    }
                }
            }
        }
        div id="thread" data-live-region {
            ol.messages aria-label="Messages" {
                @for m in &d.messages { (message_markup(m, &d.templates)) }
            }
            @if !d.notes.is_empty() {
                ol.notes aria-label="Internal notes" {
                    @for n in &d.notes { (note_markup(n, &d.users)) }
                }
            }
        }
        (composer_markup(who, d, composer))
        @if d.conversation.is_some() {
            form.note-form method="post" action={"/app/inbox/" (c.id) "/notes"} {
                (csrf(who))
                label for="note" { "Internal note (never sent to the contact)" }
                textarea id="note" name="text" rows="2" maxlength="4096" required {}
                button type="submit" { "Add note" }
            }
        }
    }
}

async fn thread_page(
    app: &App,
    who: &SignedIn,
    id: &ContactId,
    which: Which,
    composer: &Composer<'_>,
) -> Result<Markup, PageError> {
    let data = thread_data(app, who, id).await?;
    let rows = conversation_list(app, who, which, None).await?;
    let title = contact_label(&data.contact);
    let body = html! {
        div.inbox {
            section.list aria-label="Conversations" {
                h1 { "Inbox" }
                (list_markup(&rows, which, Some(id)))
            }
            section.thread aria-label="Conversation" { (thread_markup(who, &data, composer)) }
        }
    };
    Ok(layout::app(who, Nav::Inbox, &title, true, body))
}

pub async fn thread(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
    Query(q): Query<InboxQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let page = thread_page(&app, &who, &id, Which::parse(&q), &Composer::default()).await?;
    Ok(Page::ok(page).respond(&headers))
}

fn back_to(id: &ContactId) -> Response {
    Redirect::to(&format!("/app/inbox/{id}")).into_response()
}

/// A send the service refused: the thread again, with why, next to the composer.
async fn refused(
    app: &App,
    who: &SignedIn,
    id: &ContactId,
    e: ServiceError,
) -> Result<Response, PageError> {
    let problem = shared::http::Problem::from(e);
    if problem.kind.status().is_server_error() || problem.kind.status() == StatusCode::NOT_FOUND {
        return Err(PageError::Failed(problem.kind.title().to_owned()));
    }
    let text = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.kind.title().to_owned());
    let composer = Composer { error: Some(&text) };
    let page = thread_page(app, who, id, Which::All, &composer).await?;
    Ok(Page::ok(page).status(problem.kind.status()).into_response())
}

async fn sending_number(
    app: &App,
    who: &SignedIn,
    id: &ContactId,
) -> Result<PhoneNumberId, PageError> {
    thread_data(app, who, id)
        .await?
        .number
        .ok_or_else(|| PageError::Failed("Connect a WhatsApp number first.".into()))
}

#[derive(Deserialize)]
pub struct TextForm {
    #[serde(default)]
    text: String,
}

pub async fn send_text(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, form, .. }: Posted<TextForm>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let from = sending_number(&app, &visitor, &id).await?;
    let content = Content::Text {
        text: shared::graph::messages::Text {
            body: form.text.trim().to_owned(),
            preview_url: None,
        },
    };
    if let Err(e) = content.check() {
        return refused(&app, &visitor, &id, ServiceError::invalid("text", &e.0)).await;
    }
    let new = NewMessage {
        from,
        to: Recipient::Contact(id.clone()),
        content,
        reply_to: None,
    };
    match app.send_message(&visitor.principal.account_id, new).await {
        Ok(_) => Ok(back_to(&id)),
        Err(e) => refused(&app, &visitor, &id, e).await,
    }
}

pub async fn send_template(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, form, .. }: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let account = &visitor.principal.account_id;
    let template_id = form
        .get("template_id")
        .and_then(|t| shared::domain::TemplateId::parse(t).ok())
        .ok_or(PageError::NotFound)?;
    let t = app.template(account, &template_id).await?;
    let content = Content::Template {
        template: t.message(|k| {
            form.get(&format!("p_{k}"))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        }),
    };
    if let Err(e) = content.check() {
        return refused(&app, &visitor, &id, ServiceError::invalid("template", &e.0)).await;
    }
    let from = sending_number(&app, &visitor, &id).await?;
    let new = NewMessage {
        from,
        to: Recipient::Contact(id.clone()),
        content,
        reply_to: None,
    };
    match app.send_message(account, new).await {
        Ok(_) => Ok(back_to(&id)),
        Err(e) => refused(&app, &visitor, &id, e).await,
    }
}

pub async fn read(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, .. }: Posted<super::Empty>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    app.mark_conversation_read(&visitor.principal.account_id, &id)
        .await?;
    Ok(back_to(&id))
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    user_id: String,
}

pub async fn assign(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, form, .. }: Posted<AssignForm>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    let to: Option<UserId> = match form.user_id.as_str() {
        "" => None,
        u => Some(u.parse().map_err(|_| PageError::NotFound)?),
    };
    app.assign_conversation(&visitor.principal, &id, to.as_ref())
        .await?;
    Ok(back_to(&id))
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

pub async fn note(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Posted { visitor, form, .. }: Posted<NoteForm>,
) -> Result<Response, PageError> {
    let id = path_id::<ContactId>(&id)?;
    match shared::domain::note_text(&form.text) {
        Ok(text) => {
            app.add_note(&visitor.principal, &id, text).await?;
            Ok(back_to(&id))
        }
        Err(e) => refused(&app, &visitor, &id, ServiceError::invalid("note", &e.0)).await,
    }
}

/// A stored media file of the account, for previews in the thread.
pub async fn media(
    State(app): State<Arc<App>>,
    Visitor(who): Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = MediaId::parse(&id).map_err(|_| PageError::NotFound)?;
    let file = app.media_content(&who.principal.account_id, &id).await?;
    let mut response = crate::routes::media::file_response(file);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}
