//! Logs: `tracing` events as JSON lines on stdout (CloudWatch on Lambda), passed through a
//! redactor before they are written.
//!
//! The code logs ids, route templates, counts and error kinds, never request bodies. The
//! redactor is the second line: whatever reaches the writer loses, first, the values of fields
//! whose names say they are personal (`email`, `phone`, `*_name`, `body`, `text`, `token`, …)
//! and then anything shaped like an email address, a phone number, a Meta access token, one of
//! our API keys or a bearer credential.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::LazyLock;

use regex::{Captures, Regex};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Field names whose values are personal or secret, matched as a suffix of the JSON key.
const PERSONAL_KEYS: &str = "email|phone|phone_number|name|body|text|caption|token|secret|\
                             password|address|wa_id|user_id|api_key|authorization|profile";

static PERSONAL_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#""([A-Za-z0-9_]*(?:{PERSONAL_KEYS}))":\s*"(?:[^"\\]|\\.)*""#
    ))
    .expect("valid regex")
});

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Email addresses.
        (
            r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+",
            "[email]",
        ),
        // Bearer credentials in any header dump.
        (r"(?i)bearer\s+[A-Za-z0-9._~+/=\-]+", "Bearer [redacted]"),
        // Our API keys and Meta's access tokens.
        (r"wat_[A-Za-z0-9_\-]{4,}", "[api-key]"),
        (r"\bEAA[A-Za-z0-9]{10,}", "[token]"),
        // Phone numbers: `+` and digits with separators, or bare runs of 8 to 15 digits.
        (r"\+\d[\d \-().]{5,}\d", "[phone]"),
        (r"\b\d{8,15}\b", "[number]"),
        // Long opaque secrets (hex or base64 runs).
        (r"\b[A-Za-z0-9+/_\-]{40,}={0,2}", "[secret]"),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("valid regex"), with))
    .collect()
});

/// Removes personal data from one log line.
pub fn redact(line: &str) -> Cow<'_, str> {
    let mut out = PERSONAL_FIELD.replace_all(line, |c: &Captures<'_>| {
        format!("\"{}\":\"[redacted]\"", &c[1])
    });
    for (re, with) in PATTERNS.iter() {
        if let Cow::Owned(s) = re.replace_all(&out, *with) {
            out = Cow::Owned(s);
        }
    }
    out
}

/// A writer factory that redacts each formatted event before passing it on.
#[derive(Clone)]
pub struct Redacting<M>(pub M);

pub struct RedactingWriter<W>(W);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    /// The formatter hands over one whole event per call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The subscriber every binary installs: JSON lines, redacted, filtered by `RUST_LOG`
/// (default `info`).
pub fn subscriber<M>(writer: M, default_filter: &str) -> impl tracing::Subscriber + Send + Sync
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .with_writer(Redacting(writer))
        .finish()
}

/// Installs the subscriber for the process; a second call is a no-op.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(io::stdout, "info"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_and_shapes_are_removed() {
        let line = r#"{"fields":{"message":"mail ana@example.com at +44 20 7946 0958 or 4915123456789","email":"x","business_name":"Ana's \"Bakery\"","access_token":"EAAGabc","route":"/v1/numbers","auth":"Bearer wat_abc","count":3}}"#;
        let out = redact(line);
        for leak in [
            "ana@example.com",
            "7946",
            "4915123456789",
            "Bakery",
            "EAAGabc",
            "wat_abc",
        ] {
            assert!(!out.contains(leak), "{leak} leaked: {out}");
        }
        assert!(out.contains(r#""route":"/v1/numbers""#), "{out}");
        assert!(out.contains(r#""count":3"#), "{out}");
    }

    #[test]
    fn ids_and_timestamps_survive() {
        let line = r#"{"timestamp":"2026-11-25T18:56:35.123456Z","account_id":"acc_01JDQ9ZK7M8X3C2V1B0N9M8K7J","status":404}"#;
        assert_eq!(redact(line), line);
    }
}
