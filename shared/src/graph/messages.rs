//! The bodies of `POST /{version}/{phone-number-id}/messages`, typed, and what Meta answers.
//! Every kind is checked against the `Message` schema of Meta's OpenAPI description
//! (`shared/tests/graph_schema.rs`).

use serde::{Deserialize, Serialize};

use super::{GraphClient, GraphError};
use crate::domain::{AccessToken, PhoneNumberId};

/// One outgoing message: to whom, optionally in reply to what, and its content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    pub messaging_product: Whatsapp,
    pub recipient_type: RecipientType,
    /// A phone number in digits (`wa_id`). Meta's field for phones; it wins over `recipient`
    /// when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A business-scoped user id (or parent BSUID), for users reached without a phone (2026).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub context: Option<ReplyContext>,
    #[serde(flatten)]
    pub content: Content,
}

impl SendRequest {
    /// To a contact's address: a phone in digits goes in `to`, a BSUID in `recipient`.
    pub fn new(address: impl Into<String>, content: Content) -> Self {
        let address = address.into();
        let is_user_id = crate::domain::Bsuid::parse(&address).is_ok();
        Self {
            messaging_product: Whatsapp,
            recipient_type: RecipientType::Individual,
            to: (!is_user_id).then(|| address.clone()),
            recipient: is_user_id.then_some(address),
            context: None,
            content,
        }
    }

    /// Whom Meta sends to: `to` when given, else `recipient`.
    pub fn addressee(&self) -> Option<&str> {
        self.to.as_deref().or(self.recipient.as_deref())
    }

    pub fn replying_to(mut self, wamid: impl Into<String>) -> Self {
        self.context = Some(ReplyContext {
            message_id: wamid.into(),
        });
        self
    }
}

/// The constant `"whatsapp"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Whatsapp;

impl Serialize for Whatsapp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("whatsapp")
    }
}

impl<'de> Deserialize<'de> for Whatsapp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "whatsapp" => Ok(Whatsapp),
            other => Err(serde::de::Error::custom(format!(
                "messaging_product must be whatsapp, not {other}"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientType {
    Individual,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    pub message_id: String,
}

/// What a message carries; the variant is the message's `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text { text: Text },
    Template { template: Template },
    Image { image: Media },
    Video { video: Media },
    Audio { audio: Media },
    Document { document: Media },
    Sticker { sticker: Media },
    Interactive { interactive: Interactive },
    Location { location: Location },
    Contacts { contacts: Vec<ContactCard> },
    Reaction { reaction: Reaction },
}

impl Content {
    /// Templates may be sent outside the 24-hour window; everything else needs it open.
    pub fn is_template(&self) -> bool {
        matches!(self, Content::Template { .. })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Template { .. } => "template",
            Content::Image { .. } => "image",
            Content::Video { .. } => "video",
            Content::Audio { .. } => "audio",
            Content::Document { .. } => "document",
            Content::Sticker { .. } => "sticker",
            Content::Interactive { .. } => "interactive",
            Content::Location { .. } => "location",
            Content::Contacts { .. } => "contacts",
            Content::Reaction { .. } => "reaction",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preview_url: Option<bool>,
}

/// Media by the id of an upload, or by a public link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    #[serde(flatten)]
    pub source: MediaSource,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub caption: Option<String>,
    /// Documents only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filename: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MediaSource {
    Id { id: String },
    Link { link: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: Language,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub components: Vec<Component>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Language {
    /// Meta's getting-started request and common SDKs send no policy (`deterministic` is the
    /// only one): absent stays absent, as sent to Meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<LanguagePolicy>,
    /// e.g. `en_US`.
    pub code: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguagePolicy {
    Deterministic,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Component {
    Header {
        parameters: Vec<Parameter>,
    },
    Body {
        parameters: Vec<Parameter>,
    },
    Button {
        sub_type: ButtonKind,
        /// The button's position in the template, `"0"` to `"9"` (Meta's examples also send it
        /// as a number).
        #[serde(deserialize_with = "scalar_string")]
        index: String,
        #[serde(default)]
        parameters: Vec<ButtonParameter>,
    },
}

/// A button's kind; Meta's examples write it in lower or upper case (`quick_reply`, `CATALOG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonKind {
    #[serde(alias = "QUICK_REPLY")]
    QuickReply,
    #[serde(alias = "URL")]
    Url,
    #[serde(alias = "COPY_CODE")]
    CopyCode,
    #[serde(alias = "CATALOG")]
    Catalog,
    #[serde(alias = "FLOW")]
    Flow,
    #[serde(alias = "MPM")]
    Mpm,
}

/// A string, or a number or boolean written where Meta's examples put one (`"index": 0`,
/// `"text": true`), read as its text.
fn scalar_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(serde::de::Error::custom("expected a string or a number")),
    }
}

/// A template parameter. Text parameters are positional (`{{1}}`), or named (`{{order_id}}`)
/// with `parameter_name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Parameter {
    Text {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        parameter_name: Option<String>,
    },
    Currency {
        currency: Currency,
    },
    DateTime {
        date_time: DateTime,
    },
    Image {
        image: Media,
    },
    Video {
        video: Media,
    },
    Document {
        document: Media,
    },
    /// A location header.
    Location {
        location: Location,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    pub fallback_value: String,
    pub code: String,
    pub amount_1000: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateTime {
    pub fallback_value: String,
    /// `calendar`, `day_of_month`, `hour`, … as Meta's examples send them: passed on as given.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonParameter {
    /// Quick replies: what comes back when the button is tapped.
    Payload { payload: String },
    /// URL buttons: the suffix of the template's URL.
    Text {
        #[serde(deserialize_with = "scalar_string")]
        text: String,
    },
    /// Copy-code buttons: the code.
    CouponCode { coupon_code: String },
    /// Flow and catalog buttons: Meta's `action` object, passed on as given.
    Action {
        action: serde_json::Map<String, serde_json::Value>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interactive {
    #[serde(rename = "type")]
    pub kind: InteractiveKind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header: Option<InteractiveHeader>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<TextOnly>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub footer: Option<TextOnly>,
    pub action: Action,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractiveKind {
    Button,
    List,
    CtaUrl,
    Flow,
    CatalogMessage,
    Product,
    ProductList,
    OrderDetails,
    OrderStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InteractiveHeader {
    Text { text: String },
    Image { image: Media },
    Video { video: Media },
    Document { document: Media },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextOnly {
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Action {
    Buttons {
        buttons: Vec<ReplyButton>,
    },
    List {
        button: String,
        sections: Vec<Section>,
    },
    CtaUrl {
        name: CtaUrlName,
        parameters: CtaUrl,
    },
    /// Flows, catalogs, products and orders: Meta's action object, passed on as given.
    Other(serde_json::Map<String, serde_json::Value>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    #[serde(rename = "type")]
    pub kind: ReplyKind,
    pub reply: Reply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    Reply,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtaUrlName {
    CtaUrl,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtaUrl {
    pub display_text: String,
    pub url: String,
}

/// Coordinates go as strings, as Meta's schema has them (its examples also send numbers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(deserialize_with = "scalar_string")]
    pub latitude: String,
    #[serde(deserialize_with = "scalar_string")]
    pub longitude: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address: Option<String>,
}

/// A contact card shared in a message (not one of our contacts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCard {
    pub name: CardName,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub phones: Vec<CardPhone>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub emails: Vec<CardEmail>,
    /// `addresses`, `birthday`, `org`, `urls`: passed on as given.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardName {
    pub formatted_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_name: Option<String>,
    /// `middle_name`, `prefix`, `suffix`: passed on as given.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPhone {
    pub phone: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub wa_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEmail {
    pub email: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
}

/// A reaction to a message; an empty emoji removes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub message_id: String,
    pub emoji: String,
}

/// `POST …/messages` to mark an inbound message read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRead {
    pub messaging_product: Whatsapp,
    pub status: ReadStatus,
    pub message_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadStatus {
    Read,
}

/// Meta's answer to a send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    #[serde(default)]
    pub contacts: Vec<ResponseContact>,
    pub messages: Vec<ResponseMessage>,
}

impl SendResponse {
    /// The message id (wamid) Meta assigned.
    pub fn wamid(&self) -> Option<&str> {
        self.messages.first().map(|m| m.id.as_str())
    }

    /// Meta holds the message while it judges a paced template's quality (template pacing).
    pub fn held_for_quality_assessment(&self) -> bool {
        self.messages
            .first()
            .and_then(|m| m.message_status.as_deref())
            == Some("held_for_quality_assessment")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseContact {
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub wa_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMessage {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    pub success: bool,
}

impl GraphClient {
    pub async fn send_message(
        &self,
        from: &PhoneNumberId,
        token: &AccessToken,
        message: &SendRequest,
    ) -> Result<SendResponse, GraphError> {
        self.post_json(&format!("{from}/messages"), token, message)
            .await
    }

    pub async fn mark_read(
        &self,
        from: &PhoneNumberId,
        token: &AccessToken,
        wamid: &str,
    ) -> Result<SuccessResponse, GraphError> {
        let body = MarkRead {
            messaging_product: Whatsapp,
            status: ReadStatus::Read,
            message_id: wamid.to_owned(),
        };
        self.post_json(&format!("{from}/messages"), token, &body)
            .await
    }
}

impl Content {
    /// Limits Meta documents, checked before a message is stored and queued.
    pub fn check(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        let chars = |s: &str| s.chars().count();
        let media = |m: &Media| -> Result<(), Invalid> {
            match &m.source {
                MediaSource::Id { id } if id.is_empty() => Err(Invalid::new("media id is empty")),
                MediaSource::Link { link } if !link.starts_with("https://") => {
                    Err(Invalid::new("media links must be https:// URLs"))
                }
                _ => Ok(()),
            }?;
            if m.caption.as_deref().is_some_and(|c| chars(c) > 1024) {
                return Err(Invalid::new("a caption takes at most 1,024 characters"));
            }
            Ok(())
        };
        match self {
            Content::Text { text } => {
                if text.body.trim().is_empty() || chars(&text.body) > 4096 {
                    return Err(Invalid::new("text.body must be 1 to 4,096 characters"));
                }
            }
            Content::Template { template } => {
                let ok = !template.name.is_empty()
                    && template.name.len() <= 512
                    && template
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(Invalid::new(
                        "template.name is a template's name: a-z, 0-9 and _",
                    ));
                }
                if template.language.code.is_empty() {
                    return Err(Invalid::new(
                        "template.language.code is required, e.g. en_US",
                    ));
                }
            }
            Content::Image { image: m }
            | Content::Video { video: m }
            | Content::Audio { audio: m }
            | Content::Document { document: m }
            | Content::Sticker { sticker: m } => media(m)?,
            Content::Interactive { interactive } => {
                if interactive
                    .body
                    .as_ref()
                    .is_some_and(|b| chars(&b.text) > 1024)
                {
                    return Err(Invalid::new(
                        "interactive.body.text takes at most 1,024 characters",
                    ));
                }
                if let Action::Buttons { buttons } = &interactive.action {
                    if buttons.is_empty() || buttons.len() > 3 {
                        return Err(Invalid::new("reply buttons: 1 to 3"));
                    }
                }
            }
            Content::Location { location } => {
                let lat = location
                    .latitude
                    .parse::<f64>()
                    .ok()
                    .filter(|l| (-90.0..=90.0).contains(l));
                let lon = location
                    .longitude
                    .parse::<f64>()
                    .ok()
                    .filter(|l| (-180.0..=180.0).contains(l));
                if lat.is_none() || lon.is_none() {
                    return Err(Invalid::new(
                        "location needs a latitude and a longitude in degrees",
                    ));
                }
            }
            Content::Contacts { contacts } => {
                if contacts.is_empty() || contacts.len() > 5 {
                    return Err(Invalid::new("contacts: 1 to 5 cards"));
                }
            }
            Content::Reaction { reaction } => {
                if reaction.message_id.is_empty() {
                    return Err(Invalid::new("reaction.message_id is the wamid reacted to"));
                }
            }
        }
        Ok(())
    }
}
