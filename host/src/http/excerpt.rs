//! Text a peer sent, made fit for a message: one line, bounded.

/// `text` on one line (control characters as spaces), cut to `max_chars`
/// characters with `…` when longer.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    if text.chars().nth(max_chars).is_some() {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// A body's start, for messages: at most 120 characters, one line.
pub fn body_excerpt(body: &[u8]) -> String {
    excerpt(&String::from_utf8_lossy(body), 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_single_lines() {
        assert_eq!(excerpt("a\nb", 10), "a b");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("abcd", 3), "abc…");
    }

    #[test]
    fn excerpts_are_short_single_lines() {
        assert_eq!(body_excerpt(b"<html>\nhi</html>"), "<html> hi</html>");
        assert_eq!(body_excerpt(&[b'a'; 200]).chars().count(), 121);
    }
}
