//! The `relhost:plugin/host` interface: what the host grants every plugin.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::bindings::payload::relhost::plugin::payload_types;
use super::bindings::rotation::relhost::plugin::rotation_types;
use super::bindings::scenario::relhost::plugin::{host, scenario_types, types};
use super::bindings::slo::relhost::plugin::slo_types;
use super::state::{LOG_LINES_PER_SECOND, LogAdmission, PluginState};
use super::untrusted;

impl types::Host for PluginState {}

impl scenario_types::Host for PluginState {}

impl rotation_types::Host for PluginState {}

impl slo_types::Host for PluginState {}

impl payload_types::Host for PluginState {}

impl host::Host for PluginState {
    /// Writes one line on stderr, prefixed with the plugin's name, its
    /// secrets masked and control characters escaped (a plugin cannot
    /// forge relhost's own lines), at most 20 lines a second.
    fn log(&mut self, level: types::LogLevel, message: String) {
        let plugin = untrusted::clean(&self.grants.plugin, untrusted::MAX_LABEL);
        let dropped = match self.grants.admit_log_line() {
            LogAdmission::Write { dropped } => dropped,
            LogAdmission::FirstDropped => {
                eprintln!(
                    "[plugin {plugin}] (more than {LOG_LINES_PER_SECOND} lines a second: dropping lines)"
                );
                return;
            }
            LogAdmission::Dropped => return,
        };
        let level = match level {
            types::LogLevel::Debug => "debug",
            types::LogLevel::Info => "info",
            types::LogLevel::Warn => "warn",
            types::LogLevel::Error => "error",
        };
        let message = untrusted::clean(&message, untrusted::MAX_TEXT);
        if dropped > 0 {
            eprintln!("[plugin {plugin}] ({dropped} lines dropped)");
        }
        eprintln!("[plugin {plugin}] {level}: {message}");
    }

    fn has_secret(&mut self, name: String) -> bool {
        self.grants.secret(&name).is_some()
    }

    fn secret(&mut self, name: String) -> Option<String> {
        self.grants.secret(&name).map(str::to_string)
    }

    fn param(&mut self, name: String) -> Option<String> {
        self.params.get(&name).cloned()
    }

    fn random_u64(&mut self) -> u64 {
        self.next_random()
    }

    fn hmac_sha256_hex(&mut self, secret: String, data: Vec<u8>) -> Option<String> {
        let key = self.grants.secret(&secret)?;
        Some(hmac_sha256_hex(key.as_bytes(), &data))
    }
}

/// HMAC-SHA256 of `data` keyed with `key`, as lowercase hex.
pub(crate) fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
