//! Deterministic load-test users: the email and password of user `i` are a
//! function of the prefix, the seed and `i` alone, so a rerun with the same
//! prefix and seed finds the same accounts and signs them in.
//!
//! - email: `<prefix>+<seed>-<i>@loadtest.relhost.invalid`, lower-cased
//!   (auth servers compare emails case-insensitively). `.invalid` is a
//!   reserved TLD (RFC 2606): no mail is ever sent anywhere.
//! - password: the first 24 hex digits of
//!   `sha256(seed ‖ 0x00 ‖ prefix ‖ 0x00 ‖ decimal(i))`, then `-Lt1!`
//!   (29 characters: within Better Auth's 8..128, and it has lower case,
//!   upper case, a digit and a symbol for servers with composition rules).
//!
//! Anyone who knows the prefix and seed can derive the passwords: these are
//! throwaway load-test accounts, and the seed is what keeps one team's pool
//! apart from another's.

use std::fmt;

use sha2::{Digest, Sha256};

/// Longest prefix or seed: keeps the email's local part within 64 characters
/// for any `u32` index.
pub const MAX_NAME_LEN: usize = 24;

/// The domain of every generated email.
pub const EMAIL_DOMAIN: &str = "loadtest.relhost.invalid";

/// Appended to the hex digest of every password.
const PASSWORD_SUFFIX: &str = "-Lt1!";

/// The sign-up credentials of one load-test user. `Debug` never prints the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCredentials {
    /// The email.
    pub email: String,
    /// The password. A secret.
    pub password: String,
    /// The display name sent at sign-up: `Load test <prefix> <i>`.
    pub name: String,
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentials")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("name", &self.name)
            .finish()
    }
}

/// Checks a `--prefix` or `--seed`: 1 to [`MAX_NAME_LEN`] ASCII letters,
/// digits, `_` or `-` (they end up in an email and a file name).
pub fn check_name(text: &str) -> Result<(), String> {
    if text.is_empty()
        || text.len() > MAX_NAME_LEN
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "expected 1 to {MAX_NAME_LEN} ASCII letters, digits, '_' or '-', like loadtestmulti or 20260219a"
        ));
    }
    Ok(())
}

/// The credentials of user `index` of the pool `prefix`/`seed`.
pub fn user_credentials(prefix: &str, seed: &str, index: u32) -> UserCredentials {
    let email = format!("{prefix}+{seed}-{index}@{EMAIL_DOMAIN}").to_ascii_lowercase();
    let mut hasher = Sha256::new();
    hasher.update(seed.as_bytes());
    hasher.update([0]);
    hasher.update(prefix.as_bytes());
    hasher.update([0]);
    hasher.update(index.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut password: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    password.push_str(PASSWORD_SUFFIX);
    UserCredentials {
        email,
        password,
        name: format!("Load test {prefix} {index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_deterministic_and_distinct() {
        let a = user_credentials("loadtestmulti", "20260219a", 1);
        assert_eq!(a, user_credentials("loadtestmulti", "20260219a", 1));
        assert_eq!(
            a.email,
            "loadtestmulti+20260219a-1@loadtest.relhost.invalid"
        );
        assert_eq!(a.password.len(), 29);
        assert!(a.password.ends_with("-Lt1!"));
        assert!(a.password[..24].bytes().all(|b| b.is_ascii_hexdigit()));
        let b = user_credentials("loadtestmulti", "20260219a", 2);
        let c = user_credentials("loadtestmulti", "20260219b", 1);
        let d = user_credentials("loadtestmult", "i20260219a", 1);
        assert_ne!(a.password, b.password);
        assert_ne!(a.password, c.password);
        assert_ne!(a.password, d.password, "separators keep the fields apart");
        assert!(!format!("{a:?}").contains(&a.password));
    }

    #[test]
    fn longest_names_keep_the_local_part_within_64() {
        let long = "x".repeat(MAX_NAME_LEN);
        let creds = user_credentials(&long, &long, u32::MAX);
        let local = creds.email.split('@').next().unwrap_or_default();
        assert!(local.len() <= 64, "{}", local.len());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("loadtestmulti").is_ok());
        assert!(check_name("t").is_ok());
        for bad in [
            "",
            "a b",
            "a/b",
            "a+b",
            "a@b",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
