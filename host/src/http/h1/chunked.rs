//! Decoding a `Transfer-Encoding: chunked` body incrementally, in place:
//! the decoder hands out slices of the input and never copies.

/// A chunked body that does not follow RFC 9112's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub(super) struct Malformed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size,
    /// After the size: an extension (ignored) up to the line end.
    Extension,
    /// A `\r` ended the size line; `\n` must follow.
    SizeLf,
    /// Inside a chunk's data.
    Data,
    /// After a chunk's data: its `\r\n` (or a bare `\n`).
    DataEnd,
    /// After the data's `\r`: its `\n`.
    DataEndLf,
    /// After the last chunk: trailer lines up to an empty line.
    Trailer { at_line_start: bool },
    /// The body ended.
    Done,
}

/// Incremental chunked decoder: feed it the body's bytes in order.
#[derive(Debug, Clone)]
pub(super) struct Chunked {
    state: State,
    /// The chunk size being read, then the data left in the chunk.
    size: u64,
    /// A digit of the size was read.
    sized: bool,
}

impl Chunked {
    pub(super) fn new() -> Chunked {
        Chunked {
            state: State::Size,
            size: 0,
            sized: false,
        }
    }

    /// Decodes `input`, passing each run of chunk data to `data`. Returns the
    /// bytes consumed and whether the body ended; everything is consumed
    /// unless the body ended within `input`.
    pub(super) fn decode(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<(usize, bool), Malformed> {
        let mut at = 0;
        while at < input.len() {
            let byte = input[at];
            match self.state {
                State::Size => {
                    match (byte as char).to_digit(16) {
                        Some(_) if self.size > u64::MAX >> 4 => return Err(Malformed),
                        Some(digit) => {
                            self.size = self.size << 4 | u64::from(digit);
                            self.sized = true;
                        }
                        None if !self.sized => return Err(Malformed),
                        None => match byte {
                            b'\r' => self.state = State::SizeLf,
                            b'\n' => self.end_size_line(),
                            b';' | b' ' | b'\t' => self.state = State::Extension,
                            _ => return Err(Malformed),
                        },
                    }
                    at += 1;
                }
                State::Extension => match memchr::memchr(b'\n', &input[at..]) {
                    Some(end) => {
                        at += end + 1;
                        self.end_size_line();
                    }
                    None => at = input.len(),
                },
                State::SizeLf => {
                    if byte != b'\n' {
                        return Err(Malformed);
                    }
                    at += 1;
                    self.end_size_line();
                }
                State::Data => {
                    let left = input.len() - at;
                    let take = usize::try_from(self.size).map_or(left, |size| size.min(left));
                    data(&input[at..at + take]);
                    at += take;
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd | State::DataEndLf => {
                    self.state = match (self.state, byte) {
                        (State::DataEnd, b'\r') => State::DataEndLf,
                        (_, b'\n') => State::Size,
                        _ => return Err(Malformed),
                    };
                    at += 1;
                }
                State::Trailer { at_line_start } => {
                    at += 1;
                    match byte {
                        b'\n' if at_line_start => {
                            self.state = State::Done;
                            return Ok((at, true));
                        }
                        b'\n' => {
                            self.state = State::Trailer {
                                at_line_start: true,
                            }
                        }
                        b'\r' => {}
                        _ => {
                            self.state = State::Trailer {
                                at_line_start: false,
                            }
                        }
                    }
                }
                State::Done => return Ok((at, true)),
            }
        }
        Ok((at, self.state == State::Done))
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            State::Trailer {
                at_line_start: true,
            }
        } else {
            State::Data
        };
        self.sized = false;
    }
}

#[cfg(test)]
mod tests {
    use super::{Chunked, Malformed};

    /// Decodes `body` cut at `cuts`; returns the data and the bytes left after the end.
    fn decode_split(body: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, usize), Malformed> {
        let mut decoder = Chunked::new();
        let mut data = Vec::new();
        let mut bounds = cuts.to_vec();
        bounds.push(body.len());
        let mut start = 0;
        for end in bounds {
            let (used, done) = decoder.decode(&body[start..end], |d| data.extend_from_slice(d))?;
            if done {
                return Ok((data, body.len() - start - used));
            }
            assert_eq!(used, end - start, "consumed everything before the end");
            start = end;
        }
        Err(Malformed)
    }

    #[test]
    fn decodes_at_every_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for a in 0..=body.len() {
            for b in a..=body.len() {
                let (data, left) = decode_split(body, &[a, b]).unwrap();
                assert_eq!(data, b"hello, world", "cuts {a},{b}");
                assert_eq!(left, 4, "cuts {a},{b}");
            }
        }
    }

    #[test]
    fn bare_line_feeds_upper_case_hex_and_leading_zeros() {
        let (data, left) = decode_split(b"00000000000000000A\n0123456789\n0\n\n", &[]).unwrap();
        assert_eq!(data, b"0123456789");
        assert_eq!(left, 0);
    }

    #[test]
    fn malformed_bodies() {
        for body in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"3\rX",
            b"1ffffffffffffffff\r\n",
        ] {
            assert_eq!(decode_split(body, &[]), Err(Malformed), "{body:?}");
        }
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        let mut decoder = Chunked::new();
        assert_eq!(decoder.decode(b"5\r\nhel", |_| {}), Ok((6, false)));
        assert_eq!(decoder.decode(b"lo\r\n0\r\n", |_| {}), Ok((7, false)));
        assert_eq!(decoder.decode(b"\r\n", |_| {}), Ok((2, true)));
    }
}
