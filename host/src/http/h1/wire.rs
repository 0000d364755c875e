//! The HTTP/1.1 wire format: a request written as one buffer (from an
//! [`OutgoingRequest`], or piece by piece by a request template), a response
//! head parsed with `httparse` into what the body reader needs.

use http::Method;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};

use crate::http::OutgoingRequest;

/// Most response header fields accepted in one head.
const MAX_HEADERS: usize = 100;

/// How a response body is delimited (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body: a response to `HEAD`, a 1xx, 204 or 304.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// What a response head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) status: u16,
    pub(super) framing: Framing,
    /// The connection may carry another request after this response.
    pub(super) keep_alive: bool,
    /// Bytes of the head, its final blank line included.
    pub(super) len: usize,
}

impl Head {
    /// An interim response (`100 Continue`, `103 Early Hints`, ...) that a
    /// final response follows on the same connection.
    pub(super) fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// A response head that is not HTTP/1.x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed response head")]
pub(super) struct MalformedHead;

/// Parses the response head at the start of `buf`; `None` while incomplete.
/// `head_request`: the request was `HEAD`, so the response has no body.
pub(super) fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, MalformedHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(MalformedHead),
    };
    let status = response.code.ok_or(MalformedHead)?;
    let http11 = response.version == Some(1);
    let mut keep_alive = http11;
    let mut close = false;
    let mut length = None;
    let mut chunked = false;
    let mut transfer_coded = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str()) {
            let value = parse_length(header.value).ok_or(MalformedHead)?;
            if length.is_some_and(|known| known != value) {
                return Err(MalformedHead);
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case(TRANSFER_ENCODING.as_str()) {
            transfer_coded = true;
            // Chunked must be the last coding applied.
            chunked = tokens(header.value)
                .last()
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(header.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let no_body = head_request || status < 200 || status == 204 || status == 304;
    let framing = if no_body {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if transfer_coded {
        Framing::UntilClose
    } else {
        length.map_or(Framing::UntilClose, Framing::Length)
    };
    // A close anywhere wins; a body framed both ways, or chunked in
    // HTTP/1.0, may leave the connection out of step (RFC 9112, 6.1).
    let ambiguous = transfer_coded && (length.is_some() || !http11);
    if close || ambiguous || framing == Framing::UntilClose || status == 101 {
        keep_alive = false;
    }
    Ok(Some(Head {
        status,
        framing,
        keep_alive,
        len,
    }))
}

fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Writes `request` as an HTTP/1.1 message into `out` (cleared first):
/// request line, `Host` from the URI unless given, the headers, a
/// `Content-Length` when the body or method calls for one, and the body.
pub(crate) fn encode(request: &OutgoingRequest, out: &mut Vec<u8>) {
    out.clear();
    let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
    request_line(out, &request.method, target.as_bytes());
    let headers = &request.headers;
    if !headers.contains_key(HOST)
        && let Some(authority) = request.uri.authority()
    {
        header(out, b"host", host_value(authority).as_bytes());
    }
    for (name, value) in headers.iter().filter(|(name, _)| !frames_body(name)) {
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    end(out, &request.method, &request.body);
}

/// `Content-Length` and `Transfer-Encoding`: the body is always sent whole
/// with the length computed here, so such headers given with a request are
/// left out (a wrong one would put the connection out of step).
pub(crate) fn frames_body(name: &http::HeaderName) -> bool {
    name == CONTENT_LENGTH || name == TRANSFER_ENCODING
}

/// The `Host` value of an authority: host and port, without user info.
pub(crate) fn host_value(authority: &http::uri::Authority) -> &str {
    let text = authority.as_str();
    text.rsplit_once('@').map_or(text, |(_, host)| host)
}

/// Writes a request line; an empty target is `/`.
pub(crate) fn request_line(out: &mut Vec<u8>, method: &Method, target: &[u8]) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(if target.is_empty() { b"/" } else { target });
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Writes one header line.
pub(crate) fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Ends the head and writes the body, with a `Content-Length` first when
/// the body or the method calls for one.
pub(crate) fn end(out: &mut Vec<u8>, method: &Method, body: &[u8]) {
    let sends_body =
        !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if sends_body {
        let mut digits = [0; 20];
        header(out, b"content-length", decimal(&mut digits, body.len()));
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Whether `value` may be sent as a header value: no control characters
/// but horizontal tab (the rule of [`http::HeaderValue`]).
pub(crate) fn is_header_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(buf: &mut [u8; 20], mut n: usize) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn head(text: &str) -> Result<Option<Head>, MalformedHead> {
        parse_head(text.as_bytes(), false)
    }

    #[test]
    fn content_length_and_keep_alive() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let parsed = head(text).unwrap().unwrap();
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.framing, Framing::Length(2));
        assert!(parsed.keep_alive);
        assert_eq!(&text[parsed.len..], "ok");
    }

    #[test]
    fn incomplete_head_is_none() {
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Len"), Ok(None));
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let text =
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n";
        assert_eq!(head(text).unwrap().unwrap().framing, Framing::Chunked);
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        let parsed = head(text).unwrap().unwrap();
        assert_eq!(parsed.framing, Framing::UntilClose);
        assert!(!parsed.keep_alive);
    }

    #[test]
    fn no_length_reads_until_close() {
        let parsed = head("HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(parsed.framing, Framing::UntilClose);
        assert!(!parsed.keep_alive);
    }

    #[test]
    fn bodiless_responses() {
        for text in [
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\n",
        ] {
            let parsed = head(text).unwrap().unwrap();
            assert_eq!(parsed.framing, Framing::Empty, "{text}");
            assert!(parsed.keep_alive, "{text}");
        }
        let parsed = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(parsed.framing, Framing::Empty);
        assert!(
            head("HTTP/1.1 100 Continue\r\n\r\n")
                .unwrap()
                .unwrap()
                .is_interim()
        );
        assert!(
            !head("HTTP/1.1 101 Switching\r\n\r\n")
                .unwrap()
                .unwrap()
                .is_interim()
        );
    }

    #[test]
    fn close_wins_and_ambiguous_framing_is_not_reused() {
        for text in [
            "HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(!head(text).unwrap().unwrap().keep_alive, "{text}");
        }
    }

    #[test]
    fn connection_tokens_and_http10() {
        let close = head("HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n");
        assert!(!close.unwrap().unwrap().keep_alive);
        let old = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!old.unwrap().unwrap().keep_alive);
        let kept = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
        assert!(kept.unwrap().unwrap().keep_alive);
    }

    #[test]
    fn malformed_heads() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert_eq!(head(text), Err(MalformedHead), "{text}");
        }
    }

    fn encoded(request: &OutgoingRequest) -> String {
        let mut out = vec![b'#'; 8];
        encode(request, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_get_with_host_from_the_uri() {
        let mut request = OutgoingRequest {
            method: Method::GET,
            uri: "http://127.0.0.1:8080/a/b?c=d".parse().unwrap(),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        };
        request.headers.insert("x-one", "1".parse().unwrap());
        assert_eq!(
            encoded(&request),
            "GET /a/b?c=d HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-one: 1\r\n\r\n"
        );
        request.uri = "http://example.test".parse().unwrap();
        request.headers.insert(HOST, "other".parse().unwrap());
        assert_eq!(
            encoded(&request),
            "GET / HTTP/1.1\r\nx-one: 1\r\nhost: other\r\n\r\n"
        );
    }

    #[test]
    fn encodes_bodies_with_their_length() {
        let mut request = OutgoingRequest {
            method: Method::POST,
            uri: "http://h/hook".parse().unwrap(),
            headers: http::HeaderMap::new(),
            body: Bytes::from_static(b"{\"a\":1}"),
        };
        assert_eq!(
            encoded(&request),
            "POST /hook HTTP/1.1\r\nhost: h\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
        );
        request.body = Bytes::new();
        assert!(encoded(&request).ends_with("content-length: 0\r\n\r\n"));
        // A framing header given with the request cannot contradict the body.
        request.headers.insert(CONTENT_LENGTH, "9".parse().unwrap());
        request
            .headers
            .insert(TRANSFER_ENCODING, "chunked".parse().unwrap());
        let text = encoded(&request);
        assert_eq!(text.matches("content-length").count(), 1, "{text}");
        assert!(text.ends_with("content-length: 0\r\n\r\n"), "{text}");
        assert!(!text.contains("chunked"), "{text}");
        request.uri = "http://user:pw@h:81/hook".parse().unwrap();
        assert!(encoded(&request).contains("host: h:81\r\n"));
    }
}
