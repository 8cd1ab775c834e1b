//! Numbering-plan checks on patterns compiled once per region.
//!
//! The rules and the metadata are the `phonenumber` crate's (`validator::is_valid_with`); only
//! the pattern handling differs. The crate keeps its compiled patterns in one global LRU cache of
//! 100 entries behind a mutex, keyed by each pattern's text: every check hashes the text and
//! holds the lock while matching, so parsing threads run one at a time, and files with numbers
//! from more than a handful of countries recompile patterns as the cache turns over.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex::{Regex, RegexBuilder};

use super::Region;

/// A number type's pattern: a national number is of that type if its length is one of the
/// type's lengths (when it lists any) and the pattern matches from its first digit.
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn new(d: &Descriptor) -> Option<Self> {
        Some(Self {
            lengths: d.possible_length().to_vec(),
            regex: anchored(d.national_number().as_str())?,
        })
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.is_match(national)
    }
}

/// A metadata pattern that must match from the number's first digit. The metadata writes its
/// patterns over several indented lines, as the crate reads them.
fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// One region's plan.
struct Plan {
    general: Option<Pattern>,
    /// Fixed line, mobile, toll free and the other types.
    types: Vec<Pattern>,
    /// For regions sharing a country code: the national numbers that belong to this region.
    leading_digits: Option<Regex>,
    /// What parsing strips from a national number written with it (a trunk prefix, carrier
    /// codes): a number without either parses the same with or without the crate.
    national_prefix: Option<String>,
    prefix_for_parsing: Option<Regex>,
}

impl Plan {
    fn new(meta: &Metadata) -> Self {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Self {
            general: Pattern::new(d.general()),
            types: types
                .into_iter()
                .flatten()
                .filter_map(Pattern::new)
                .collect(),
            leading_digits: meta.leading_digits().and_then(|p| anchored(p.as_str())),
            national_prefix: meta.national_prefix().map(str::to_owned),
            prefix_for_parsing: meta
                .national_prefix_for_parsing()
                .and_then(|p| anchored(p.as_str())),
        }
    }

    /// Whether the number is of any type the plan knows (`validator::number_type` is not
    /// `Unknown`).
    fn knows(&self, national: &str) -> bool {
        self.general.as_ref().is_some_and(|g| g.matches(national))
            && self.types.iter().any(|t| t.matches(national))
    }
}

/// Every region's plan, compiled when a number of that region is first checked.
struct Plans {
    /// Regions by country code, in the metadata's order (the main region first).
    regions: HashMap<u16, Vec<(&'static Metadata, OnceLock<Plan>)>>,
}

impl Plans {
    fn get() -> &'static Plans {
        static PLANS: OnceLock<Plans> = OnceLock::new();
        PLANS.get_or_init(|| {
            // By code, not by region id: the non-geographic codes (+800, +882…) all have the
            // id "001".
            let regions = (1..=999u16)
                .filter_map(|code| {
                    let mut list = DATABASE.by_code(&code)?;
                    // The crate's order for a shared code: its region list, main country first.
                    let order = DATABASE.region(&code).unwrap_or_default();
                    list.sort_by_key(|m| order.iter().position(|id| *id == m.id()));
                    Some((
                        code,
                        list.into_iter().map(|m| (m, OnceLock::new())).collect(),
                    ))
                })
                .collect();
            Plans { regions }
        })
    }
}

fn plan<'a>(entry: &'a (&'static Metadata, OnceLock<Plan>)) -> &'a Plan {
    entry.1.get_or_init(|| Plan::new(entry.0))
}

/// The plan a national number of `code` falls under: the code's only region or, for a shared
/// code (+1, +7, +44…), the first region whose leading digits match the number or, for a
/// region without leading digits, whose plan knows it (`validator::source_for`).
fn region_of(code: u16, national: &str) -> Option<&'static Plan> {
    let regions = Plans::get().regions.get(&code)?;
    if let [only] = regions.as_slice() {
        return Some(plan(only));
    }
    regions.iter().map(plan).find(|p| match &p.leading_digits {
        Some(leading) => leading.is_match(national),
        None => p.knows(national),
    })
}

/// Whether `national` (digits, without the country code) is a number that `code`'s numbering
/// plan knows. Same answer as `phonenumber::is_valid`.
pub(crate) fn is_valid(code: u16, national: &str) -> bool {
    region_of(code, national).is_some_and(|p| p.knows(national))
}

/// The E.164 form of a valid number written internationally (`+`, digits, and spaces, dashes,
/// dots or parentheses between them), without the crate's parser: `None` whenever the crate's
/// answer could differ — anything else in the input, a number its plan does not know, or one
/// that starts with what the crate would strip as a national prefix ("+44 (0)20…") — and the
/// caller parses it the crate's way.
pub(crate) fn international(input: &str, default_region: Option<Region>) -> Option<String> {
    let digits = separated_digits(input.strip_prefix('+')?)?;
    if digits.len() < 4 || digits.starts_with('0') {
        return None;
    }
    // The crate takes the shortest prefix that is a known country code.
    let plans = Plans::get();
    let (code, national) = (1..=3).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        plans
            .regions
            .contains_key(&code)
            .then(|| (code, &digits[len..]))
    })?;
    if national.len() > 17 {
        return None;
    }
    let own = region_of(code, national)?;
    // The crate strips national prefixes by the default region's plan when one is given,
    // otherwise by the plan of the number without leading zeros.
    let stripping = match default_region {
        Some(r) => plan_of(r)?,
        None if !national.starts_with('0') => own,
        None => region_of(code, national.trim_start_matches('0'))?,
    };
    let strippable = stripping
        .prefix_for_parsing
        .as_ref()
        .is_some_and(|r| r.is_match(national))
        || stripping
            .national_prefix
            .as_deref()
            .is_some_and(|p| national.starts_with(p));
    if strippable || !own.knows(national) {
        return None;
    }
    Some(format!("+{code}{national}"))
}

/// The digits of `input` if it holds nothing but digits and the separators people write
/// between them (spaces, dashes, dots, parentheses).
pub(crate) fn separated_digits(input: &str) -> Option<String> {
    input
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')'))
        .then(|| input.chars().filter(char::is_ascii_digit).collect())
}

/// A region's plan, by its id.
fn plan_of(region: Region) -> Option<&'static Plan> {
    let meta = DATABASE.by_id(region.as_str())?;
    let entry = Plans::get()
        .regions
        .get(&meta.country_code())?
        .iter()
        .find(|(m, _)| m.id() == region.as_str())?;
    Some(plan(entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn crate_says(e164: &str) -> Option<bool> {
        let parsed = phonenumber::parse(None, e164).ok()?;
        Some(phonenumber::is_valid(&parsed))
    }

    fn we_say(e164: &str) -> Option<bool> {
        let parsed = phonenumber::parse(None, e164).ok()?;
        Some(is_valid(
            parsed.code().value(),
            &parsed.national().to_string(),
        ))
    }

    /// Every example number of every region and type, and each with a digit more, a digit
    /// less and its first digit changed: the same answers as the crate's own check.
    #[test]
    fn agrees_with_the_crate_on_every_example_number() {
        let mut checked = 0;
        for code in 1..=999u16 {
            for meta in DATABASE.by_code(&code).unwrap_or_default() {
                let d = meta.descriptors();
                let examples = [d.general(), d.fixed_line().unwrap_or(d.general())]
                    .into_iter()
                    .chain(d.mobile())
                    .chain(d.toll_free())
                    .chain(d.premium_rate())
                    .chain(d.voip())
                    .filter_map(|d| d.example());
                for example in examples {
                    let first = (example.as_bytes()[0] - b'0' + 1) % 10;
                    for national in [
                        example.to_string(),
                        format!("{example}5"),
                        example[..example.len() - 1].to_string(),
                        format!("{first}{}", &example[1..]),
                    ] {
                        let e164 = format!("+{code}{national}");
                        assert_eq!(we_say(&e164), crate_says(&e164), "{e164}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1_000, "{checked}");
    }

    /// What the crate's parser and check make of the input: the E.164 form of a valid number.
    fn crate_parses(input: &str, region: Option<Region>) -> Option<String> {
        let parsed = phonenumber::parse(region.map(Region::id), input).ok()?;
        phonenumber::is_valid(&parsed)
            .then(|| parsed.format().mode(phonenumber::Mode::E164).to_string())
    }

    #[test]
    fn international_form_is_read_without_the_crate_parser() {
        assert_eq!(
            international("+44 7400 123456", None).as_deref(),
            Some("+447400123456")
        );
        assert_eq!(
            international("+1 (212) 200-0123", None).as_deref(),
            Some("+12122000123")
        );
        // Left to the crate: a national prefix inside, an extension, national form.
        assert_eq!(international("+44 (0)20 7946 0958", None), None);
        assert_eq!(international("+1 212 200 0123 ext. 5", None), None);
        assert_eq!(international("020 7946 0958", None), None);
    }

    /// Every region's example mobile or fixed-line number, written internationally: the fast
    /// path reads nearly all of them, the same as the crate.
    #[test]
    fn international_reads_real_numbers() {
        let (mut valid, mut read) = (0, 0);
        for code in 1..=999u16 {
            for meta in DATABASE.by_code(&code).unwrap_or_default() {
                let d = meta.descriptors();
                let Some(example) = d.mobile().or(d.fixed_line()).and_then(|d| d.example()) else {
                    continue;
                };
                let input = format!("+{code} {example}");
                let Some(expected) = crate_parses(&input, None) else {
                    continue;
                };
                valid += 1;
                if let Some(fast) = international(&input, None) {
                    assert_eq!(fast, expected, "{input}");
                    read += 1;
                }
            }
        }
        assert!(valid > 200 && read * 100 >= valid * 95, "{read} of {valid}");
    }

    fn region() -> impl Strategy<Value = Option<Region>> {
        prop::sample::select(vec![
            None,
            Some("BR"),
            Some("DE"),
            Some("GB"),
            Some("US"),
            Some("IT"),
            Some("RU"),
            Some("AR"),
            Some("MX"),
        ])
        .prop_map(|r| r.map(|r| Region::parse(r).unwrap()))
    }

    proptest! {
        #[test]
        fn agrees_with_the_crate_on_any_number(code in prop::sample::select(vec![1u16, 7, 44, 49, 55, 39, 61, 91, 234, 358, 800, 882]), national in "[0-9]{4,14}") {
            let e164 = format!("+{code}{national}");
            prop_assert_eq!(we_say(&e164), crate_says(&e164), "{}", e164);
        }

        /// Whatever the fast path answers, the crate answers for the digits alone, and for the
        /// input as written whenever its parser reads it: the crate refuses some separators
        /// in some places ("+4921000-00", "+4921000.0"), which are read here as separators.
        #[test]
        fn international_agrees_with_the_crate(
            code in prop::sample::select(vec![1u16, 7, 39, 44, 49, 52, 54, 55, 61, 91, 234, 358, 800]),
            national in "[0-9]{4,14}",
            separators in prop::collection::vec(prop::sample::select(vec!["", "", " ", "-", ".", "(", ")"]), 16),
            region in region(),
        ) {
            let mut input = format!("+{code}");
            for (i, d) in national.chars().enumerate() {
                input.push_str(separators[i % separators.len()]);
                input.push(d);
            }
            if let Some(fast) = international(&input, region) {
                let digits = format!("+{code}{national}");
                prop_assert_eq!(Some(fast.clone()), crate_parses(&digits, region), "{}", input);
                if let Some(as_written) = crate_parses(&input, region) {
                    prop_assert_eq!(fast, as_written, "{}", input);
                }
            }
        }
    }
}
