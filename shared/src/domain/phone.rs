use std::fmt;

use super::{numbering, Invalid, Region};

/// A phone number in E.164 form (`+` and up to 15 digits), checked against the numbering plan
/// of its country. Input without `+` is read in `default_region` if one is given; input with
/// `+` is read the same whatever the region.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str, default_region: Option<Region>) -> Result<Self, Invalid> {
        let err = || Invalid::new("must be a valid phone number, like +447700900123");
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(err());
        }
        if default_region.is_none() && !trimmed.starts_with('+') {
            return Err(Invalid::new(
                "has no +country code and the account has no default_region to read it in",
            ));
        }
        // A number that states its country code means the same whatever the account's
        // region: the crate would otherwise strip national prefixes by the region's plan, so
        // that "+7 831…" read in GB and read alone differ (a property test found it).
        let region = match trimmed.starts_with('+') {
            true => None,
            false => default_region,
        };
        let e164 = match numbering::international(trimmed, region) {
            Some(e164) => e164,
            None => Self::parse_with_crate(trimmed, region).ok_or_else(err)?,
        };
        // E.164 numbers have 7 to 15 digits (as `from_meta` requires); some national plans'
        // metadata (Germany's) let shorter and longer ones through, which no one can message.
        if !(8..=16).contains(&e164.len()) {
            return Err(err());
        }
        Ok(Self(e164))
    }

    /// The crate's parser, for every form of input; the numbering-plan check is ours (same
    /// rules, faster).
    fn parse_with_crate(input: &str, default_region: Option<Region>) -> Option<String> {
        let parsed = phonenumber::parse(default_region.map(Region::id), input).ok()?;
        numbering::is_valid(parsed.code().value(), &parsed.national().to_string())
            .then(|| parsed.format().mode(phonenumber::Mode::E164).to_string())
    }

    /// The country the number belongs to, when its numbering plan says (`None` for Meta's
    /// test numbers and shared codes).
    pub fn region(&self) -> Option<Region> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        parsed.country().id().map(Region::from_id)
    }

    /// A number as Meta writes it (`wa_id`, `display_phone_number`): Meta has already checked
    /// it, and its own test numbers (+1 555 …) fail numbering-plan checks, so only the E.164
    /// shape is checked: an optional `+`, then 7 to 15 digits, with spaces, dashes, dots or
    /// parentheses between them.
    pub fn from_meta(input: &str) -> Result<Self, Invalid> {
        match numbering::separated_digits(input.trim().trim_start_matches('+')) {
            Some(digits) if (7..=15).contains(&digits.len()) && !digits.starts_with('0') => {
                Ok(Self(format!("+{digits}")))
            }
            _ => Err(Invalid::new(
                "must be a phone number in international form, like +15550783881",
            )),
        }
    }

    /// `+` followed by digits.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The digits alone, as Meta writes `wa_id` and `display_phone_number`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_international_and_regional_forms() {
        let n = PhoneNumber::parse("+44 20 7946 0958", None).unwrap();
        assert_eq!(n.e164(), "+442079460958");
        let gb = Region::parse("GB").unwrap();
        let n = PhoneNumber::parse("020 7946 0958", Some(gb)).unwrap();
        assert_eq!(n.digits(), "442079460958");
        assert!(PhoneNumber::parse("12", None).is_err());
        assert!(PhoneNumber::parse("not a number", None).is_err());
        let no_region = PhoneNumber::parse("020 7946 0958", None).unwrap_err();
        assert!(no_region.0.contains("default_region"));
        assert!(
            PhoneNumber::parse("+999 123 456 789", None).is_err(),
            "no such country code"
        );
        let de = Region::parse("DE").unwrap();
        assert!(
            PhoneNumber::parse("20100000000000", Some(de)).is_err(),
            "16 digits: longer than E.164 allows"
        );
        assert!(
            PhoneNumber::parse("1640", Some(de)).is_err(),
            "+491640 has 6 digits: shorter than E.164 allows"
        );
    }

    #[test]
    fn meta_numbers_keep_their_digits() {
        assert_eq!(
            PhoneNumber::from_meta("15550783881").unwrap().e164(),
            "+15550783881"
        );
        assert_eq!(
            PhoneNumber::from_meta("+1 (555) 078-3881")
                .unwrap()
                .digits(),
            "15550783881"
        );
        for bad in [
            "",
            "+",
            "123",
            "0155507838",
            "1555078388x",
            "1234567890123456",
        ] {
            assert!(PhoneNumber::from_meta(bad).is_err(), "{bad}");
        }
    }
}
