//! Plugin components produced by the build script: the built-in plugins,
//! embedded in the binary, and the test plugins, by path.

include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));

/// Names of the built-in scenario plugins, in drill order.
pub const BUILTIN_SCENARIOS: &[&str] =
    &["gmail_push_webhook", "whatsapp_webhook", "chat_stream_http"];

/// The built-in request builder of `relhost load` (a scenario plugin that
/// drills are not given unless asked for).
pub const LOAD_SCENARIO: &str = "http_request";

/// Names of the built-in rotation strategies.
pub const BUILTIN_ROTATIONS: &[&str] = &["round_robin", "stride", "random"];

/// Names of the built-in SLO evaluators.
pub const BUILTIN_SLO_EVALUATORS: &[&str] = &["threshold", "burn_rate"];

/// Names of the built-in payload builders.
pub const BUILTIN_PAYLOAD_BUILDERS: &[&str] = &["whatsapp_replay", "chat_corpus"];

/// The embedded component of a built-in plugin.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    match name {
        "chat_stream_http" => Some(CHAT_STREAM_HTTP),
        "gmail_push_webhook" => Some(GMAIL_PUSH_WEBHOOK),
        "whatsapp_webhook" => Some(WHATSAPP_WEBHOOK),
        "http_request" => Some(HTTP_REQUEST),
        "round_robin" => Some(ROTATION_ROUND_ROBIN),
        "stride" => Some(ROTATION_STRIDE),
        "random" => Some(ROTATION_RANDOM),
        "threshold" => Some(SLO_THRESHOLD),
        "burn_rate" => Some(SLO_BURN_RATE),
        "whatsapp_replay" => Some(PAYLOAD_WHATSAPP_REPLAY),
        "chat_corpus" => Some(PAYLOAD_CHAT_CORPUS),
        _ => None,
    }
}
