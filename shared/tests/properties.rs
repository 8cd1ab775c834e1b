//! Property tests: parsers take any input without panicking, and what they accept is well
//! formed.

use proptest::prelude::*;
use shared::domain::{Bsuid, Email, PhoneNumber, Region, Tag};
use shared::services::imports::csv::CsvStream;
use shared::services::imports::rows::{header, parse_row};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn is_e164(s: &str) -> bool {
    s.starts_with('+') && (8..=16).contains(&s.len()) && s[1..].bytes().all(|b| b.is_ascii_digit())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn phone_parsing_never_panics(input in "\\PC{0,40}", region in prop::option::of("[A-Z]{2}")) {
        let region = region.and_then(|r| Region::parse(&r).ok());
        if let Ok(p) = PhoneNumber::parse(&input, region) {
            prop_assert!(is_e164(p.e164()), "{}", p.e164());
        }
        if let Ok(p) = PhoneNumber::from_meta(&input) {
            prop_assert!(is_e164(p.e164()), "{}", p.e164());
        }
    }

    #[test]
    fn phone_like_input_never_panics(input in "[+]?[0-9 ()\\-.]{0,30}", region in prop::option::of("(GB|US|BR|IN|DE|NG)")) {
        let region = region.and_then(|r| Region::parse(&r).ok());
        if let Ok(p) = PhoneNumber::parse(&input, region) {
            prop_assert!(is_e164(p.e164()));
            // What we accept reads back to itself.
            prop_assert_eq!(PhoneNumber::parse(p.e164(), None).unwrap(), p);
        }
    }

    #[test]
    fn other_parsers_never_panic(input in "\\PC{0,300}") {
        let _ = Email::parse(&input);
        let _ = Bsuid::parse(&input);
        let _ = Tag::parse(&input);
        let _ = Region::parse(&input);
    }

    #[test]
    fn csv_rows_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let rows = block_on(async {
            let mut stream = CsvStream::new(&bytes[..]);
            let mut rows = Vec::new();
            while let Some(r) = stream.next().await.unwrap() {
                rows.push(r);
            }
            rows
        });
        if let Some(first) = rows.first() {
            if let Ok(h) = header(first) {
                for (i, raw) in rows.iter().enumerate().skip(1) {
                    match parse_row(&h, i as u64 + 1, raw, None) {
                        Ok(update) => prop_assert!(update.phone.is_some() || update.user_id.is_some()),
                        Err(errors) => {
                            prop_assert!(!errors.is_empty());
                            prop_assert!(errors.iter().all(|e| e.row == i as u64 + 1));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn contact_shaped_csv_never_panics(
        cells in prop::collection::vec(prop::collection::vec("[^\\r\\n]{0,24}", 0..6), 0..40)
    ) {
        let mut text = "phone,name,tags,opted_in,user_id,attr.city\n".to_owned();
        for row in &cells {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let rows = block_on(async {
            let mut stream = CsvStream::new(text.as_bytes());
            let mut rows = Vec::new();
            while let Some(r) = stream.next().await.unwrap() {
                rows.push(r);
            }
            rows
        });
        let h = header(&rows[0]).unwrap();
        for (i, raw) in rows.iter().enumerate().skip(1) {
            let _ = parse_row(&h, i as u64 + 1, raw, Region::parse("GB").ok());
        }
    }
}
