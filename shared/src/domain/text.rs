use super::Invalid;

/// Trims `input` and checks it is 1..=max characters with no control characters.
pub(crate) fn bounded_text(input: &str, what: &str, max: usize) -> Result<String, Invalid> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Invalid::new(format!("{what} must not be empty")));
    }
    if s.chars().count() > max {
        return Err(Invalid::new(format!(
            "{what} must be at most {max} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}
