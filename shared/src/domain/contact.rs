use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::text::bounded_text;
use super::{ContactId, Invalid, PhoneNumber, Timestamp};

/// A WhatsApp business-scoped user id (`user_id` in Meta's payloads): a two-letter country code,
/// a period, an optional `ENT.` (parent BSUIDs), then 1 to 128 letters and digits, e.g.
/// `US.13491208655302741918`. It stands in for the phone of users who hide their number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bsuid(String);

impl Bsuid {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim();
        let err = || Invalid::new("must be a WhatsApp user id like US.13491208655302741918");
        let (country, rest) = s.split_once('.').ok_or_else(err)?;
        let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
        let ok = country.len() == 2
            && country.bytes().all(|b| b.is_ascii_uppercase())
            && (1..=128).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(err())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Bsuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsuid(…)")
    }
}

/// A WhatsApp username (2026): the handle a user may show instead of a phone number. Meta
/// sends it with the user's messages and delivered/read statuses; it can change, the BSUID
/// does not. 1 to 64 visible characters. Never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim();
        let ok = (1..=64).contains(&s.chars().count()) && !s.chars().any(char::is_whitespace);
        if !ok {
            return Err(Invalid::new(
                "a username is 1 to 64 characters without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Username(…)")
    }
}

/// A contact's name: 1 to 200 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactName(String);

impl ContactName {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        bounded_text(input, "name", 200).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ContactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContactName(…)")
    }
}

/// A label on contacts, used to pick broadcast audiences: 1 to 64 characters, lowercased, no
/// `|` (the tag separator in CSV files) and no control characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub const MAX_PER_CONTACT: usize = 50;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = bounded_text(input, "tag", 64)?;
        if s.contains('|') {
            return Err(Invalid::new("a tag must not contain |"));
        }
        Ok(Self(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub type Tags = BTreeSet<Tag>;

/// Tags as given (a list in JSON, or a comma-separated field in a form), each parsed, their
/// number checked.
pub fn parse_tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Tags, Invalid> {
    let mut out = Tags::new();
    for t in raw {
        out.insert(Tag::parse(t)?);
    }
    check_tag_count(&out).map(|_| out)
}

pub fn check_tag_count(tags: &Tags) -> Result<(), Invalid> {
    if tags.len() > Tag::MAX_PER_CONTACT {
        return Err(Invalid::new(format!(
            "at most {} tags per contact",
            Tag::MAX_PER_CONTACT
        )));
    }
    Ok(())
}

/// Custom attributes: at most 50, names `[a-z][a-z0-9_]{0,63}`, values up to 1,024 characters,
/// 8 KiB in all. Encrypted as one field.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attributes(BTreeMap<String, String>);

impl Attributes {
    pub const MAX_COUNT: usize = 50;
    pub const MAX_VALUE_CHARS: usize = 1024;
    pub const MAX_TOTAL_BYTES: usize = 8 * 1024;

    pub fn parse_name(name: &str) -> Result<String, Invalid> {
        let ok = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(name.to_owned())
        } else {
            Err(Invalid::new(
                "attribute names are 1 to 64 of a-z, 0-9 and _, starting with a letter",
            ))
        }
    }

    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, Invalid> {
        let mut out = BTreeMap::new();
        for (name, value) in map {
            let name = Self::parse_name(&name)?;
            if value.chars().count() > Self::MAX_VALUE_CHARS
                || value.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(Invalid::new(format!(
                    "attribute values are at most {} characters without control characters",
                    Self::MAX_VALUE_CHARS
                )));
            }
            out.insert(name, value);
        }
        let attrs = Self(out);
        attrs.check_bounds()?;
        Ok(attrs)
    }

    fn check_bounds(&self) -> Result<(), Invalid> {
        if self.0.len() > Self::MAX_COUNT {
            return Err(Invalid::new(format!(
                "at most {} attributes",
                Self::MAX_COUNT
            )));
        }
        let total: usize = self.0.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > Self::MAX_TOTAL_BYTES {
            return Err(Invalid::new(format!(
                "attributes take at most {} bytes in all",
                Self::MAX_TOTAL_BYTES
            )));
        }
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) each named attribute, then checks the bounds.
    pub fn merge(&self, changes: &BTreeMap<String, Option<String>>) -> Result<Self, Invalid> {
        let mut next = self.0.clone();
        for (k, v) in changes {
            match v {
                Some(v) => {
                    next.insert(k.clone(), v.clone());
                }
                None => {
                    next.remove(k);
                }
            }
        }
        Self::parse(next)
    }

    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Attributes({} entries)", self.0.len())
    }
}

/// Whether the contact agreed to business-initiated messages, where, and to what wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub opted_in: bool,
    /// Where the consent was given, e.g. "checkout form".
    pub source: Option<String>,
    /// The wording the contact agreed to.
    pub text: Option<String>,
    /// Set by the server when `opted_in` becomes true.
    pub opted_in_at: Option<Timestamp>,
    /// When these terms were recorded and through what: the latest entry of the contact's
    /// consent history, kept with the contact (earlier entries are records of their own).
    /// `None` on contacts stored before, whose every entry is a record of its own.
    pub recorded: Option<Recorded>,
}

/// When consent terms were recorded, and through what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub at: Timestamp,
    /// `api` or `import`.
    pub via: String,
}

/// One change of a contact's consent, kept for as long as the contact: the latest in the
/// contact's own item ([`Consent::recorded`]), the ones it replaced as consent records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    pub opted_in: bool,
    pub source: Option<String>,
    pub text: Option<String>,
    pub recorded_at: Timestamp,
    /// `api`, `import`, or (later) `webhook`.
    pub via: String,
}

impl ConsentRecord {
    /// The entry a consent holds of itself, if it was recorded.
    pub fn of(consent: &Consent) -> Option<Self> {
        consent.recorded.as_ref().map(|r| Self {
            opted_in: consent.opted_in,
            source: consent.source.clone(),
            text: consent.text.clone(),
            recorded_at: r.at,
            via: r.via.clone(),
        })
    }
}

impl Consent {
    pub fn parse_source(s: &str) -> Result<String, Invalid> {
        bounded_text(s, "consent source", 200)
    }

    pub fn parse_text(s: &str) -> Result<String, Invalid> {
        bounded_text(s, "consent text", 2000)
    }

    /// Same consent, ignoring when it was recorded.
    pub fn same_terms(&self, other: &Consent) -> bool {
        self.opted_in == other.opted_in && self.source == other.source && self.text == other.text
    }
}

/// The contact asked not to receive marketing messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptOut {
    pub opted_out_at: Timestamp,
    pub reason: String,
}

impl OptOut {
    pub fn parse_reason(s: &str) -> Result<String, Invalid> {
        bounded_text(s, "opt-out reason", 500)
    }
}

/// A contact: identified by our id, reachable by phone and/or BSUID (at least one).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub phone: Option<PhoneNumber>,
    pub user_id: Option<Bsuid>,
    pub name: Option<ContactName>,
    /// The user's WhatsApp username, as Meta last sent it.
    pub username: Option<Username>,
    pub tags: Tags,
    pub attributes: Attributes,
    pub consent: Option<Consent>,
    pub opt_out: Option<OptOut>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Contact {
    /// What Meta gets as `to`: the phone in digits if the contact has one, else its BSUID.
    pub fn address(&self) -> Option<String> {
        self.phone
            .as_ref()
            .map(|p| p.digits().to_owned())
            .or_else(|| self.user_id.as_ref().map(|u| u.as_str().to_owned()))
    }

    /// May receive business-initiated (template) messages: opted in and not opted out.
    pub fn opted_in(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c.opted_in) && self.opt_out.is_none()
    }

    /// Same content, ignoring ids and times: what an import compares to say "unchanged".
    pub fn same_content(&self, other: &Contact) -> bool {
        self.phone == other.phone
            && self.user_id == other.user_id
            && self.name == other.name
            && self.tags == other.tags
            && self.attributes == other.attributes
            && match (&self.consent, &other.consent) {
                (Some(a), Some(b)) => a.same_terms(b),
                (None, None) => true,
                _ => false,
            }
            && self.opt_out.is_some() == other.opt_out.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsuids() {
        assert!(Bsuid::parse("US.13491208655302741918").is_ok());
        assert!(Bsuid::parse("US.ENT.11815799212886844830").is_ok());
        for bad in [
            "",
            "US",
            "us.123",
            "USA.1",
            "US.",
            "US.12 3",
            &format!("US.{}", "1".repeat(129)),
        ] {
            assert!(Bsuid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_attributes() {
        assert_eq!(Tag::parse(" VIP ").unwrap().as_str(), "vip");
        assert!(Tag::parse("a|b").is_err());
        let ok = Attributes::parse(BTreeMap::from([("city".into(), "Lisbon".into())])).unwrap();
        let merged = ok
            .merge(&BTreeMap::from([
                ("city".into(), None),
                ("tier".into(), Some("gold".into())),
            ]))
            .unwrap();
        assert_eq!(merged.map().keys().collect::<Vec<_>>(), ["tier"]);
        assert!(Attributes::parse(BTreeMap::from([("City".into(), "x".into())])).is_err());
        assert!(Attributes::parse(BTreeMap::from([("c".into(), "x".repeat(1025))])).is_err());
        let many = (0..51).map(|i| (format!("a{i}"), "x".into())).collect();
        assert!(Attributes::parse(many).is_err());
    }
}
