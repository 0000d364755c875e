//! Named secrets a run may grant to plugins; every value is registered
//! for redaction (`crate::redact`).

use std::collections::BTreeMap;
use std::fmt;

/// Secret values by name. The values never appear in `Debug` output.
#[derive(Default, Clone)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl Secrets {
    /// Secrets read from the process environment, for the given names
    /// (unset or empty variables are left out).
    pub fn from_env<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let values = names
            .into_iter()
            .filter_map(|name| {
                let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
                crate::redact::register(&value);
                Some((name.to_string(), value))
            })
            .collect();
        Secrets { values }
    }

    /// Adds or replaces a secret (from now on masked in every output).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        crate::redact::register(&value);
        self.values.insert(name.into(), value);
    }

    /// The value of a secret, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redaction_hide_values() {
        let mut secrets = Secrets::default();
        secrets.insert("APP_SECRET", "s3cr3t-value");
        assert_eq!(format!("{secrets:?}"), r#"{"APP_SECRET"}"#);
        assert_eq!(crate::redact::text("key=s3cr3t-value;"), "key=***;");
        assert_eq!(secrets.get("APP_SECRET"), Some("s3cr3t-value"));
        assert_eq!(secrets.get("OTHER"), None);
    }
}
