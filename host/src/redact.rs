//! Redaction: every secret value this process was given is masked as
//! [`MASK`] in every report, summary, log line and message relhost writes.
//!
//! Secrets come from this one run's environment, flags and files (run
//! secrets for plugins, credential tokens, ops tokens, registry passwords),
//! so the set of values is process-wide: each is [`register`]ed where it
//! enters the process, and every output path masks through [`text`] or
//! [`command_line`].

use std::sync::{PoisonError, RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not masked: masking every `abcd` in a report would
/// garble it, and a secret that short is no secret.
const MIN_LEN: usize = 6;

/// Flags whose value is a secret, whatever it is.
const SECRET_FLAGS: &[&str] = &["--ops-token", "--deploy-key", "--user-token"];

/// Header names whose values are credentials (`-H "Authorization: ..."`).
const CREDENTIAL_WORDS: &[&str] = &[
    "authorization",
    "cookie",
    "token",
    "secret",
    "key",
    "signature",
    "password",
];

/// The secret values known so far, longest first (so that a secret that
/// contains another is masked whole).
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds a secret value: from now on every output masks it, as it is and
/// as JSON, XML (and HTML) or a Rust debug string would escape it.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    let debug = format!("{value:?}");
    let xml = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    let forms = [
        value,
        json.trim_start_matches('"').trim_end_matches('"'),
        debug.trim_start_matches('"').trim_end_matches('"'),
        &xml,
    ];
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    for form in forms {
        if !known.iter().any(|k| k == form) {
            known.push(form.to_string());
        }
    }
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
}

/// Registers `value` when `name` (a header's or a parameter's) says it is
/// a credential: the value, and in `Bearer TOKEN` the token alone too.
pub fn register_credential(name: &str, value: &str) {
    if !is_credential_header(name) {
        return;
    }
    let value = value.trim();
    register(value);
    if let Some((_, token)) = value.split_once(' ') {
        register(token.trim());
    }
}

/// `text` with every known secret masked.
pub fn text(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_string();
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// JSON text with every known secret masked inside its strings (keys
/// included), never inside a number or a literal.
pub fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        // The closing quote: the first one not escaped by a backslash.
        let mut escaped = false;
        let close = body
            .char_indices()
            .find(|&(_, c)| {
                let quote = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                quote
            })
            .map_or(body.len(), |(i, _)| i);
        out.push_str(&self::text(&body[..close]));
        rest = &body[close..];
        if let Some(after) = rest.strip_prefix('"') {
            out.push('"');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// This process's command line as a report records it: the values of
/// secret flags and of credential headers (`-H`) masked, and every known
/// secret masked wherever it appears.
pub fn command_line() -> Vec<String> {
    args(std::env::args())
}

fn args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // The previous argument was a flag whose value is the next one.
    let mut masks_next: Option<fn(&str) -> String> = None;
    for arg in args {
        let arg = match masks_next.take() {
            Some(mask) => mask(&arg),
            None => flag(&arg, &mut masks_next),
        };
        out.push(text(&arg));
    }
    out
}

/// Masks the value of a secret flag or credential header given inline
/// (`--ops-token=x`, `-HAuthorization: x`), or notes that the next
/// argument is one (`--ops-token x`, `-H "Authorization: x"`).
fn flag(arg: &str, masks_next: &mut Option<fn(&str) -> String>) -> String {
    for secret in SECRET_FLAGS {
        if arg == *secret {
            *masks_next = Some(|_| MASK.to_string());
            return arg.to_string();
        }
        if arg.strip_prefix(secret).is_some_and(|v| v.starts_with('=')) {
            return format!("{secret}={MASK}");
        }
    }
    if arg == "-H" || arg == "--header" {
        *masks_next = Some(header);
        return arg.to_string();
    }
    if arg == "--param" {
        *masks_next = Some(param);
        return arg.to_string();
    }
    if let Some(value) = arg.strip_prefix("--param=") {
        return format!("--param={}", param(value));
    }
    match arg
        .strip_prefix("--header=")
        .or_else(|| arg.strip_prefix("-H"))
    {
        Some(value) if !value.is_empty() => {
            let flag = &arg[..arg.len() - value.len()];
            format!("{flag}{}", header(value))
        }
        _ => arg.to_string(),
    }
}

/// `Name: value` with the value masked when the name says it is a credential.
pub fn header(header: &str) -> String {
    let Some((name, _)) = header.split_once(':') else {
        return header.to_string();
    };
    if is_credential_header(name) {
        format!("{name}: {MASK}")
    } else {
        header.to_string()
    }
}

/// `NAME=VALUE` (a plugin parameter) with the value masked when the name
/// says it is a credential.
fn param(text: &str) -> String {
    match text.split_once('=') {
        Some((name, _)) if is_credential_header(name) => format!("{name}={MASK}"),
        _ => text.to_string(),
    }
}

/// Whether a header (or parameter) of this name carries a credential.
pub fn is_credential_header(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn known_values_are_masked_as_they_are_and_escaped() {
        register("redact-test-secret-1");
        register("abc");
        assert_eq!(
            text("key=redact-test-secret-1; abc"),
            "key=***; abc",
            "values under four bytes are left"
        );
        register("quote\"d-secret");
        let text = serde_json::json!({ "a": "x quote\"d-secret y" }).to_string();
        assert_eq!(json(&text), r#"{"a":"x *** y"}"#);
        // A secret of digits masks strings, never the numbers of a report.
        register("2026120499");
        assert_eq!(
            json(r#"{"requests": 2026120499, "note": "id 2026120499", "e": "\\"}"#),
            r#"{"requests": 2026120499, "note": "id ***", "e": "\\"}"#
        );
        register("p&ss<word>");
        assert_eq!(self::text("x p&amp;ss&lt;word&gt; y"), "x *** y");
    }

    #[test]
    fn secret_flags_and_credential_headers_are_masked_by_name() {
        let masked = args(strings(&[
            "relhost",
            "gate",
            "--ops-token=t1",
            "--deploy-key=prod:x|k",
            "--ops-token",
            "t2",
            "-H",
            "Authorization: Bearer x",
            "-HX-Api-Key: y",
            "--header=Accept: text/plain",
            "--param=api_key=k",
            "--param",
            "region=eu",
            "--profile=quick",
        ]));
        assert_eq!(
            masked,
            strings(&[
                "relhost",
                "gate",
                "--ops-token=***",
                "--deploy-key=***",
                "--ops-token",
                "***",
                "-H",
                "Authorization: ***",
                "-HX-Api-Key: ***",
                "--header=Accept: text/plain",
                "--param=api_key=***",
                "--param",
                "region=eu",
                "--profile=quick",
            ])
        );
    }
}
