//! Text that comes from a plugin, made safe to show: known secrets masked,
//! control characters escaped (a plugin cannot start a new line, move the
//! cursor or colour the terminal to forge relhost's output), and the length
//! bounded (a plugin cannot bloat a report).

use std::fmt::Write as _;

/// Longest plugin message kept (a log line, a warning, an error), in characters.
pub const MAX_TEXT: usize = 1024;
/// Longest plugin-given name kept (a check, a header), in characters.
pub const MAX_LABEL: usize = 256;
/// Most entries kept of a plugin's list (warnings, checks).
pub const MAX_ITEMS: usize = 32;

/// Longest name a plugin may give itself.
pub const MAX_NAME: usize = 64;

/// Checks a name a plugin gives itself: `snake_case`, at most [`MAX_NAME`] bytes.
pub fn check_name(name: &str) -> Result<(), String> {
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if snake && name.len() <= MAX_NAME {
        Ok(())
    } else {
        Err(format!(
            "name {:?} must be snake_case (a-z, 0-9, _), starting with a letter, at most {MAX_NAME} bytes",
            clean(name, MAX_NAME)
        ))
    }
}

/// Checks a version a plugin gives itself: a semantic version, at most [`MAX_NAME`] bytes.
pub fn check_version(version: &str) -> Result<(), String> {
    let parsed = (version.len() <= MAX_NAME)
        .then(|| semver::Version::parse(version))
        .and_then(Result::ok);
    match parsed {
        Some(_) => Ok(()),
        None => Err(format!(
            "version {:?} is not a semantic version of at most {MAX_NAME} bytes",
            clean(version, MAX_NAME)
        )),
    }
}

/// `text` masked, escaped and cut to `max` characters.
pub fn clean(text: &str, max: usize) -> String {
    let masked = crate::redact::text(text);
    let mut out = String::with_capacity(masked.len().min(max + 32));
    for (kept, (at, c)) in masked.char_indices().enumerate() {
        if kept == max {
            let _ = write!(out, "… ({} more bytes)", masked.len() - at);
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The first [`MAX_ITEMS`] of a plugin's list of messages, each cleaned,
/// and a last line saying how many were left out.
pub fn clean_all(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .take(MAX_ITEMS)
        .map(|item| clean(item, MAX_TEXT))
        .collect();
    if items.len() > MAX_ITEMS {
        out.push(format!("… and {} more", items.len() - MAX_ITEMS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_bounded() {
        assert_eq!(
            clean("done\n\u{1b}[32mResult: PASS\r", 100),
            "done\\n\\u{1b}[32mResult: PASS\\r"
        );
        assert_eq!(clean("ééééé", 3), "ééé… (4 more bytes)");
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let kept = clean_all(&many);
        assert_eq!(kept.len(), MAX_ITEMS + 1);
        assert_eq!(kept[MAX_ITEMS], "… and 8 more");
    }

    #[test]
    fn names_and_versions_are_checked() {
        assert!(check_name("whatsapp_webhook").is_ok());
        assert!(check_name("Whatsapp").is_err());
        let long = check_name(&"n".repeat(1 << 20)).unwrap_err();
        assert!(long.len() < 300, "{long}");
        assert!(check_version("1.2.3").is_ok());
        assert!(check_version("1.2").is_err());
    }
}
