//! Counting server-sent events in a response body without buffering it.
//!
//! An event is a block of lines ended by a blank line. Lines end with `\n`,
//! `\r\n` or a lone `\r` (as the SSE specification allows). A block whose
//! lines are all comments (start with `:`) is a keep-alive, not an event. A
//! block still open when the stream ends is incomplete and is not counted.
//! The counter carries its state across body frames, so a terminator split
//! between two frames (`...\r` | `\n\r\n`) is handled; it never copies bytes.

/// Incremental SSE event counter: feed it every body frame in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventCounter {
    /// Inside a line: at least one byte of the current line was seen.
    mid_line: bool,
    /// The previous byte was a `\r`: a `\n` right after it belongs to the same terminator.
    after_cr: bool,
    /// The current block has at least one non-comment line.
    block_has_field: bool,
    /// Complete events seen so far.
    events: u32,
}

impl EventCounter {
    /// A counter at the start of a stream.
    pub(crate) fn new() -> EventCounter {
        EventCounter::default()
    }

    /// Complete events seen so far.
    pub(crate) fn events(&self) -> u32 {
        self.events
    }

    /// Scans one body frame; returns how many events it completed.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> u32 {
        let before = self.events;
        while let Some((&b, rest)) = bytes.split_first() {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    bytes = rest;
                    continue;
                }
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    self.end_line();
                    bytes = rest;
                }
                _ if self.mid_line => {
                    // Skip the rest of the line in one search.
                    match rest.iter().position(|&c| c == b'\n' || c == b'\r') {
                        Some(at) => bytes = &rest[at..],
                        None => bytes = &[],
                    }
                }
                _ => {
                    self.mid_line = true;
                    if b != b':' {
                        self.block_has_field = true;
                    }
                    bytes = rest;
                }
            }
        }
        self.events - before
    }

    fn end_line(&mut self) {
        if self.mid_line {
            self.mid_line = false;
        } else if self.block_has_field {
            // A blank line ends the block.
            self.block_has_field = false;
            self.events = self.events.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventCounter;

    fn count_split(stream: &[u8], cuts: &[usize]) -> u32 {
        let mut counter = EventCounter::new();
        let mut start = 0;
        for &cut in cuts {
            counter.feed(&stream[start..cut]);
            start = cut;
        }
        counter.feed(&stream[start..]);
        counter.events()
    }

    /// Every way of cutting `stream` into two and three frames gives `expected`.
    fn assert_all_splits(stream: &[u8], expected: u32) {
        assert_eq!(count_split(stream, &[]), expected, "whole");
        for a in 0..=stream.len() {
            assert_eq!(count_split(stream, &[a]), expected, "cut at {a}");
            for b in a..=stream.len() {
                assert_eq!(count_split(stream, &[a, b]), expected, "cuts at {a},{b}");
            }
        }
        // One byte per frame.
        let mut counter = EventCounter::new();
        for byte in stream.chunks(1) {
            counter.feed(byte);
        }
        assert_eq!(counter.events(), expected, "byte by byte");
    }

    #[test]
    fn lf_events() {
        assert_all_splits(b"data: a\n\ndata: b\ndata: c\n\n", 2);
    }

    #[test]
    fn crlf_events_split_anywhere() {
        assert_all_splits(b"event: token\r\ndata: x\r\n\r\ndata: y\r\n\r\n", 2);
    }

    #[test]
    fn lone_cr_is_a_line_end() {
        assert_all_splits(b"data: a\r\rdata: b\r\r", 2);
    }

    #[test]
    fn cr_then_lf_is_one_terminator_not_a_blank_line() {
        // `\r\n` once is a single line end: no event yet.
        assert_all_splits(b"data: a\r\ndata: b\r\n", 0);
    }

    #[test]
    fn comment_only_blocks_do_not_count() {
        assert_all_splits(b": keep-alive\n\n:\r\n\r\ndata: real\n: note\n\n", 1);
    }

    #[test]
    fn extra_blank_lines_and_unterminated_tail() {
        assert_all_splits(b"\n\n\r\ndata: a\n\n\n\ndata: partial", 1);
    }

    #[test]
    fn feed_reports_events_completed_by_that_frame() {
        let mut counter = EventCounter::new();
        assert_eq!(counter.feed(b"data: a\n"), 0);
        // Completes `a` (whose blank line starts this frame), `b` and `c`.
        assert_eq!(counter.feed(b"\ndata: b\n\ndata: c\n\n"), 3);
        assert_eq!(counter.events(), 3);
    }
}
