//! Request templates: compiled once per stage, filled natively per request.
//!
//! A plugin's template carries `{{placeholders}}` (see `wit/relhost.wit`).
//! Compiling splits every templated string into literal pieces and
//! variables; filling writes them into reusable buffers, so a request whose
//! template has no placeholder costs no allocation beyond hyper's own.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use sha2::Sha256;

use crate::http::{OutgoingRequest, wire};
use crate::plugin::{self, Secrets, untrusted};
use crate::rng::SplitMix64;

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{name}}` the host does not know.
    #[error(
        "unknown placeholder {{{{{}}}}}; valid: iteration, worker, uuid, random, now_ms, now_s, credential.token, credential.thread, secret.NAME",
        shown(.0)
    )]
    UnknownPlaceholder(String),
    /// A `{{secret.NAME}}` or signing secret the plugin did not declare.
    #[error("secret {:?} is used but not declared by the plugin", shown(.0))]
    UndeclaredSecret(String),
    /// A header name or value that HTTP does not allow.
    #[error("invalid header {:?}", shown(.0))]
    InvalidHeader(String),
    /// The path, query or base URL do not form a valid URI.
    #[error("invalid request target {:?}", shown(.0))]
    InvalidUri(String),
    /// A `{{` without its `}}`.
    #[error("unclosed placeholder in {:?}", shown(.0))]
    Unclosed(String),
    /// More headers than a request may carry.
    #[error("{0} headers; a request carries at most {MAX_HEADERS}")]
    TooManyHeaders(usize),
    /// Header names and values longer in all than a request may carry.
    #[error("{0} bytes of headers; a request carries at most {MAX_HEADER_BYTES}")]
    HeadersTooLarge(usize),
    /// A body larger than the run allows (`--max-request-body`).
    #[error("a body of {size} bytes; the run allows at most {max} (--max-request-body)")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The run's cap.
        max: usize,
    },
    /// A payload builder's header that the scenario sets already (or the
    /// scenario's signature): a builder adds headers, it does not replace
    /// the scenario's.
    #[error("payload header {:?} is set by the scenario already", shown(.0))]
    PayloadHeaderTaken(String),
    /// A `Host` header: the host names the target from the base URL.
    #[error(
        "a Host header: requests go to the run's base URL and name its host (an operator can allow one with relhost load -H \"Host: ...\")"
    )]
    HostHeader,
}

/// A plugin's text in a message: secrets masked, escaped, bounded.
fn shown(text: &str) -> String {
    untrusted::clean(text, untrusted::MAX_LABEL)
}

/// Most headers one request may carry (servers commonly accept 100).
pub const MAX_HEADERS: usize = 256;
/// Most bytes of header names and values one request may carry.
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// What a request may be, whatever its plugin asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// The largest body, in bytes (`--max-request-body`).
    pub max_body_bytes: usize,
    /// Whether a request may name its own `Host`: only when the operator
    /// gave one (`relhost load -H "Host: ..."`), never on a plugin's say.
    pub allow_host_header: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_body_bytes: 4 << 20,
            allow_host_header: false,
        }
    }
}

/// A value the host fills per request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Iteration,
    Worker,
    Uuid,
    Random,
    NowMs,
    NowS,
    CredentialToken,
    CredentialThread,
    /// Index into [`RequestTemplate::secrets`].
    Secret(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Bytes),
    Var(Var),
}

/// A templated byte string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pieces(Vec<Piece>);

impl Pieces {
    /// The whole string when it has no placeholder.
    fn constant(&self) -> Option<&Bytes> {
        match self.0.as_slice() {
            [Piece::Literal(bytes)] => Some(bytes),
            [] => None,
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a request is filled from.
#[derive(Debug, Clone, Copy)]
pub struct FillContext<'a> {
    /// Sequence number of the request within its scenario.
    pub iteration: u64,
    /// The worker sending it.
    pub worker: u32,
    /// The credential's bearer token and thread, when the scenario uses one.
    pub credential: Option<(&'a str, &'a str)>,
    /// A payload builder's payload for this request: its body replaces the
    /// template's, its headers and query pairs are added.
    pub payload: Option<&'a PayloadTemplate>,
}

/// A payload builder's payload, compiled: placeholders as in templates,
/// but no secrets (a builder declares none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadTemplate {
    body: Pieces,
    headers: Vec<(HeaderName, Pieces)>,
    query: Vec<(String, Pieces)>,
}

impl PayloadTemplate {
    /// Compiles `payload` within `limits`.
    pub fn compile(
        payload: &plugin::Payload,
        limits: RequestLimits,
    ) -> Result<Self, TemplateError> {
        let request = plugin::Request {
            method: plugin::Method::Post,
            path: String::new(),
            query: payload.query.clone(),
            headers: payload.headers.clone(),
            body: payload.body.clone(),
        };
        check_size(&request, limits)?;
        let mut no_secrets = Vec::new();
        let secrets = Secrets::default();
        let mut parse = |text: &[u8]| parse_pieces(text, &[], &secrets, &mut no_secrets);
        let mut headers = Vec::with_capacity(payload.headers.len());
        for header in &payload.headers {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| TemplateError::InvalidHeader(header.name.clone()))?;
            if name == HOST {
                return Err(TemplateError::HostHeader);
            }
            if wire::frames_body(&name) {
                continue;
            }
            headers.push((name, parse(header.value.as_bytes())?));
        }
        let query = payload
            .query
            .iter()
            .map(|(k, v)| Ok((k.clone(), parse(v.as_bytes())?)))
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let body = if payload.literal {
            Pieces(
                (!payload.body.is_empty())
                    .then(|| Piece::Literal(Bytes::copy_from_slice(&payload.body)))
                    .into_iter()
                    .collect(),
            )
        } else {
            parse(&payload.body)?
        };
        Ok(PayloadTemplate {
            body,
            headers,
            query,
        })
    }
}

/// A compiled template, ready to fill.
pub struct RequestTemplate {
    method: Method,
    /// `scheme://authority` plus the base path, without a trailing slash.
    base: String,
    path: Pieces,
    query: Vec<(String, Pieces)>,
    /// The whole URI when neither path nor query has a placeholder.
    fixed_uri: Option<Uri>,
    fixed_headers: HeaderMap,
    templated_headers: Vec<(HeaderName, Pieces)>,
    body: Pieces,
    signing: Option<(HeaderName, String, Hmac<Sha256>)>,
    filler: Filler,
    max_body_bytes: usize,
    /// Rendered values are split off this buffer.
    scratch: BytesMut,
    /// A rendered body, for [`RequestTemplate::fill_wire`].
    body_buf: Vec<u8>,
    text: String,
    wire: WireParts,
}

/// The per-request state of filling: secret values, random sequence.
struct Filler {
    secrets: Vec<String>,
    random: SplitMix64,
}

/// What [`RequestTemplate::fill_wire`] writes the same way every time.
#[derive(Default)]
struct WireParts {
    /// The request target (path and query) when the URI is fixed.
    target: Option<Bytes>,
    /// The `Host` line (unless a header sets it) and every constant header.
    fixed_lines: Vec<u8>,
}

impl RequestTemplate {
    /// Compiles a plugin's template for requests against `base_url`.
    /// Only secrets in `declared` may be used; their values come from `secrets`.
    pub fn compile(
        template: &plugin::Template,
        base_url: &Uri,
        declared: &[String],
        secrets: &Secrets,
        seed: u64,
        limits: RequestLimits,
    ) -> Result<Self, TemplateError> {
        let mut secret_values = Vec::new();
        let mut parse = |text: &[u8]| parse_pieces(text, declared, secrets, &mut secret_values);
        let request = &template.request;
        check_size(request, limits)?;
        if !request.path.is_empty() && !request.path.starts_with('/') {
            return Err(TemplateError::InvalidUri(request.path.clone()));
        }
        let path = parse(request.path.as_bytes())?;
        let query = request
            .query
            .iter()
            .map(|(k, v)| Ok((k.clone(), parse(v.as_bytes())?)))
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let signing = match &template.signing {
            None => None,
            Some(signing) => {
                if !declared.contains(&signing.secret) {
                    return Err(TemplateError::UndeclaredSecret(signing.secret.clone()));
                }
                let name = HeaderName::from_bytes(signing.header.as_bytes())
                    .ok()
                    .filter(|_| wire::is_header_value(signing.prefix.as_bytes()))
                    .ok_or_else(|| TemplateError::InvalidHeader(signing.header.clone()))?;
                let key = secrets.get(&signing.secret).unwrap_or_default();
                let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
                    .expect("HMAC takes keys of any length");
                Some((name, signing.prefix.clone(), mac))
            }
        };
        let signature = signing.as_ref().map(|(name, ..)| name);
        let mut fixed_headers = HeaderMap::new();
        let mut templated_headers = Vec::new();
        for header in &request.headers {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| TemplateError::InvalidHeader(header.name.clone()))?;
            if name == HOST && !limits.allow_host_header {
                return Err(TemplateError::HostHeader);
            }
            // The host always sends the body whole, with its length; the
            // signature replaces any header of its name.
            if wire::frames_body(&name) || Some(&name) == signature {
                continue;
            }
            let value = parse(header.value.as_bytes())?;
            match value.constant() {
                Some(bytes) => {
                    let value = HeaderValue::from_maybe_shared(bytes.clone())
                        .map_err(|_| TemplateError::InvalidHeader(header.name.clone()))?;
                    fixed_headers.append(name, value);
                }
                None if value.is_empty() => {
                    fixed_headers.append(name, HeaderValue::from_static(""));
                }
                None => templated_headers.push((name, value)),
            }
        }
        let body = parse(&request.body)?;
        let base = base_url.to_string().trim_end_matches('/').to_string();
        let mut compiled = RequestTemplate {
            method: method(request.method),
            base,
            path,
            query,
            fixed_uri: None,
            fixed_headers,
            templated_headers,
            body,
            signing,
            filler: Filler {
                secrets: secret_values,
                random: SplitMix64::new(seed),
            },
            max_body_bytes: limits.max_body_bytes,
            scratch: BytesMut::with_capacity(4096),
            body_buf: Vec::new(),
            text: String::with_capacity(256),
            wire: WireParts::default(),
        };
        let uri_is_fixed = compiled.path.constant().is_some() || compiled.path.is_empty();
        if uri_is_fixed
            && compiled
                .query
                .iter()
                .all(|(_, v)| v.constant().is_some() || v.is_empty())
        {
            let ctx = FillContext {
                iteration: 0,
                worker: 0,
                credential: None,
                payload: None,
            };
            compiled.fixed_uri = Some(compiled.build_uri(&ctx)?);
        } else {
            // Fail at compile time, not on the first request.
            let ctx = FillContext {
                iteration: 0,
                worker: 0,
                credential: Some(("token", "thread")),
                payload: None,
            };
            compiled.build_uri(&ctx)?;
        }
        compiled.wire = compiled.wire_parts(base_url);
        Ok(compiled)
    }

    fn wire_parts(&self, base_url: &Uri) -> WireParts {
        let signature = self.signing.as_ref().map(|(name, ..)| name);
        let has_host = self
            .fixed_headers
            .keys()
            .chain(self.templated_headers.iter().map(|(name, _)| name))
            .chain(signature)
            .any(|name| name == HOST);
        let mut fixed_lines = Vec::new();
        if !has_host && let Some(authority) = base_url.authority() {
            wire::header(
                &mut fixed_lines,
                b"host",
                wire::host_value(authority).as_bytes(),
            );
        }
        for (name, value) in &self.fixed_headers {
            wire::header(&mut fixed_lines, name.as_str().as_bytes(), value.as_bytes());
        }
        let target = self.fixed_uri.as_ref().map(|uri| {
            Bytes::copy_from_slice(uri.path_and_query().map_or(b"/", |p| p.as_str().as_bytes()))
        });
        WireParts {
            target,
            fixed_lines,
        }
    }

    /// Whether any piece needs a credential.
    pub fn uses_credential(&self) -> bool {
        let uses = |p: &Pieces| {
            p.0.iter().any(|piece| {
                matches!(
                    piece,
                    Piece::Var(Var::CredentialToken) | Piece::Var(Var::CredentialThread)
                )
            })
        };
        uses(&self.path)
            || self.query.iter().any(|(_, v)| uses(v))
            || self.templated_headers.iter().any(|(_, v)| uses(v))
            || uses(&self.body)
    }

    /// Builds one request.
    pub fn fill(&mut self, ctx: &FillContext<'_>) -> Result<OutgoingRequest, TemplateError> {
        self.check_payload(ctx)?;
        let extra_query = ctx.payload.is_some_and(|p| !p.query.is_empty());
        let uri = match &self.fixed_uri {
            Some(uri) if !extra_query => uri.clone(),
            _ => self.build_uri(ctx)?,
        };
        let mut headers = self.fixed_headers.clone();
        let extra_headers = ctx.payload.map_or(&[][..], |p| p.headers.as_slice());
        for (name, pieces) in self.templated_headers.iter().chain(extra_headers) {
            self.filler.render(pieces, ctx, &mut self.scratch);
            let value = HeaderValue::from_maybe_shared(self.scratch.split().freeze())
                .map_err(|_| TemplateError::InvalidHeader(name.to_string()))?;
            headers.append(name.clone(), value);
        }
        let body = match ctx.payload {
            Some(payload) => {
                self.filler.render(&payload.body, ctx, &mut self.scratch);
                self.scratch.split().freeze()
            }
            None => self.template_body(ctx),
        };
        self.check_body(body.len())?;
        if let Some((name, prefix, mac)) = &self.signing {
            sign(mac, prefix, &body, &mut self.scratch);
            let value = HeaderValue::from_maybe_shared(self.scratch.split().freeze())
                .map_err(|_| TemplateError::InvalidHeader(name.to_string()))?;
            headers.append(name.clone(), value);
        }
        Ok(OutgoingRequest {
            method: self.method.clone(),
            uri,
            headers,
            body,
        })
    }

    /// The template's own body, filled.
    fn template_body(&mut self, ctx: &FillContext<'_>) -> Bytes {
        match self.body.constant() {
            Some(bytes) => bytes.clone(),
            None if self.body.is_empty() => Bytes::new(),
            None => {
                self.filler.render(&self.body, ctx, &mut self.scratch);
                self.scratch.split().freeze()
            }
        }
    }

    /// Writes one request as an HTTP/1.1 message into `out` (cleared
    /// first), for [`Client::send_wire`](crate::http::Client::send_wire):
    /// the request [`RequestTemplate::fill`] builds, written directly.
    pub fn fill_wire(
        &mut self,
        ctx: &FillContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), TemplateError> {
        out.clear();
        self.check_payload(ctx)?;
        let extra_query = ctx.payload.is_some_and(|p| !p.query.is_empty());
        match &self.wire.target {
            Some(target) if !extra_query => wire::request_line(out, &self.method, target),
            _ => {
                let uri = self.build_uri(ctx)?;
                let target = uri.path_and_query().map_or("/", |p| p.as_str());
                wire::request_line(out, &self.method, target.as_bytes());
            }
        }
        out.extend_from_slice(&self.wire.fixed_lines);
        let extra_headers = ctx.payload.map_or(&[][..], |p| p.headers.as_slice());
        for (name, pieces) in self.templated_headers.iter().chain(extra_headers) {
            let line = out.len();
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            let value = out.len();
            self.filler.render(pieces, ctx, out);
            if !wire::is_header_value(&out[value..]) {
                out.truncate(line);
                return Err(TemplateError::InvalidHeader(name.to_string()));
            }
            out.extend_from_slice(b"\r\n");
        }
        let pieces = ctx.payload.map_or(&self.body, |p| &p.body);
        let body: &[u8] = match pieces.constant() {
            Some(bytes) => bytes,
            None if pieces.is_empty() => &[],
            None => {
                self.body_buf.clear();
                self.filler.render(pieces, ctx, &mut self.body_buf);
                if self.body_buf.len() > self.max_body_bytes {
                    out.clear();
                    return Err(TemplateError::BodyTooLarge {
                        size: self.body_buf.len(),
                        max: self.max_body_bytes,
                    });
                }
                &self.body_buf
            }
        };
        if let Some((name, prefix, mac)) = &self.signing {
            self.scratch.clear();
            sign(mac, prefix, body, &mut self.scratch);
            wire::header(out, name.as_str().as_bytes(), &self.scratch);
            self.scratch.clear();
        }
        wire::end(out, &self.method, body);
        Ok(())
    }

    /// A payload's headers only add to the request's: none may be one the
    /// scenario sets (its signature included), and all together stay
    /// within [`MAX_HEADERS`].
    fn check_payload(&self, ctx: &FillContext<'_>) -> Result<(), TemplateError> {
        let Some(payload) = ctx.payload else {
            return Ok(());
        };
        let count = self.fixed_headers.len() + self.templated_headers.len() + payload.headers.len();
        if count > MAX_HEADERS {
            return Err(TemplateError::TooManyHeaders(count));
        }
        let signature = self.signing.as_ref().map(|(name, ..)| name);
        for (name, _) in &payload.headers {
            let taken = self.fixed_headers.contains_key(name)
                || self.templated_headers.iter().any(|(n, _)| n == name)
                || Some(name) == signature;
            if taken {
                return Err(TemplateError::PayloadHeaderTaken(name.to_string()));
            }
        }
        Ok(())
    }

    /// A filled body larger than the run allows is refused.
    fn check_body(&self, size: usize) -> Result<(), TemplateError> {
        if size > self.max_body_bytes {
            return Err(TemplateError::BodyTooLarge {
                size,
                max: self.max_body_bytes,
            });
        }
        Ok(())
    }

    fn build_uri(&mut self, ctx: &FillContext<'_>) -> Result<Uri, TemplateError> {
        let target = &mut self.text;
        target.clear();
        target.push_str(&self.base);
        self.filler.render(&self.path, ctx, &mut self.scratch);
        target.push_str(&String::from_utf8_lossy(&self.scratch));
        self.scratch.clear();
        let extra = ctx.payload.map_or(&[][..], |p| p.query.as_slice());
        for (i, (key, value)) in self.query.iter().chain(extra).enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            percent_encode(key.as_bytes(), target);
            target.push('=');
            self.filler.render(value, ctx, &mut self.scratch);
            percent_encode(&self.scratch, target);
            self.scratch.clear();
        }
        Uri::try_from(target.as_str()).map_err(|_| TemplateError::InvalidUri(target.clone()))
    }
}

/// Refuses a request larger than a request may be, before anything of it
/// is compiled: too many headers, too many header bytes, too large a body
/// (its literal part; a filled body is checked again).
fn check_size(request: &plugin::Request, limits: RequestLimits) -> Result<(), TemplateError> {
    if request.headers.len() > MAX_HEADERS {
        return Err(TemplateError::TooManyHeaders(request.headers.len()));
    }
    let header_bytes: usize = request
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(TemplateError::HeadersTooLarge(header_bytes));
    }
    if request.body.len() > limits.max_body_bytes {
        return Err(TemplateError::BodyTooLarge {
            size: request.body.len(),
            max: limits.max_body_bytes,
        });
    }
    Ok(())
}

/// Writes the signature header's value: `prefix` and the hex HMAC of `body`.
fn sign(mac: &Hmac<Sha256>, prefix: &str, body: &[u8], out: &mut impl BufMut) {
    let mut mac = mac.clone();
    mac.update(body);
    out.put_slice(prefix.as_bytes());
    for byte in mac.finalize().into_bytes() {
        out.put_u8(HEX[usize::from(byte >> 4)]);
        out.put_u8(HEX[usize::from(byte & 0xf)]);
    }
}

impl Filler {
    /// Renders pieces at the end of `out`.
    fn render(&mut self, pieces: &Pieces, ctx: &FillContext<'_>, out: &mut impl BufMut) {
        for piece in &pieces.0 {
            match piece {
                Piece::Literal(bytes) => out.put_slice(bytes),
                Piece::Var(var) => self.put_var(var, ctx, out),
            }
        }
    }

    fn put_var(&mut self, var: &Var, ctx: &FillContext<'_>, out: &mut impl BufMut) {
        match var {
            Var::Iteration => put_decimal(out, ctx.iteration),
            Var::Worker => put_decimal(out, u64::from(ctx.worker)),
            Var::NowMs => put_decimal(out, unix_millis()),
            Var::NowS => put_decimal(out, unix_millis() / 1000),
            Var::Random => {
                let r = self.next_random();
                put_hex(out, r, 16);
            }
            Var::Uuid => {
                // Version 4, variant 1: 8-4-4-4-12 hex digits.
                let (a, b) = (self.next_random(), self.next_random());
                put_hex(out, a >> 32, 8);
                out.put_u8(b'-');
                put_hex(out, (a >> 16) & 0xffff, 4);
                out.put_slice(b"-4");
                put_hex(out, a & 0x0fff, 3);
                out.put_u8(b'-');
                put_hex(out, ((b >> 48) & 0x3fff) | 0x8000, 4);
                out.put_u8(b'-');
                put_hex(out, b & 0xffff_ffff_ffff, 12);
            }
            Var::CredentialToken => {
                if let Some((token, _)) = ctx.credential {
                    out.put_slice(token.as_bytes());
                }
            }
            Var::CredentialThread => {
                if let Some((_, thread)) = ctx.credential {
                    out.put_slice(thread.as_bytes());
                }
            }
            Var::Secret(i) => out.put_slice(self.secrets[*i].as_bytes()),
        }
    }

    fn next_random(&mut self) -> u64 {
        self.random.next_u64()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `n` in decimal.
fn put_decimal(out: &mut impl BufMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&buf[start..]);
}

/// Writes the low `digits` hex digits of `n`, zero-padded.
fn put_hex(out: &mut impl BufMut, n: u64, digits: u32) {
    for shift in (0..digits).rev() {
        out.put_u8(HEX[((n >> (shift * 4)) & 0xf) as usize]);
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)].to_ascii_uppercase() as char);
            out.push(HEX[usize::from(b & 0xf)].to_ascii_uppercase() as char);
        }
    }
}

fn parse_pieces(
    text: &[u8],
    declared: &[String],
    secrets: &Secrets,
    secret_values: &mut Vec<String>,
) -> Result<Pieces, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = find(rest, b"{{") {
        if open > 0 {
            pieces.push(Piece::Literal(Bytes::copy_from_slice(&rest[..open])));
        }
        let after = &rest[open + 2..];
        let close = find(after, b"}}")
            .ok_or_else(|| TemplateError::Unclosed(String::from_utf8_lossy(text).into_owned()))?;
        let name = String::from_utf8_lossy(&after[..close]).trim().to_string();
        let var = match name.as_str() {
            "iteration" => Var::Iteration,
            "worker" => Var::Worker,
            "uuid" => Var::Uuid,
            "random" => Var::Random,
            "now_ms" => Var::NowMs,
            "now_s" => Var::NowS,
            "credential.token" => Var::CredentialToken,
            "credential.thread" => Var::CredentialThread,
            other => match other.strip_prefix("secret.") {
                Some(secret) if declared.iter().any(|d| d == secret) => {
                    secret_values.push(secrets.get(secret).unwrap_or_default().to_string());
                    Var::Secret(secret_values.len() - 1)
                }
                Some(secret) => return Err(TemplateError::UndeclaredSecret(secret.to_string())),
                None => return Err(TemplateError::UnknownPlaceholder(other.to_string())),
            },
        };
        pieces.push(Piece::Var(var));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(Bytes::copy_from_slice(rest)));
    }
    Ok(Pieces(pieces))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn method(method: plugin::Method) -> Method {
    match method {
        plugin::Method::Get => Method::GET,
        plugin::Method::Head => Method::HEAD,
        plugin::Method::Post => Method::POST,
        plugin::Method::Put => Method::PUT,
        plugin::Method::Patch => Method::PATCH,
        plugin::Method::Delete => Method::DELETE,
        plugin::Method::Options => Method::OPTIONS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Header, Request, Signing, Template};

    fn template(
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &str,
    ) -> Template {
        Template {
            request: Request {
                method: plugin::Method::Post,
                path: path.into(),
                query: query
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                headers: headers
                    .iter()
                    .map(|(n, v)| Header {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                body: body.as_bytes().to_vec(),
            },
            signing: None,
        }
    }

    fn compile(
        t: &Template,
        declared: &[&str],
        secrets: &[(&str, &str)],
    ) -> Result<RequestTemplate, TemplateError> {
        let mut store = Secrets::default();
        for (k, v) in secrets {
            store.insert(*k, *v);
        }
        let declared: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
        RequestTemplate::compile(
            t,
            &"http://127.0.0.1:8080/".parse().expect("uri"),
            &declared,
            &store,
            9,
            RequestLimits::default(),
        )
    }

    const CTX: FillContext<'static> = FillContext {
        iteration: 42,
        worker: 3,
        credential: Some(("tok-123", "thread-9")),
        payload: None,
    };

    #[test]
    fn fills_every_placeholder() {
        let t = template(
            "/api/{{worker}}",
            &[("token", "{{secret.VERIFY}}"), ("plain", "a b&c")],
            &[
                ("authorization", "Bearer {{credential.token}}"),
                ("x-fixed", "yes"),
            ],
            r#"{"thread":"{{credential.thread}}","n":{{iteration}},"id":"{{uuid}}","r":"{{random}}","t":{{now_s}}}"#,
        );
        let mut compiled = compile(&t, &["VERIFY"], &[("VERIFY", "v=1&2")]).expect("compiles");
        assert!(compiled.uses_credential());
        let request = compiled.fill(&CTX).expect("fills");
        assert_eq!(
            request.uri,
            "http://127.0.0.1:8080/api/3?token=v%3D1%262&plain=a%20b%26c"
        );
        assert_eq!(request.headers["authorization"], "Bearer tok-123");
        assert_eq!(request.headers["x-fixed"], "yes");
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
        assert_eq!(body["thread"], "thread-9");
        assert_eq!(body["n"], 42);
        let id = body["id"].as_str().expect("uuid");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        assert_eq!(body["r"].as_str().map(str::len), Some(16));
        assert!(body["t"].as_u64().expect("seconds") > 1_700_000_000);
        let again = compiled.fill(&CTX).expect("fills");
        assert_ne!(
            again.body, request.body,
            "uuid and random change per request"
        );
    }

    /// Method, target, headers (sorted) and body of an HTTP/1.1 request.
    fn parsed(wire: &[u8]) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = request.parse(wire) else {
            panic!("not one request: {}", String::from_utf8_lossy(wire));
        };
        let mut fields: Vec<_> = request
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        fields.sort();
        let method = request.method.unwrap_or_default().to_string();
        let target = request.path.unwrap_or_default().to_string();
        (method, target, fields, wire[len..].to_vec())
    }

    #[test]
    fn the_wire_form_is_the_request_written_as_http1() {
        let mut signed = template(
            "/api/{{worker}}",
            &[("thread", "{{credential.thread}}")],
            &[
                ("authorization", "Bearer {{credential.token}}"),
                ("x-hub-signature-256", "replaced"),
                ("x-fixed", "yes"),
            ],
            r#"{"id":"{{uuid}}","n":{{iteration}}}"#,
        );
        signed.signing = Some(Signing {
            header: "x-hub-signature-256".into(),
            secret: "APP_SECRET".into(),
            prefix: "sha256=".into(),
        });
        let fixed = template(
            "/healthz",
            &[],
            &[("accept", "*/*"), ("content-length", "999")],
            "",
        );
        for t in [signed, fixed] {
            let secrets = [("APP_SECRET", "Jefe")];
            let mut structured = compile(&t, &["APP_SECRET"], &secrets).expect("compiles");
            let mut direct = compile(&t, &["APP_SECRET"], &secrets).expect("compiles");
            let mut expected = Vec::new();
            crate::http::wire::encode(&structured.fill(&CTX).expect("fills"), &mut expected);
            let mut wire = b"stale".to_vec();
            direct.fill_wire(&CTX, &mut wire).expect("fills");
            assert_eq!(parsed(&wire), parsed(&expected));
            assert_eq!(wire.len(), expected.len());
            let (_, _, headers, body) = parsed(&wire);
            let length = ("content-length".to_string(), body.len().to_string());
            assert!(headers.contains(&length), "{headers:?}");
        }
    }

    #[test]
    fn a_signature_prefix_that_would_break_the_head_is_refused() {
        let mut t = template("/hook", &[], &[], "{}");
        t.signing = Some(Signing {
            header: "x-sig".into(),
            secret: "APP_SECRET".into(),
            prefix: "sha256=\r\nx-injected: 1\r\n".into(),
        });
        let compiled = compile(&t, &["APP_SECRET"], &[("APP_SECRET", "k")]);
        assert_eq!(
            compiled.err(),
            Some(TemplateError::InvalidHeader("x-sig".into()))
        );
        let relative = template("api/x", &[], &[], "");
        assert_eq!(
            compile(&relative, &[], &[]).err(),
            Some(TemplateError::InvalidUri("api/x".into()))
        );
    }

    #[test]
    fn a_value_that_would_break_the_head_is_refused() {
        let t = template(
            "/x",
            &[],
            &[("authorization", "Bearer {{credential.token}}")],
            "",
        );
        let mut compiled = compile(&t, &[], &[]).expect("compiles");
        let ctx = FillContext {
            credential: Some(("tok\r\nx-injected: 1", "thread")),
            ..CTX
        };
        let mut wire = Vec::new();
        assert_eq!(
            compiled.fill_wire(&ctx, &mut wire),
            Err(TemplateError::InvalidHeader("authorization".into()))
        );
        assert!(compiled.fill(&ctx).is_err());
    }

    #[test]
    fn constant_parts_are_shared_not_rebuilt() {
        let t = template("/healthz", &[], &[("accept", "*/*")], "{}");
        let mut compiled = compile(&t, &[], &[]).expect("compiles");
        assert!(!compiled.uses_credential());
        let a = compiled.fill(&CTX).expect("fills");
        let b = compiled.fill(&CTX).expect("fills");
        assert_eq!(a.uri, "http://127.0.0.1:8080/healthz");
        assert_eq!(
            a.body.as_ptr(),
            b.body.as_ptr(),
            "a constant body is one shared buffer"
        );
    }

    #[test]
    fn signs_the_final_body_with_the_named_secret() {
        let mut t = template("/hook", &[], &[], r#"{"n":{{iteration}}}"#);
        t.signing = Some(Signing {
            header: "x-hub-signature-256".into(),
            secret: "APP_SECRET".into(),
            prefix: "sha256=".into(),
        });
        let mut compiled =
            compile(&t, &["APP_SECRET"], &[("APP_SECRET", "Jefe")]).expect("compiles");
        let request = compiled.fill(&CTX).expect("fills");
        let expected = crate::plugin::hmac_sha256_hex(b"Jefe", br#"{"n":42}"#);
        assert_eq!(
            request.headers["x-hub-signature-256"],
            format!("sha256={expected}").as_str()
        );
    }

    #[test]
    fn refuses_what_it_cannot_fill() {
        let undeclared = template("/", &[], &[], "{{secret.OTHER}}");
        assert_eq!(
            compile(&undeclared, &["MINE"], &[("OTHER", "x")]).err(),
            Some(TemplateError::UndeclaredSecret("OTHER".into()))
        );
        let unknown = template("/", &[], &[], "{{nope}}");
        let err = compile(&unknown, &[], &[])
            .err()
            .expect("unknown placeholder");
        assert!(
            err.to_string().contains("{{nope}}") && err.to_string().contains("valid: iteration"),
            "{err}"
        );
        let unclosed = template("/{{iteration", &[], &[], "");
        assert!(matches!(
            compile(&unclosed, &[], &[]),
            Err(TemplateError::Unclosed(_))
        ));
        let bad_header = template("/", &[], &[("bad header", "x")], "");
        assert!(matches!(
            compile(&bad_header, &[], &[]),
            Err(TemplateError::InvalidHeader(_))
        ));
        let bad_path = template("no slash {{iteration}}", &[], &[], "");
        assert!(matches!(
            compile(&bad_path, &[], &[]),
            Err(TemplateError::InvalidUri(_))
        ));
    }

    fn payload(body: &str, literal: bool, headers: &[(&str, &str)]) -> PayloadTemplate {
        let payload = plugin::Payload {
            body: body.as_bytes().to_vec(),
            literal,
            headers: headers
                .iter()
                .map(|(n, v)| plugin::Header {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            query: vec![("page".into(), "{{iteration}}".into())],
        };
        PayloadTemplate::compile(&payload, RequestLimits::default()).expect("payload")
    }

    #[test]
    fn a_payload_replaces_the_body_adds_headers_and_query_and_is_signed() {
        let mut t = template("/hook", &[], &[("content-type", "application/json")], "{}");
        t.signing = Some(Signing {
            header: "x-sig".into(),
            secret: "APP_SECRET".into(),
            prefix: "sha256=".into(),
        });
        let mut compiled = compile(&t, &["APP_SECRET"], &[("APP_SECRET", "k")]).expect("compiles");
        let body = payload(
            r#"{"text":"{{1}} stays"}"#,
            true,
            &[("x-trace", "t-{{iteration}}")],
        );
        let ctx = FillContext {
            payload: Some(&body),
            ..CTX
        };
        let request = compiled.fill(&ctx).expect("fill");
        assert_eq!(&request.body[..], br#"{"text":"{{1}} stays"}"#, "literal");
        assert_eq!(request.headers["x-trace"], "t-42");
        assert_eq!(request.uri.query(), Some("page=42"));
        let hex = crate::plugin::hmac_sha256_hex(b"k", &request.body);
        assert_eq!(request.headers["x-sig"], format!("sha256={hex}"));
        let mut wire = Vec::new();
        compiled.fill_wire(&ctx, &mut wire).expect("wire");
        let text = String::from_utf8_lossy(&wire);
        assert!(
            text.starts_with("POST /hook?page=42 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(
            text.contains("x-trace: t-42\r\n") && text.ends_with("{{1}} stays\"}"),
            "{text}"
        );

        // A builder adds headers; it never replaces the scenario's or its signature.
        for taken in ["x-sig", "content-type"] {
            let forged = payload("{}", true, &[(taken, "forged")]);
            let ctx = FillContext {
                payload: Some(&forged),
                ..CTX
            };
            assert_eq!(
                compiled.fill(&ctx).err(),
                Some(TemplateError::PayloadHeaderTaken(taken.into()))
            );
            assert_eq!(
                compiled.fill_wire(&ctx, &mut wire).err(),
                Some(TemplateError::PayloadHeaderTaken(taken.into()))
            );
        }
        // A templated payload body fills its placeholders.
        let templated = payload("n={{iteration}}", false, &[]);
        let ctx = FillContext {
            payload: Some(&templated),
            ..CTX
        };
        assert_eq!(&compiled.fill(&ctx).expect("fill").body[..], b"n=42");
    }
}
