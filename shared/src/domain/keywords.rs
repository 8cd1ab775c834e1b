use std::collections::BTreeSet;

use super::Invalid;

/// Words that, sent alone as a message, stop or resume a contact's marketing messages: 1 to 50
/// of them, each 1 to 40 characters. Compared without case, surrounding spaces or punctuation,
/// so `Stop!` and ` stop ` both match `STOP`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keywords(BTreeSet<String>);

/// Opt-out words in the languages most of our users' contacts write in.
const DEFAULT_STOP: [&str; 24] = [
    "STOP",
    "STOP ALL",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPT OUT",
    "OPTOUT",
    // Spanish, Portuguese
    "PARAR",
    "PARE",
    "BAJA",
    "DETENER",
    "CANCELAR",
    "SAIR",
    // French, German, Italian, Dutch
    "ARRÊT",
    "ARRET",
    "DÉSABONNER",
    "STOPP",
    "ABMELDEN",
    "BASTA",
    "ANNULLA",
    "AFMELDEN",
    // Arabic
    "توقف",
];

const DEFAULT_RESUME: [&str; 5] = ["START", "UNSTOP", "RESUME", "INICIAR", "REPRENDRE"];

impl Keywords {
    pub const MAX_COUNT: usize = 50;
    pub const MAX_CHARS: usize = 40;

    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Self, Invalid> {
        if words.is_empty() || words.len() > Self::MAX_COUNT {
            return Err(Invalid::new(format!(
                "give 1 to {} keywords",
                Self::MAX_COUNT
            )));
        }
        let mut set = BTreeSet::new();
        for w in words {
            let n = normalize(w.as_ref());
            if n.is_empty() || n.chars().count() > Self::MAX_CHARS {
                return Err(Invalid::new(format!(
                    "a keyword has 1 to {} letters",
                    Self::MAX_CHARS
                )));
            }
            set.insert(n);
        }
        Ok(Self(set))
    }

    pub fn default_stop() -> Self {
        Self(DEFAULT_STOP.iter().map(|w| normalize(w)).collect())
    }

    pub fn default_resume() -> Self {
        Self(DEFAULT_RESUME.iter().map(|w| normalize(w)).collect())
    }

    /// Whether `text`, as a whole, is one of the keywords.
    pub fn matches(&self, text: &str) -> bool {
        // Longer texts are sentences, not keywords.
        text.len() <= Self::MAX_CHARS * 4 && self.0.contains(&normalize(text))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

fn normalize(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || c == '¡' || c == '¿')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_messages_only() {
        let stop = Keywords::default_stop();
        for yes in [
            "stop",
            " Stop! ",
            "STOP",
            "opt   out",
            "arrêt",
            "Baja.",
            "توقف",
        ] {
            assert!(stop.matches(yes), "{yes}");
        }
        for no in ["please stop sending", "stopping", "", "!!!"] {
            assert!(!stop.matches(no), "{no}");
        }
        let custom = Keywords::parse(&["Halt", "nein danke"]).unwrap();
        assert!(custom.matches("NEIN DANKE"));
        assert!(!custom.matches("stop"));
        assert!(Keywords::parse::<&str>(&[]).is_err());
        assert!(Keywords::parse(&["  "]).is_err());
        assert!(Keywords::parse(&["x".repeat(41)]).is_err());
    }
}
