//! Message templates as Meta holds them for a WhatsApp Business Account, and what a message
//! that uses one must supply (its [`TemplateShape`]).
//!
//! Components are kept as Meta gives them (JSON), so that nothing Meta adds is lost; the
//! shape is read from them: placeholders `{{1}}` (positional) or `{{name}}` (named) in the
//! header and body text, the header's media format, and the buttons that take a parameter.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::{Invalid, Timestamp, WabaId};

/// Meta's id of a template (one name in one language).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TemplateId(String);

impl TemplateId {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim();
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new("a template id is Meta's numeric id"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A template's name: lower-case letters, digits and underscores, at most 512 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateName(String);

impl TemplateName {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let ok = !input.is_empty()
            && input.len() <= 512
            && input
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(Invalid::new(
                "a template's name is 1 to 512 of a-z, 0-9 and _",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A template language code as Meta writes it (`en`, `en_US`, `pt_BR`, `zh_CN`, `ha`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let ok = (2..=15).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
        if !ok {
            return Err(Invalid::new("a language code looks like en_US"));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Meta's template status (`APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …), kept
/// as Meta writes it so that a status Meta adds is not lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TemplateStatus(String);

impl TemplateStatus {
    pub const APPROVED: &'static str = "APPROVED";
    pub const PENDING: &'static str = "PENDING";
    pub const REJECTED: &'static str = "REJECTED";
    pub const PAUSED: &'static str = "PAUSED";
    pub const DISABLED: &'static str = "DISABLED";
    pub const DELETED: &'static str = "DELETED";

    /// From a template's `status` or a status webhook's `event` (upper-cased; `REINSTATED` and
    /// `UNLOCKED` mean approved again).
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim().to_ascii_uppercase();
        if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return Err(Invalid::new("a template status is a word like APPROVED"));
        }
        Ok(Self(match s.as_str() {
            "REINSTATED" | "UNLOCKED" => Self::APPROVED.to_owned(),
            _ => s,
        }))
    }

    pub fn approved() -> Self {
        Self(Self::APPROVED.into())
    }

    pub fn pending() -> Self {
        Self(Self::PENDING.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Meta delivers messages of approved templates (a flagged one still sends until paused).
    pub fn sends(&self) -> bool {
        matches!(self.0.as_str(), "APPROVED" | "FLAGGED")
    }

    /// A template in this status stops a broadcast that uses it.
    pub fn stops_broadcasts(&self) -> bool {
        matches!(
            self.0.as_str(),
            "PAUSED" | "DISABLED" | "REJECTED" | "DELETED" | "PENDING_DELETION" | "ARCHIVED"
        )
    }
}

/// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        match input.trim().to_ascii_uppercase().as_str() {
            "MARKETING" => Ok(Self::Marketing),
            "UTILITY" => Ok(Self::Utility),
            "AUTHENTICATION" => Ok(Self::Authentication),
            _ => Err(Invalid::new(
                "category is MARKETING, UTILITY or AUTHENTICATION",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "MARKETING",
            Self::Utility => "UTILITY",
            Self::Authentication => "AUTHENTICATION",
        }
    }
}

/// A template as last heard from Meta (a sync, a create, or a webhook).
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub id: TemplateId,
    pub waba_id: WabaId,
    pub name: TemplateName,
    pub language: LanguageCode,
    pub status: TemplateStatus,
    pub category: TemplateCategory,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`, when Meta has said.
    pub quality_score: Option<String>,
    /// Why Meta rejected or paused it, when it said (`reason` of the status webhook).
    pub reason: Option<String>,
    /// As Meta gives them: `HEADER`, `BODY`, `FOOTER`, `BUTTONS`.
    pub components: Vec<Value>,
    pub updated_at: Timestamp,
}

impl Template {
    /// The text of its `BODY` component, placeholders as written.
    pub fn body_text(&self) -> Option<&str> {
        self.components
            .iter()
            .find(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
            })
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
    }

    pub fn shape(&self) -> TemplateShape {
        TemplateShape::of(&self.components)
    }

    /// The message that sends this template with its body's placeholders given by `value`
    /// (`1`, `2`… or the names): Meta's `template` object, language policy deterministic.
    pub fn message(&self, value: impl Fn(&str) -> String) -> crate::graph::messages::Template {
        use crate::graph::messages::{Component, Language, LanguagePolicy, Parameter};
        let parameters: Vec<Parameter> = match self.shape().body {
            Placeholders::None => Vec::new(),
            Placeholders::Positional(n) => (1..=n)
                .map(|i| Parameter::Text {
                    text: value(&i.to_string()),
                    parameter_name: None,
                })
                .collect(),
            Placeholders::Named(names) => names
                .iter()
                .map(|k| Parameter::Text {
                    text: value(k),
                    parameter_name: Some(k.clone()),
                })
                .collect(),
        };
        crate::graph::messages::Template {
            name: self.name.as_str().to_owned(),
            language: Language {
                policy: Some(LanguagePolicy::Deterministic),
                code: self.language.as_str().to_owned(),
            },
            components: match parameters.is_empty() {
                true => Vec::new(),
                false => vec![Component::Body { parameters }],
            },
        }
    }

    /// The body's placeholders as a form names them: `1`, `2`… or the names.
    pub fn body_placeholders(&self) -> Vec<String> {
        match self.shape().body {
            Placeholders::None => Vec::new(),
            Placeholders::Positional(n) => (1..=n).map(|i| i.to_string()).collect(),
            Placeholders::Named(names) => names.into_iter().collect(),
        }
    }

    /// Whether Meta delivers it to a business-scoped user id: not an authentication template
    /// with a one-tap, zero-tap or copy-code button (error 131062).
    pub fn reaches_user_ids(&self) -> bool {
        self.category != TemplateCategory::Authentication
            || !self.shape().buttons.iter().any(|b| b.kind == "OTP")
    }
}

/// What a template's placeholders need: nothing, `n` positional values, or these names.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Placeholders {
    #[default]
    None,
    Positional(usize),
    Named(BTreeSet<String>),
}

impl Placeholders {
    /// Reads `{{1}}`…`{{n}}` or `{{name}}` placeholders from a component's text.
    pub fn of(text: &str) -> Self {
        let mut positional = 0usize;
        let mut named = BTreeSet::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            let inner = after[..close].trim();
            if let Ok(n) = inner.parse::<usize>() {
                positional = positional.max(n);
            } else if !inner.is_empty()
                && inner
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                named.insert(inner.to_owned());
            }
            rest = &after[close + 2..];
        }
        match (positional, named.is_empty()) {
            (0, true) => Self::None,
            (n, true) => Self::Positional(n),
            _ => Self::Named(named),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    /// `text` with each `{{1}}` or `{{name}}` replaced by what `value` gives for it (kept as
    /// written when it gives nothing): how WhatsApp shows the message.
    pub fn fill(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                rest = &rest[open..];
                break;
            };
            let inner = after[..close].trim();
            match value(inner) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[open..open + 2 + close + 2]),
            }
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// What a template's header carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderShape {
    Text(Placeholders),
    /// `IMAGE`, `VIDEO` or `DOCUMENT`: a message supplies the file.
    Media(String),
    Location,
}

/// A button at `index` that a message must (or may) give a parameter for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonShape {
    pub index: usize,
    /// The button's `type` as Meta writes it: `URL`, `QUICK_REPLY`, `COPY_CODE`, `OTP`, …
    pub kind: String,
    /// A dynamic URL (`…{{1}}`), a copy code or an OTP code must be supplied.
    pub required: bool,
}

/// What a message using the template must supply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TemplateShape {
    pub header: Option<HeaderShape>,
    pub body: Placeholders,
    pub buttons: Vec<ButtonShape>,
}

impl TemplateShape {
    pub fn of(components: &[Value]) -> Self {
        let mut shape = TemplateShape::default();
        let upper = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_uppercase()
        };
        fn text(v: &Value) -> &str {
            v.get("text").and_then(Value::as_str).unwrap_or_default()
        }
        for c in components {
            match upper(c, "type").as_str() {
                "HEADER" => {
                    shape.header = Some(match upper(c, "format").as_str() {
                        "" | "TEXT" => HeaderShape::Text(Placeholders::of(text(c))),
                        "LOCATION" => HeaderShape::Location,
                        media => HeaderShape::Media(media.to_owned()),
                    })
                }
                "BODY" => shape.body = Placeholders::of(text(c)),
                "BUTTONS" => {
                    let buttons = c.get("buttons").and_then(Value::as_array);
                    for (index, b) in buttons.into_iter().flatten().enumerate() {
                        let kind = upper(b, "type");
                        let url = b.get("url").and_then(Value::as_str).unwrap_or_default();
                        let required = match kind.as_str() {
                            "URL" => url.contains("{{"),
                            "COPY_CODE" => true,
                            // One-tap and zero-tap codes are sent as a URL button parameter.
                            "OTP" => true,
                            _ => false,
                        };
                        shape.buttons.push(ButtonShape {
                            index,
                            kind,
                            required,
                        });
                    }
                }
                _ => {}
            }
        }
        shape
    }

    /// Whether the template needs no parameters at all (it can be sent by name alone).
    pub fn is_plain(&self) -> bool {
        let header_plain = match &self.header {
            None => true,
            Some(HeaderShape::Text(p)) => p.is_none(),
            Some(_) => false,
        };
        header_plain && self.body.is_none() && self.buttons.iter().all(|b| !b.required)
    }
}

/// Where a message's template parameters differ from what its template needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The request field at fault, e.g. `template.components`.
    pub field: &'static str,
    pub message: String,
}

fn mismatch(message: impl Into<String>) -> Mismatch {
    Mismatch {
        field: "template.components",
        message: message.into(),
    }
}

impl TemplateShape {
    /// Checks a message's template parameters as Meta would (error 132000 and its kin), so a
    /// wrong message is refused before it is queued.
    pub fn check(&self, template: &crate::graph::messages::Template) -> Result<(), Mismatch> {
        use crate::graph::messages::{Component, Parameter};
        let mut header: Option<&Vec<Parameter>> = None;
        let mut body: Option<&Vec<Parameter>> = None;
        let mut buttons = BTreeSet::new();
        for c in &template.components {
            match c {
                Component::Header { parameters } => header = Some(parameters),
                Component::Body { parameters } => body = Some(parameters),
                Component::Button {
                    index, parameters, ..
                } => {
                    let at = index.parse::<usize>().ok();
                    let Some(shape) = at.and_then(|i| self.buttons.iter().find(|b| b.index == i))
                    else {
                        return Err(mismatch(format!(
                            "the template has no button at index {index}"
                        )));
                    };
                    if shape.required && parameters.is_empty() {
                        return Err(mismatch(format!(
                            "button {index} ({}) needs a parameter",
                            shape.kind
                        )));
                    }
                    buttons.insert(shape.index);
                }
            }
        }
        let none = Vec::new();
        match &self.header {
            None | Some(HeaderShape::Text(Placeholders::None)) => {
                if header.is_some_and(|p| !p.is_empty()) {
                    return Err(mismatch("the template's header takes no parameters"));
                }
            }
            Some(HeaderShape::Text(p)) => text_parameters("header", p, header.unwrap_or(&none))?,
            Some(HeaderShape::Media(kind)) => {
                let given = header.unwrap_or(&none);
                let fits = |p: &Parameter| match p {
                    Parameter::Image { .. } => kind == "IMAGE",
                    Parameter::Video { .. } => kind == "VIDEO",
                    Parameter::Document { .. } => kind == "DOCUMENT",
                    _ => false,
                };
                if given.len() != 1 || !fits(&given[0]) {
                    return Err(mismatch(format!(
                        "the template's header takes one {} parameter",
                        kind.to_ascii_lowercase()
                    )));
                }
            }
            Some(HeaderShape::Location) => {
                let given = header.unwrap_or(&none);
                if given.len() != 1 || !matches!(given[0], Parameter::Location { .. }) {
                    return Err(mismatch(
                        "the template's header takes one location parameter",
                    ));
                }
            }
        }
        text_parameters("body", &self.body, body.unwrap_or(&none))?;
        if let Some(missing) = self
            .buttons
            .iter()
            .find(|b| b.required && !buttons.contains(&b.index))
        {
            return Err(mismatch(format!(
                "button {} ({}) needs a parameter",
                missing.index, missing.kind
            )));
        }
        Ok(())
    }
}

/// A header's or body's parameters against its placeholders.
fn text_parameters(
    part: &str,
    need: &Placeholders,
    given: &[crate::graph::messages::Parameter],
) -> Result<(), Mismatch> {
    use crate::graph::messages::Parameter;
    let name = |p: &Parameter| match p {
        Parameter::Text { parameter_name, .. } => parameter_name.clone(),
        _ => None,
    };
    match need {
        Placeholders::None if given.is_empty() => Ok(()),
        Placeholders::None => Err(mismatch(format!(
            "the template's {part} takes no parameters"
        ))),
        Placeholders::Positional(n) => {
            if given.len() != *n {
                return Err(mismatch(format!(
                    "the template's {part} takes {n} parameter{}, not {}",
                    if *n == 1 { "" } else { "s" },
                    given.len()
                )));
            }
            Ok(())
        }
        Placeholders::Named(names) => {
            let mut got = BTreeSet::new();
            for p in given {
                let Some(n) = name(p) else {
                    return Err(mismatch(format!(
                        "the template's {part} has named parameters: each needs a parameter_name"
                    )));
                };
                got.insert(n);
            }
            if &got != names || got.len() != given.len() {
                let want: Vec<&str> = names.iter().map(String::as_str).collect();
                return Err(mismatch(format!(
                    "the template's {part} takes the parameters {}",
                    want.join(", ")
                )));
            }
            Ok(())
        }
    }
}

/// Checks a new template's components as Meta's spec describes them, before asking Meta.
pub fn check_components(components: &[Value]) -> Result<(), Invalid> {
    let kind = |c: &Value| {
        c.get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    let mut bodies = 0;
    let mut seen = BTreeSet::new();
    for c in components {
        let k = kind(c);
        match k.as_str() {
            "HEADER" | "BODY" | "FOOTER" | "BUTTONS" => {}
            "" => return Err(Invalid::new("each component has a type")),
            _ => {
                return Err(Invalid::new(
                    "a component's type is HEADER, BODY, FOOTER or BUTTONS",
                ))
            }
        }
        if !seen.insert(k.clone()) {
            return Err(Invalid::new(format!("at most one {k} component")));
        }
        let text = c.get("text").and_then(Value::as_str);
        match k.as_str() {
            "BODY" => {
                bodies += 1;
                let t = text.unwrap_or_default();
                if t.trim().is_empty() || t.chars().count() > 1024 {
                    return Err(Invalid::new("the BODY's text is 1 to 1,024 characters"));
                }
                if let Placeholders::Positional(n) = Placeholders::of(t) {
                    // Meta refuses gaps: {{1}} and {{3}} without {{2}}.
                    for i in 1..=n {
                        if !t.contains(&format!("{{{{{i}}}}}")) {
                            return Err(Invalid::new(
                                "the BODY's placeholders are numbered {{1}}, {{2}}, … without gaps",
                            ));
                        }
                    }
                }
            }
            "HEADER" => {
                let format = c
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or("TEXT")
                    .to_ascii_uppercase();
                match format.as_str() {
                    "TEXT" => {
                        let t = text.unwrap_or_default();
                        if t.trim().is_empty() || t.chars().count() > 60 {
                            return Err(Invalid::new("a TEXT header's text is 1 to 60 characters"));
                        }
                    }
                    "IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION" => {}
                    _ => {
                        return Err(Invalid::new(
                            "a HEADER's format is TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION",
                        ))
                    }
                }
            }
            "FOOTER" => {
                let t = text.unwrap_or_default();
                if t.trim().is_empty() || t.chars().count() > 60 {
                    return Err(Invalid::new("a FOOTER's text is 1 to 60 characters"));
                }
            }
            _ => {
                let n = c
                    .get("buttons")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if n == 0 || n > 10 {
                    return Err(Invalid::new("BUTTONS holds 1 to 10 buttons"));
                }
            }
        }
    }
    if bodies == 0 {
        return Err(Invalid::new("a template has a BODY component"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_as_whatsapp_shows_them() {
        let v = |k: &str| match k {
            "1" => Some("Ada".to_owned()),
            "order_id" => Some("42".to_owned()),
            _ => None,
        };
        assert_eq!(
            Placeholders::fill("Hi {{1}}, order {{ order_id }} {{2}} {{", v),
            "Hi Ada, order 42 {{2}} {{"
        );
    }
    use serde_json::json;

    #[test]
    fn placeholders_are_positional_or_named() {
        assert_eq!(Placeholders::of("Hello"), Placeholders::None);
        assert_eq!(
            Placeholders::of("Hi {{1}}, code {{2}} {{1}}"),
            Placeholders::Positional(2)
        );
        assert_eq!(
            Placeholders::of("Order {{order_id}} for {{ first_name }}"),
            Placeholders::Named(["first_name".into(), "order_id".into()].into())
        );
        assert_eq!(Placeholders::of("{{1}"), Placeholders::None);
    }

    #[test]
    fn the_shape_names_what_a_message_must_supply() {
        let components = vec![
            json!({"type": "HEADER", "format": "IMAGE"}),
            json!({"type": "body", "text": "Hi {{1}}, use {{2}}"}),
            json!({"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Stop"},
                {"type": "URL", "text": "Shop", "url": "https://example.com/s?p={{1}}"},
                {"type": "URL", "text": "Home", "url": "https://example.com"},
                {"type": "COPY_CODE", "example": "SAVE10"}
            ]}),
        ];
        let shape = TemplateShape::of(&components);
        assert_eq!(shape.header, Some(HeaderShape::Media("IMAGE".into())));
        assert_eq!(shape.body, Placeholders::Positional(2));
        let required: Vec<usize> = shape
            .buttons
            .iter()
            .filter(|b| b.required)
            .map(|b| b.index)
            .collect();
        assert_eq!(required, vec![1, 3]);
        assert!(!shape.is_plain());
        let hello = [json!({"type": "BODY", "text": "Welcome and congratulations!!"})];
        assert!(TemplateShape::of(&hello).is_plain());
    }

    #[test]
    fn statuses_read_as_meta_writes_them() {
        assert!(TemplateStatus::parse("approved").unwrap().sends());
        assert!(TemplateStatus::parse("REINSTATED").unwrap().sends());
        assert!(TemplateStatus::parse("PAUSED").unwrap().stops_broadcasts());
        assert!(!TemplateStatus::parse("PENDING").unwrap().sends());
        assert!(TemplateStatus::parse("").is_err());
    }

    #[test]
    fn components_are_checked_before_meta_sees_them() {
        let ok = [json!({"type": "BODY", "text": "Hi {{1}}"})];
        assert!(check_components(&ok).is_ok());
        assert!(check_components(&[]).is_err());
        let gap = [json!({"type": "BODY", "text": "Hi {{1}} {{3}}"})];
        assert!(check_components(&gap).is_err());
        let twice = [
            json!({"type": "BODY", "text": "a"}),
            json!({"type": "BODY", "text": "b"}),
        ];
        assert!(check_components(&twice).is_err());
        let long_footer = [
            json!({"type": "BODY", "text": "a"}),
            json!({"type": "FOOTER", "text": "x".repeat(61)}),
        ];
        assert!(check_components(&long_footer).is_err());
    }

    fn message(components: Value) -> crate::graph::messages::Template {
        serde_json::from_value(json!({
            "name": "t", "language": {"code": "en_US"}, "components": components
        }))
        .unwrap()
    }

    #[test]
    fn a_message_supplies_exactly_what_the_template_needs() {
        let shape = TemplateShape::of(&[
            json!({"type": "HEADER", "format": "IMAGE"}),
            json!({"type": "BODY", "text": "Hi {{1}}, use {{2}}"}),
            json!({"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Shop", "url": "https://example.com/s?p={{1}}"}
            ]}),
        ]);
        let image = json!({"type": "header", "parameters": [
            {"type": "image", "image": {"link": "https://example.com/a.jpg"}}
        ]});
        let body2 = json!({"type": "body", "parameters": [
            {"type": "text", "text": "Ana"}, {"type": "text", "text": "FALL25"}
        ]});
        let button = json!({"type": "button", "sub_type": "url", "index": "0",
            "parameters": [{"type": "text", "text": "abc"}]});
        assert_eq!(shape.check(&message(json!([image, body2, button]))), Ok(()));
        let one = json!({"type": "body", "parameters": [{"type": "text", "text": "Ana"}]});
        let err = shape
            .check(&message(json!([image, one, button])))
            .unwrap_err();
        assert_eq!(err.field, "template.components");
        assert!(err.message.contains("takes 2 parameters, not 1"), "{err:?}");
        assert!(shape.check(&message(json!([body2, button]))).is_err());
        assert!(shape.check(&message(json!([image, body2]))).is_err());
        let video = json!({"type": "header", "parameters": [
            {"type": "video", "video": {"id": "1"}}
        ]});
        assert!(shape
            .check(&message(json!([video, body2, button])))
            .is_err());
        let named = TemplateShape::of(&[json!({"type": "BODY", "text": "Order {{order_id}}"})]);
        let by_name = json!({"type": "body", "parameters": [
            {"type": "text", "text": "42", "parameter_name": "order_id"}
        ]});
        assert_eq!(named.check(&message(json!([by_name]))), Ok(()));
        assert!(named.check(&message(json!([one]))).is_err());
        let plain = TemplateShape::of(&[json!({"type": "BODY", "text": "Hello"})]);
        assert_eq!(plain.check(&message(json!([]))), Ok(()));
        assert!(plain.check(&message(json!([one]))).is_err());
    }
}
