use std::fmt;

use super::Invalid;

/// A country, by ISO 3166-1 alpha-2 code (`GB`, `BR`), as phone numbering plans know it. A
/// tenant's default region reads numbers written without `+`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(phonenumber::country::Id);

impl Region {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let code = input.trim().to_ascii_uppercase();
        if code.len() != 2 {
            return Err(Invalid::new("must be a two-letter country code like GB"));
        }
        code.parse::<phonenumber::country::Id>()
            .map(Self)
            .map_err(|_| Invalid::new("is not a country code that phone numbering plans know"))
    }

    pub(crate) fn from_id(id: phonenumber::country::Id) -> Self {
        Self(id)
    }

    pub fn id(self) -> phonenumber::country::Id {
        self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_letter_codes_only() {
        assert_eq!(Region::parse("gb").unwrap().as_str(), "GB");
        for bad in ["", "G", "GBR", "XX", "12"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }
}
