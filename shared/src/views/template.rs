//! Message templates as the API shows them: Meta's fields, and what a message using the
//! template must supply (its parameters), read from its components.

use serde::Serialize;
use serde_json::Value;

use crate::domain::{HeaderShape, Placeholders, Template, Timestamp};

#[derive(Serialize)]
pub struct TemplateView {
    /// Meta's template id.
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: String,
    pub quality_score: Option<String>,
    /// Why Meta rejected or paused it, when it said.
    pub reason: Option<String>,
    pub components: Vec<Value>,
    pub parameters: ParametersView,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// What a message using the template supplies.
#[derive(Serialize)]
pub struct ParametersView {
    /// `none`, `text`, `image`, `video`, `document` or `location`.
    pub header: String,
    pub header_parameters: PlaceholdersView,
    pub body: PlaceholdersView,
    /// Indexes of the buttons that need a parameter (dynamic URL, copy code, one-time code).
    pub buttons: Vec<usize>,
}

#[derive(Serialize)]
pub struct PlaceholdersView {
    /// `none`, `positional` or `named`.
    pub format: &'static str,
    pub count: usize,
    /// The names, for named placeholders.
    pub names: Vec<String>,
}

impl From<&Placeholders> for PlaceholdersView {
    fn from(p: &Placeholders) -> Self {
        match p {
            Placeholders::None => Self {
                format: "none",
                count: 0,
                names: vec![],
            },
            Placeholders::Positional(n) => Self {
                format: "positional",
                count: *n,
                names: vec![],
            },
            Placeholders::Named(names) => Self {
                format: "named",
                count: names.len(),
                names: names.iter().cloned().collect(),
            },
        }
    }
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        let shape = t.shape();
        let (header, header_parameters) = match &shape.header {
            None => ("none".to_owned(), Placeholders::None),
            Some(HeaderShape::Text(p)) => ("text".to_owned(), p.clone()),
            Some(HeaderShape::Media(kind)) => (kind.to_ascii_lowercase(), Placeholders::None),
            Some(HeaderShape::Location) => ("location".to_owned(), Placeholders::None),
        };
        Self {
            id: t.id.to_string(),
            waba_id: t.waba_id.as_str().to_owned(),
            name: t.name.to_string(),
            language: t.language.to_string(),
            status: t.status.as_str().to_owned(),
            category: t.category.as_str().to_owned(),
            quality_score: t.quality_score,
            reason: t.reason,
            parameters: ParametersView {
                header,
                header_parameters: (&header_parameters).into(),
                body: (&shape.body).into(),
                buttons: shape
                    .buttons
                    .iter()
                    .filter(|b| b.required)
                    .map(|b| b.index)
                    .collect(),
            },
            components: t.components,
            updated_at: t.updated_at,
        }
    }
}
