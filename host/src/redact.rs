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

/// Shorter values are not masked: masking every `abc` in a report would
/// garble it, and a secret that short is no secret.
const MIN_LEN: usize = 4;

/// Flags whose value is a secret, whatever it is.
const SECRET_FLAGS: &[&str] = &["--ops-token"];

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
/// as JSON or a Rust debug string would escape it.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    let debug = format!("{value:?}");
    let forms = [
        value,
        json.trim_start_matches('"').trim_end_matches('"'),
        debug.trim_start_matches('"').trim_end_matches('"'),
    ];
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    for form in forms {
        if !known.iter().any(|k| k == form) {
            known.push(form.to_string());
        }
    }
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
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

/// Whether a header of this name carries a credential.
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
        let json = serde_json::json!({ "a": "x quote\"d-secret y" }).to_string();
        assert_eq!(text(&json), r#"{"a":"x *** y"}"#);
    }

    #[test]
    fn secret_flags_and_credential_headers_are_masked_by_name() {
        let masked = args(strings(&[
            "relhost",
            "gate",
            "--ops-token=t1",
            "--ops-token",
            "t2",
            "-H",
            "Authorization: Bearer x",
            "-HX-Api-Key: y",
            "--header=Accept: text/plain",
            "--profile=quick",
        ]));
        assert_eq!(
            masked,
            strings(&[
                "relhost",
                "gate",
                "--ops-token=***",
                "--ops-token",
                "***",
                "-H",
                "Authorization: ***",
                "-HX-Api-Key: ***",
                "--header=Accept: text/plain",
                "--profile=quick",
            ])
        );
    }
}
