//! Load profiles: the raw file format, its validation, and the builtin profiles.
//!
//! A profile file (see `profiles/*.json`) looks like:
//!
//! ```json
//! { "name": "quick", "description": "...",
//!   "scenarios": {
//!     "gmail_push_webhook": { "stages": [
//!       { "name": "warmup", "rate": 20, "duration": "1s", "ramp": "1s" },
//!       { "name": "steady", "rate": 40, "duration": "3s" } ] },
//!     "chat_stream_http": { "stages": [
//!       { "name": "streams", "concurrency": 4, "duration": "4s", "requests": 40 } ] } } }
//! ```
//!
//! Stage fields: `name`; exactly one of `rate` (arrivals per second, open
//! model) or `concurrency` (workers, closed model); `duration`; optional
//! `ramp`, `requests` (a cap on the stage's request total) and `think_time`
//! (closed model only). Durations are humantime strings (`"10s"`, `"2m"`,
//! `"1m30s"`). Unknown fields are rejected.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::error::{Doc, Origin, PolicyError};
use super::locate::{join_index, join_key};
use super::ordered::OrderedMap;
use super::stage::{Load, MAX_CONCURRENCY, Stage};

/// The builtin profile names, in the order users see them.
pub const PROFILE_NAMES: &[&str] = &[
    "quick", "standard", "burst", "soak", "m1_1k", "m2_5k", "m3_20k",
];

const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("quick", include_str!("../../../profiles/quick.json")),
    ("standard", include_str!("../../../profiles/standard.json")),
    ("burst", include_str!("../../../profiles/burst.json")),
    ("soak", include_str!("../../../profiles/soak.json")),
    ("m1_1k", include_str!("../../../profiles/m1_1k.json")),
    ("m2_5k", include_str!("../../../profiles/m2_5k.json")),
    ("m3_20k", include_str!("../../../profiles/m3_20k.json")),
];

/// A validated load profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The profile's name (used in report file names).
    pub name: String,
    /// What the profile is for.
    pub description: String,
    /// One plan per scenario, in file order.
    pub scenarios: Vec<ScenarioPlan>,
}

impl Profile {
    /// The plan for `scenario`, if the profile has one.
    pub fn scenario(&self, scenario: &str) -> Option<&ScenarioPlan> {
        self.scenarios.iter().find(|s| s.scenario == scenario)
    }

    /// The scenario names, in file order.
    pub fn scenario_names(&self) -> impl Iterator<Item = &str> {
        self.scenarios.iter().map(|s| s.scenario.as_str())
    }
}

/// The stages one scenario runs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioPlan {
    /// The scenario (plugin) name, e.g. `chat_stream_http`.
    pub scenario: String,
    /// At least one stage.
    pub stages: Vec<Stage>,
}

impl ScenarioPlan {
    /// The sum of the stage durations.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }
}

/// A builtin profile by name.
pub fn builtin_profile(name: &str) -> Result<Profile, PolicyError> {
    let (_, text) = BUILTIN_PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| PolicyError::UnknownProfile {
            name: name.to_owned(),
            valid: PROFILE_NAMES,
        })?;
    let origin = Origin::Builtin {
        kind: "profile",
        name: name.to_owned(),
    };
    parse_profile(text, &origin)
}

/// Reads and validates a profile file.
pub fn load_profile_file(path: &Path) -> Result<Profile, PolicyError> {
    parse_profile(
        &super::document::read(path)?,
        &Origin::File(path.to_owned()),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    description: String,
    scenarios: OrderedMap<RawScenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    stages: Vec<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    rate: Option<f64>,
    concurrency: Option<f64>,
    duration: String,
    ramp: Option<String>,
    requests: Option<f64>,
    think_time: Option<String>,
}

/// Parses and validates profile text; `origin` names it in errors.
pub(crate) fn parse_profile(text: &str, origin: &Origin) -> Result<Profile, PolicyError> {
    let doc = Doc::new(origin, text);
    let raw: RawProfile = doc.parse(text)?;
    if !is_name(&raw.name) {
        return Err(doc.invalid(
            "name",
            format!(
                "invalid profile name {:?}; expected letters, digits, `_` or `-`",
                raw.name
            ),
        ));
    }
    if raw.scenarios.0.is_empty() {
        return Err(doc.invalid("scenarios", "expected at least one scenario"));
    }
    let mut scenarios = Vec::with_capacity(raw.scenarios.0.len());
    for (scenario, raw_scenario) in raw.scenarios.0 {
        let spath = join_key("scenarios", &scenario);
        if !is_name(&scenario) {
            return Err(doc.invalid(
                &spath,
                format!("invalid scenario name {scenario:?}; expected letters, digits, `_` or `-`"),
            ));
        }
        let stages_path = format!("{spath}.stages");
        if raw_scenario.stages.is_empty() {
            return Err(doc.invalid(&stages_path, "expected at least one stage"));
        }
        let mut stages: Vec<Stage> = Vec::with_capacity(raw_scenario.stages.len());
        for (i, raw_stage) in raw_scenario.stages.into_iter().enumerate() {
            let path = join_index(&stages_path, i);
            let stage = stage_from_raw(&doc, &path, raw_stage)?;
            if stages.iter().any(|s| s.name == stage.name) {
                return Err(doc.invalid(
                    &format!("{path}.name"),
                    format!(
                        "duplicate stage name {:?}; stage names must be unique within a scenario",
                        stage.name
                    ),
                ));
            }
            stages.push(stage);
        }
        scenarios.push(ScenarioPlan { scenario, stages });
    }
    Ok(Profile {
        name: raw.name,
        description: raw.description,
        scenarios,
    })
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `v` as a non-negative whole number, if it is one (and exact in `f64`).
fn whole_number(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0)
        .then_some(v as u64)
}

fn stage_from_raw(doc: &Doc<'_>, path: &str, raw: RawStage) -> Result<Stage, PolicyError> {
    let load = match (raw.rate, raw.concurrency) {
        (Some(rate), None) => Load::Rate(rate),
        (None, Some(c)) => {
            let n = whole_number(c).filter(|&n| n <= u64::from(MAX_CONCURRENCY));
            match n {
                Some(n) => Load::Concurrency(n as u32),
                None => {
                    return Err(doc.invalid(
                        &format!("{path}.concurrency"),
                        format!(
                            "expected a whole number of concurrent workers between 1 and {MAX_CONCURRENCY}, got {c}"
                        ),
                    ));
                }
            }
        }
        (Some(_), Some(_)) => {
            return Err(doc.invalid(
                path,
                "has both `rate` and `concurrency`; expected exactly one \
                 (`rate` for an open model, `concurrency` for a closed model)",
            ));
        }
        (None, None) => {
            return Err(doc.invalid(
                path,
                "needs `rate` (arrivals per second, open model) or \
                 `concurrency` (concurrent workers, closed model)",
            ));
        }
    };
    let duration = |field: &str, value: Option<&str>| -> Result<Duration, PolicyError> {
        match value {
            None => Ok(Duration::ZERO),
            Some(text) => {
                super::parse_duration(text).map_err(|e| doc.invalid(&format!("{path}.{field}"), e))
            }
        }
    };
    let max_requests = match raw.requests {
        None => None,
        Some(r) => Some(whole_number(r).ok_or_else(|| {
            doc.invalid(
                &format!("{path}.requests"),
                format!(
                    "expected a whole number of requests (a cap on the stage's total), got {r}"
                ),
            )
        })?),
    };
    let stage = Stage {
        name: raw.name,
        load,
        duration: duration("duration", Some(&raw.duration))?,
        ramp: duration("ramp", raw.ramp.as_deref())?,
        max_requests,
        think_time: duration("think_time", raw.think_time.as_deref())?,
    };
    stage
        .validate()
        .map_err(|p| doc.invalid(&format!("{path}.{}", p.field), p.message))?;
    Ok(stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_is_valid() {
        assert_eq!(PROFILE_NAMES.len(), BUILTIN_PROFILES.len());
        for name in PROFILE_NAMES {
            let p = builtin_profile(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, *name, "profile name matches its file");
            assert!(!p.description.is_empty(), "{name} has a description");
        }
    }

    #[test]
    fn builtin_sizes() {
        let total = |name: &str| -> Duration {
            builtin_profile(name)
                .unwrap()
                .scenarios
                .iter()
                .map(|s| s.duration())
                .sum()
        };
        let quick = total("quick");
        assert!(
            quick >= Duration::from_secs(10) && quick <= Duration::from_secs(15),
            "{quick:?}"
        );
        let standard = total("standard");
        assert!(standard >= Duration::from_secs(60) && standard <= Duration::from_secs(120));
        let soak = total("soak");
        assert!(soak >= Duration::from_secs(540) && soak <= Duration::from_secs(660));
        let quick = builtin_profile("quick").unwrap();
        assert_eq!(
            quick.scenario_names().collect::<Vec<_>>(),
            ["gmail_push_webhook", "whatsapp_webhook", "chat_stream_http"],
            "file order is kept"
        );
        for (name, peak) in [("m1_1k", 1000), ("m2_5k", 5000), ("m3_20k", 20_000)] {
            let p = builtin_profile(name).unwrap();
            assert_eq!(p.scenario_names().collect::<Vec<_>>(), ["chat_stream_http"]);
            let max = p.scenarios[0]
                .stages
                .iter()
                .map(|s| s.load.level())
                .fold(0.0, f64::max);
            assert_eq!(max, f64::from(peak), "{name}");
        }
    }

    #[test]
    fn unknown_profile_lists_valid_names() {
        let err = builtin_profile("quik").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown profile \"quik\"; valid profiles: quick, standard, burst, soak, m1_1k, m2_5k, m3_20k"
        );
    }

    #[test]
    fn load_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.json");
        std::fs::write(
            &path,
            r#"{"name":"mine","scenarios":{"x":{"stages":[
                {"name":"a","concurrency":3,"duration":"1m","ramp":"10s","think_time":"500ms","requests":7}]}}}"#,
        )
        .unwrap();
        let p = load_profile_file(&path).unwrap();
        assert_eq!(
            p.scenarios[0].stages[0],
            Stage {
                name: "a".into(),
                load: Load::Concurrency(3),
                duration: Duration::from_secs(60),
                ramp: Duration::from_secs(10),
                max_requests: Some(7),
                think_time: Duration::from_millis(500),
            }
        );
        let missing = load_profile_file(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(missing, PolicyError::Read { .. }));
        assert!(missing.to_string().starts_with("cannot read "));
    }
}
