//! The columns of a contact file and the reading of one row into a contact update.
//!
//! Columns (header names, case-insensitive, any order): `phone`, `user_id`, `name`, `tags`
//! (separated by `|`), `opted_in` (`true/false`, `yes/no`, `y/n`, `1/0`), `opt_in_source`, and
//! `attr.<name>` for custom attributes. `phone` or `user_id` must be present. An empty cell
//! leaves the contact's field as it is.

use std::collections::BTreeMap;

use super::csv::{Fields, RawRow, RowTooBig, MAX_FIELDS, MAX_ROW_BYTES};
use crate::domain::{
    check_tag_count, Attributes, Bsuid, Consent, ContactName, PhoneNumber, Region, Tag, Tags,
};

pub const TAG_SEPARATOR: char = '|';

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    Phone,
    UserId,
    Name,
    Tags,
    OptedIn,
    OptInSource,
    Attr(String),
}

impl Column {
    pub fn name(&self) -> String {
        match self {
            Column::Phone => "phone".into(),
            Column::UserId => "user_id".into(),
            Column::Name => "name".into(),
            Column::Tags => "tags".into(),
            Column::OptedIn => "opted_in".into(),
            Column::OptInSource => "opt_in_source".into(),
            Column::Attr(a) => format!("attr.{a}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub columns: Vec<Column>,
}

/// Why a file cannot be imported at all.
pub fn header(row: &RawRow) -> Result<Header, String> {
    let fields = match &row.fields {
        Ok(f) => f,
        Err(RowTooBig::Bytes) => {
            return Err(format!(
                "the header row is longer than {MAX_ROW_BYTES} bytes"
            ))
        }
        Err(RowTooBig::Fields) => {
            return Err(format!("the header row has more than {MAX_FIELDS} columns"))
        }
    };
    let mut columns = Vec::with_capacity(fields.len());
    for raw in fields.iter() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| "the header row is not valid UTF-8".to_owned())?
            .trim()
            .to_ascii_lowercase();
        let column = match name.as_str() {
            "phone" => Column::Phone,
            "user_id" => Column::UserId,
            "name" => Column::Name,
            "tags" => Column::Tags,
            "opted_in" => Column::OptedIn,
            "opt_in_source" => Column::OptInSource,
            other => match other.strip_prefix("attr.") {
                Some(attr) => Column::Attr(
                    Attributes::parse_name(attr)
                        .map_err(|e| format!("column `{}`: {e}", truncate(other)))?,
                ),
                None => {
                    return Err(format!(
                        "unknown column `{}`; the columns are phone, user_id, name, tags, \
                         opted_in, opt_in_source and attr.<name>",
                        truncate(other)
                    ))
                }
            },
        };
        if columns.contains(&column) {
            return Err(format!("column `{}` appears twice", column.name()));
        }
        columns.push(column);
    }
    if !columns
        .iter()
        .any(|c| matches!(c, Column::Phone | Column::UserId))
    {
        return Err("the header needs a `phone` or a `user_id` column".into());
    }
    Ok(Header { columns })
}

/// Header names are ours to quote back, but not at any length.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// One row's contribution to a contact; `None` and empty collections mean "no change".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowUpdate {
    pub row: u64,
    pub phone: Option<PhoneNumber>,
    pub user_id: Option<Bsuid>,
    pub name: Option<ContactName>,
    pub tags: Tags,
    pub attributes: BTreeMap<String, String>,
    pub opted_in: Option<bool>,
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub row: u64,
    pub column: String,
    pub reason: String,
}

impl RowError {
    pub fn new(row: u64, column: &str, reason: impl Into<String>) -> Self {
        Self {
            row,
            column: column.to_owned(),
            reason: reason.into(),
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Reads one data row; every problem of the row is reported, none is fatal to the file.
pub fn parse_row(
    header: &Header,
    row: u64,
    raw: &RawRow,
    region: Option<Region>,
) -> Result<RowUpdate, Vec<RowError>> {
    let fields: &Fields = match &raw.fields {
        Ok(f) => f,
        Err(RowTooBig::Bytes) => {
            return Err(vec![RowError::new(
                row,
                "",
                format!("the row is longer than {MAX_ROW_BYTES} bytes"),
            )])
        }
        Err(RowTooBig::Fields) => {
            return Err(vec![RowError::new(
                row,
                "",
                format!("the row has more than {MAX_FIELDS} fields"),
            )])
        }
    };
    if fields.len() != header.columns.len() {
        return Err(vec![RowError::new(
            row,
            "",
            format!(
                "the row has {} fields, the header has {}",
                fields.len(),
                header.columns.len()
            ),
        )]);
    }
    let mut out = RowUpdate {
        row,
        ..RowUpdate::default()
    };
    let mut errors = Vec::new();
    for (column, raw) in header.columns.iter().zip(fields.iter()) {
        let col = column.name();
        let Ok(text) = std::str::from_utf8(raw) else {
            errors.push(RowError::new(row, &col, "not valid UTF-8"));
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let mut fail = |reason: String| errors.push(RowError::new(row, &col, reason));
        match column {
            Column::Phone => match PhoneNumber::parse(text, region) {
                Ok(p) => out.phone = Some(p),
                Err(e) => fail(e.0),
            },
            Column::UserId => match Bsuid::parse(text) {
                Ok(u) => out.user_id = Some(u),
                Err(e) => fail(e.0),
            },
            Column::Name => match ContactName::parse(text) {
                Ok(n) => out.name = Some(n),
                Err(e) => fail(e.0),
            },
            Column::Tags => {
                for t in text.split(TAG_SEPARATOR).filter(|t| !t.trim().is_empty()) {
                    match Tag::parse(t) {
                        Ok(t) => {
                            out.tags.insert(t);
                        }
                        Err(e) => fail(e.0),
                    }
                }
                if let Err(e) = check_tag_count(&out.tags) {
                    errors.push(RowError::new(row, &col, e.0));
                }
            }
            Column::OptedIn => match parse_bool(text) {
                Some(b) => out.opted_in = Some(b),
                None => fail("must be true or false (yes/no, y/n, 1/0)".into()),
            },
            Column::OptInSource => match Consent::parse_source(text) {
                Ok(s) => out.source = Some(s),
                Err(e) => fail(e.0),
            },
            Column::Attr(name) => {
                out.attributes.insert(name.clone(), text.to_owned());
            }
        }
    }
    if !out.attributes.is_empty() {
        if let Err(e) = Attributes::parse(out.attributes.clone()) {
            errors.push(RowError::new(row, "attr", e.0));
        }
    }
    if errors.is_empty() && out.phone.is_none() && out.user_id.is_none() {
        errors.push(RowError::new(
            row,
            "phone",
            "the row needs a phone or a user_id",
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
