//! Plugin references: which registry, which repository, which version(s).
//!
//! ```text
//! oci://HOST[:PORT]/NS/NAME:VERSION   one version (a semver tag)
//! oci://HOST[:PORT]/NS/NAME@REQ       the highest version matching a semver requirement (^1.2, ~1.2.3, >=1, *)
//! oci://HOST[:PORT]/NS/NAME           the highest published version (same as @*)
//! local:NS/NAME[:VERSION|@REQ]        the same in the local directory registry
//! ```
//!
//! In `relhost plugin push|pull|list` a reference without a scheme means the
//! local registry; in `--plugin` it is a file path, as it always was.

use std::fmt;

use semver::{Version, VersionReq};

use super::error::RegistryError;

/// Where a repository lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegistryLocation {
    /// The local directory registry (`--registry-dir`).
    Local,
    /// An OCI distribution registry at `HOST[:PORT]`.
    Oci(String),
}

impl RegistryLocation {
    /// How the registry is recorded in `relhost.lock`: `local` or `oci://HOST[:PORT]`.
    pub fn label(&self) -> String {
        match self {
            RegistryLocation::Local => "local".to_string(),
            RegistryLocation::Oci(host) => format!("oci://{host}"),
        }
    }
}

/// Which versions a reference accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Exactly this version (`:1.2.3`).
    Exact(Version),
    /// The highest version matching (`@^1.2`); `*` for a bare reference.
    Matching(VersionReq),
}

impl Selector {
    /// The requirement as recorded in the lock file (`=1.2.3`, `^1.2`, `*`).
    pub fn requirement(&self) -> String {
        match self {
            Selector::Exact(v) => format!("={v}"),
            Selector::Matching(req) => req.to_string(),
        }
    }

    /// Whether `version` is acceptable.
    pub fn matches(&self, version: &Version) -> bool {
        match self {
            Selector::Exact(v) => v == version,
            Selector::Matching(req) => req.matches(version),
        }
    }

    /// The highest of `tags` that parses as semver and matches.
    pub fn best<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Option<Version> {
        tags.into_iter()
            .filter_map(|t| Version::parse(t).ok())
            .filter(|v| self.matches(v))
            .max()
    }
}

/// A parsed plugin reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry.
    pub registry: RegistryLocation,
    /// The repository, `NS/NAME`.
    pub repository: String,
    /// The version(s) accepted.
    pub selector: Selector,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.registry {
            RegistryLocation::Local => write!(f, "local:{}", self.repository)?,
            RegistryLocation::Oci(host) => write!(f, "oci://{host}/{}", self.repository)?,
        }
        match &self.selector {
            Selector::Exact(v) => write!(f, ":{v}"),
            Selector::Matching(req) if *req == VersionReq::STAR => Ok(()),
            Selector::Matching(req) => write!(f, "@{req}"),
        }
    }
}

/// Whether `text` names a registry plugin (`oci://…` or `local:…`) rather than a file.
pub fn is_registry_reference(text: &str) -> bool {
    text.starts_with("oci://") || text.starts_with("local:")
}

impl Reference {
    /// Parses `oci://…` or `local:…`; with `bare_is_local`, a reference with
    /// no scheme means the local registry.
    pub fn parse(text: &str, bare_is_local: bool) -> Result<Reference, RegistryError> {
        let bad = |reason: &str| RegistryError::BadReference {
            reference: text.to_string(),
            reason: format!(
                "{reason}; expected oci://HOST[:PORT]/NS/NAME[:VERSION|@REQUIREMENT] or local:NS/NAME[:VERSION|@REQUIREMENT]"
            ),
        };
        let (registry, rest) = if let Some(rest) = text.strip_prefix("oci://") {
            let (host, path) = rest
                .split_once('/')
                .ok_or_else(|| bad("no repository after the host"))?;
            check_host(host).map_err(|r| bad(&r))?;
            (RegistryLocation::Oci(host.to_string()), path)
        } else if let Some(rest) = text.strip_prefix("local:") {
            (RegistryLocation::Local, rest)
        } else if bare_is_local && !text.contains("://") {
            (RegistryLocation::Local, text)
        } else {
            return Err(bad("unknown scheme"));
        };
        let (repository, selector) = if let Some((repo, req)) = rest.split_once('@') {
            let req = VersionReq::parse(req)
                .map_err(|e| bad(&format!("bad semver requirement {req:?} ({e})")))?;
            (repo, Selector::Matching(req))
        } else {
            let last = rest.rsplit('/').next().unwrap_or(rest);
            match last.split_once(':') {
                Some((_, version)) => {
                    let repo = &rest[..rest.len() - version.len() - 1];
                    let version = Version::parse(version)
                        .map_err(|e| bad(&format!("version {version:?} is not semver ({e})")))?;
                    (repo, Selector::Exact(version))
                }
                None => (rest, Selector::Matching(VersionReq::STAR)),
            }
        };
        check_repository(repository).map_err(|r| bad(&r))?;
        Ok(Reference {
            registry,
            repository: repository.to_string(),
            selector,
        })
    }

    /// The last path component of the repository: the plugin's name.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

/// An OCI tag for a version: semver without build metadata (tags cannot hold `+`).
pub fn tag_of(version: &Version) -> Result<String, String> {
    if !version.build.is_empty() {
        return Err(format!(
            "version {version} has build metadata, which an OCI tag cannot hold"
        ));
    }
    Ok(version.to_string())
}

fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(format!("bad registry host {host:?}"))
    }
}

/// The OCI repository grammar, simplified: lowercase components of
/// `[a-z0-9._-]`, each starting and ending with a letter or digit.
fn check_repository(repository: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if repository.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "bad repository {repository:?} (lowercase letters, digits, '.', '_', '-', components separated by '/')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_requirements_and_registries() {
        let r = Reference::parse("oci://127.0.0.1:5000/ns/whatsapp_webhook@^1.2", false)
            .expect("parses");
        assert_eq!(r.registry, RegistryLocation::Oci("127.0.0.1:5000".into()));
        assert_eq!(r.repository, "ns/whatsapp_webhook");
        assert_eq!(r.name(), "whatsapp_webhook");
        assert_eq!(r.selector.requirement(), "^1.2");
        assert_eq!(
            r.to_string(),
            "oci://127.0.0.1:5000/ns/whatsapp_webhook@^1.2"
        );

        let r = Reference::parse("oci://ghcr.io/team/plugins/x:1.2.3", false).expect("parses");
        assert_eq!(r.repository, "team/plugins/x");
        assert_eq!(r.selector, Selector::Exact(Version::new(1, 2, 3)));
        assert_eq!(r.selector.requirement(), "=1.2.3");

        let r = Reference::parse("local:ns/x", false).expect("parses");
        assert_eq!(r.registry, RegistryLocation::Local);
        assert_eq!(r.selector.requirement(), "*");
        assert_eq!(r.to_string(), "local:ns/x");
        assert_eq!(
            Reference::parse("ns/x:0.1.0", true)
                .expect("bare")
                .to_string(),
            "local:ns/x:0.1.0"
        );
    }

    #[test]
    fn refuses_bad_references_with_the_syntax() {
        for bad in [
            "oci://host",
            "oci:///ns/x",
            "oci://host/NS/x",
            "oci://host/ns/x:1.2",
            "oci://host/ns/x@^^1",
            "oci://host/ns//x",
            "ns/x:1.0.0",
            "https://host/ns/x",
            "local:ns/-x",
        ] {
            let error = Reference::parse(bad, false).expect_err(bad).to_string();
            assert!(error.contains("expected oci://HOST"), "{bad}: {error}");
            assert!(error.contains(bad), "{bad}: {error}");
        }
        assert!(is_registry_reference("oci://h/x") && is_registry_reference("local:x"));
        assert!(!is_registry_reference("./x.wasm"));
    }

    #[test]
    fn resolves_the_highest_matching_semver_tag() {
        let tags = [
            "0.9.0",
            "0.10.0",
            "latest",
            "1.0.0-rc.1",
            "1.2.0",
            "1.10.1",
            "2.0.0",
        ];
        let pick = |req: &str| {
            Selector::Matching(VersionReq::parse(req).expect("req"))
                .best(tags)
                .map(|v| v.to_string())
        };
        assert_eq!(pick("^0.9").as_deref(), Some("0.9.0"));
        assert_eq!(pick("^1.2").as_deref(), Some("1.10.1"));
        assert_eq!(pick("~1.2").as_deref(), Some("1.2.0"));
        assert_eq!(pick("*").as_deref(), Some("2.0.0"));
        assert_eq!(pick("^3").as_deref(), None);
        assert_eq!(
            Selector::Exact(Version::new(0, 10, 0)).best(tags),
            Some(Version::new(0, 10, 0))
        );
        assert!(tag_of(&Version::parse("1.0.0+abc").expect("v")).is_err());
    }
}
