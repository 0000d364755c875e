//! Named secrets a run may grant to plugins, and their redaction.

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
                Some((name.to_string(), value))
            })
            .collect();
        Secrets { values }
    }

    /// Adds or replaces a secret.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// The value of a secret, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Replaces every occurrence of a secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        self.values
            .values()
            .filter(|v| v.len() >= 4)
            .fold(text.to_string(), |acc, v| acc.replace(v.as_str(), "***"))
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
    fn debug_and_redact_hide_values() {
        let mut secrets = Secrets::default();
        secrets.insert("APP_SECRET", "s3cr3t-value");
        assert_eq!(format!("{secrets:?}"), r#"{"APP_SECRET"}"#);
        assert_eq!(secrets.redact("key=s3cr3t-value;"), "key=***;");
        assert_eq!(secrets.get("APP_SECRET"), Some("s3cr3t-value"));
        assert_eq!(secrets.get("OTHER"), None);
    }
}
