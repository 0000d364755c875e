//! The game-day plan (`policies/game-day-plan.json`, or `--plan=FILE`,
//! following `schemas/game-day-plan.schema.json`): the steady-state
//! hypothesis, the fault schedule and the recovery wait.
//!
//! ```json
//! { "schema_version": 1, "description": "primary provider outage",
//!   "hypothesis": { "probes": true, "probe_latency_ceiling_ms": 12000,
//!                   "window_minutes": 1, "max_open_circuits": 0,
//!                   "max_5xx_ratio": 0.01, "max_p95_ms": 2000,
//!                   "checks": [ { "id": "no_dlq", "metric": "tool_queue.dlq_size",
//!                                 "comparator": "<=", "threshold": 0, "when_missing": "skip" } ] },
//!   "faults": [ { "at": "5s", "fault": "chat:provider_outage=primary" },
//!               { "at": "8s", "faults": ["whatsapp:error_rate=0.2", "all:stall=1s,every=5s"],
//!                 "profiles": ["burst"] },
//!               { "at": "15s", "clear": true } ],
//!   "recovery_timeout": "60s", "poll_interval": "1s" }
//! ```
//!
//! Schedule times count from the start of each drill, and the schedule runs
//! again for every drill (an entry with `profiles` only for those). A
//! `fault`/`faults` entry adds to the faults in force (the sim lets a later
//! fault of the same endpoint and kind replace an earlier one); `clear`
//! removes them all. Whatever is in force when a drill ends is cleared.
//!
//! Validation is strict, as for the policies: unknown fields, bad
//! durations, fault specs relhost-sim would refuse, unordered times and
//! out-of-range numbers are [`PolicyError::Invalid`] naming the file, the
//! line and column and the field (`faults[1].fault`).

use std::time::Duration;

use serde::Deserialize;

use super::document::PolicyDocument;
use super::error::Doc;
use super::locate::{join_index, join_key};
use super::refs;
use super::{Comparator, MetricPath, Origin, PolicyError, WhenMissing};

const BUILTIN_PLAN: &str = include_str!("../../../policies/game-day-plan.json");

/// The longest recovery wait or schedule time a plan may ask for.
const MAX_PLAN_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The shortest poll interval of the recovery wait.
const MIN_POLL: Duration = Duration::from_millis(50);

/// A snapshot check of the hypothesis on any metric path.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomCheck {
    /// The check's name in the report.
    pub id: String,
    /// Where its value is read in the snapshot.
    pub metric: MetricPath,
    /// `<=` or `>=`.
    pub comparator: Comparator,
    /// The threshold.
    pub threshold: f64,
    /// What to do when the metric is absent.
    pub when_missing: WhenMissing,
}

/// The steady-state hypothesis: what must hold before the game day starts
/// and again after it (once the faults are cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Whether the drilled scenarios' synthetic probes must pass.
    pub probes: bool,
    /// Latency ceiling of every probe, in ms.
    pub probe_latency_ceiling_ms: f64,
    /// Minutes of snapshot history the snapshot checks look at (1–60).
    pub window_minutes: u32,
    /// Most circuits allowed open.
    pub max_open_circuits: Option<f64>,
    /// Largest share of requests in the window answered 5xx (0–1).
    pub max_5xx_ratio: Option<f64>,
    /// Highest p95 of any endpoint in the window, in ms.
    pub max_p95_ms: Option<f64>,
    /// Further snapshot checks.
    pub checks: Vec<CustomCheck>,
}

impl Default for Hypothesis {
    fn default() -> Self {
        Hypothesis {
            probes: true,
            probe_latency_ceiling_ms: 12_000.0,
            window_minutes: 1,
            max_open_circuits: Some(0.0),
            max_5xx_ratio: Some(0.01),
            max_p95_ms: Some(2_000.0),
            checks: Vec::new(),
        }
    }
}

/// What a schedule entry does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Add these fault specs (`chat:provider_outage=primary`) to those in force.
    Add(Vec<String>),
    /// Remove every fault.
    Clear,
}

/// One entry of the fault schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEntry {
    /// Time from the start of the drill.
    pub at: Duration,
    /// What happens then.
    pub action: FaultAction,
    /// The profiles this entry applies to; `None` for every drill.
    pub profiles: Option<Vec<String>>,
}

/// A step of one drill's schedule: at `at`, the whole fault set becomes `faults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultStep {
    /// Time from the start of the drill.
    pub at: Duration,
    /// The full set in force from then on (empty: cleared).
    pub faults: Vec<String>,
}

/// A validated game-day plan.
#[derive(Debug, Clone, PartialEq)]
pub struct GameDayPlan {
    origin: Origin,
    /// What the plan is for.
    pub description: Option<String>,
    /// The steady-state hypothesis.
    pub hypothesis: Hypothesis,
    /// The fault schedule, ordered by time.
    pub schedule: Vec<ScheduleEntry>,
    /// Longest wait for the hypothesis to hold again after the faults are cleared.
    pub recovery_timeout: Duration,
    /// Time between two checks of the hypothesis during the recovery wait.
    pub poll_interval: Duration,
}

impl GameDayPlan {
    /// Where the plan came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The schedule of the drill of `profile`: the fault set after each step.
    pub fn steps_for(&self, profile: &str) -> Vec<FaultStep> {
        let mut active: Vec<String> = Vec::new();
        let mut steps = Vec::new();
        for entry in &self.schedule {
            if let Some(profiles) = &entry.profiles
                && !profiles.iter().any(|p| p == profile)
            {
                continue;
            }
            match &entry.action {
                FaultAction::Add(specs) => active.extend(specs.iter().cloned()),
                FaultAction::Clear => active.clear(),
            }
            steps.push(FaultStep {
                at: entry.at,
                faults: active.clone(),
            });
        }
        steps
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    schema_version: u32,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    hypothesis: Option<RawHypothesis>,
    #[serde(default)]
    faults: Vec<RawEntry>,
    #[serde(default)]
    recovery_timeout: Option<String>,
    #[serde(default)]
    poll_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHypothesis {
    #[serde(default)]
    probes: Option<bool>,
    #[serde(default)]
    probe_latency_ceiling_ms: Option<f64>,
    #[serde(default)]
    window_minutes: Option<u32>,
    #[serde(default)]
    max_open_circuits: Option<f64>,
    #[serde(default)]
    max_5xx_ratio: Option<f64>,
    #[serde(default)]
    max_p95_ms: Option<f64>,
    #[serde(default)]
    checks: Vec<RawCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    metric: String,
    comparator: Comparator,
    threshold: f64,
    #[serde(default)]
    when_missing: WhenMissing,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    at: String,
    #[serde(default)]
    fault: Option<String>,
    #[serde(default)]
    faults: Option<Vec<String>>,
    #[serde(default)]
    clear: Option<bool>,
    #[serde(default)]
    profiles: Option<Vec<String>>,
}

impl PolicyDocument for GameDayPlan {
    const KIND: &'static str = "game-day plan";
    const BUILTIN_NAME: &'static str = "game-day-plan";
    const BUILTIN_TEXT: &'static str = BUILTIN_PLAN;
    type Context = ();

    fn parse(text: &str, origin: &Origin, _: &()) -> Result<Self, PolicyError> {
        parse_game_day_plan(text, origin)
    }
}

/// Parses and validates a plan's text; `origin` names it in errors.
fn parse_game_day_plan(text: &str, origin: &Origin) -> Result<GameDayPlan, PolicyError> {
    let doc = Doc::new(origin, text);
    let raw: RawPlan = doc.parse(text)?;
    refs::schema_version(&doc, raw.schema_version)?;
    let hypothesis = match raw.hypothesis {
        Some(h) => hypothesis(&doc, h)?,
        None => Hypothesis::default(),
    };
    let mut schedule = Vec::with_capacity(raw.faults.len());
    for (i, entry) in raw.faults.into_iter().enumerate() {
        let path = join_index("faults", i);
        let entry = schedule_entry(&doc, &path, entry)?;
        if let Some(last) = schedule.last().map(|e: &ScheduleEntry| e.at)
            && entry.at < last
        {
            return Err(doc.invalid(
                &join_key(&path, "at"),
                format!(
                    "{} is earlier than the entry before it ({}); list the schedule in time order",
                    humantime::format_duration(entry.at),
                    humantime::format_duration(last)
                ),
            ));
        }
        schedule.push(entry);
    }
    let recovery_timeout = match raw.recovery_timeout {
        Some(text) => duration(&doc, "recovery_timeout", &text)?,
        None => Duration::from_secs(60),
    };
    let poll_interval = match raw.poll_interval {
        Some(text) => duration(&doc, "poll_interval", &text)?,
        None => Duration::from_secs(1),
    };
    if poll_interval < MIN_POLL {
        return Err(doc.invalid("poll_interval", "expected at least 50ms"));
    }
    Ok(GameDayPlan {
        origin: origin.clone(),
        description: raw.description,
        hypothesis,
        schedule,
        recovery_timeout,
        poll_interval,
    })
}

fn duration(doc: &Doc<'_>, path: &str, text: &str) -> Result<Duration, PolicyError> {
    crate::policy::parse_duration_within(text, Duration::ZERO, MAX_PLAN_DURATION)
        .map_err(|e| doc.invalid(path, e))
}

fn non_negative(doc: &Doc<'_>, path: &str, value: Option<f64>) -> Result<(), PolicyError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(doc.invalid(
            path,
            format!("{v} is out of range; expected a finite number of at least 0"),
        )),
        _ => Ok(()),
    }
}

fn hypothesis(doc: &Doc<'_>, raw: RawHypothesis) -> Result<Hypothesis, PolicyError> {
    let defaults = Hypothesis::default();
    non_negative(
        doc,
        "hypothesis.probe_latency_ceiling_ms",
        raw.probe_latency_ceiling_ms,
    )?;
    non_negative(doc, "hypothesis.max_open_circuits", raw.max_open_circuits)?;
    non_negative(doc, "hypothesis.max_p95_ms", raw.max_p95_ms)?;
    if let Some(ratio) = raw.max_5xx_ratio
        && !(0.0..=1.0).contains(&ratio)
    {
        return Err(doc.invalid(
            "hypothesis.max_5xx_ratio",
            format!("{ratio} is out of range; expected a share from 0 to 1"),
        ));
    }
    let window_minutes = raw.window_minutes.unwrap_or(defaults.window_minutes);
    if !(1..=60).contains(&window_minutes) {
        return Err(doc.invalid(
            "hypothesis.window_minutes",
            format!("{window_minutes} is out of range; expected 1 to 60"),
        ));
    }
    let mut checks: Vec<CustomCheck> = Vec::new();
    for (i, raw) in raw.checks.into_iter().enumerate() {
        let path = join_index("hypothesis.checks", i);
        if raw.id.trim().is_empty() {
            return Err(doc.invalid(&join_key(&path, "id"), "expected a non-empty id"));
        }
        if checks.iter().any(|c| c.id == raw.id) {
            return Err(doc.invalid(
                &join_key(&path, "id"),
                format!("duplicate check id {:?}", raw.id),
            ));
        }
        let metric = raw
            .metric
            .parse::<MetricPath>()
            .map_err(|e| doc.invalid(&join_key(&path, "metric"), e.to_string()))?;
        non_negative(doc, &join_key(&path, "threshold"), Some(raw.threshold))?;
        checks.push(CustomCheck {
            id: raw.id,
            metric,
            comparator: raw.comparator,
            threshold: raw.threshold,
            when_missing: raw.when_missing,
        });
    }
    Ok(Hypothesis {
        probes: raw.probes.unwrap_or(defaults.probes),
        probe_latency_ceiling_ms: raw
            .probe_latency_ceiling_ms
            .unwrap_or(defaults.probe_latency_ceiling_ms),
        window_minutes,
        max_open_circuits: raw.max_open_circuits,
        max_5xx_ratio: raw.max_5xx_ratio,
        max_p95_ms: raw.max_p95_ms,
        checks,
    })
}

fn spec(doc: &Doc<'_>, path: &str, text: &str) -> Result<String, PolicyError> {
    text.parse::<relhost_sim::Fault>()
        .map_err(|e| doc.invalid(path, e.to_string()))?;
    Ok(text.trim().to_owned())
}

fn schedule_entry(doc: &Doc<'_>, path: &str, raw: RawEntry) -> Result<ScheduleEntry, PolicyError> {
    let at = duration(doc, &join_key(path, "at"), &raw.at)?;
    let given = usize::from(raw.fault.is_some())
        + usize::from(raw.faults.is_some())
        + usize::from(raw.clear.is_some());
    if given != 1 {
        return Err(doc.invalid(
            path,
            "expected exactly one of \"fault\" (a spec), \"faults\" (a list of specs) or \"clear\": true",
        ));
    }
    let action = if let Some(text) = raw.fault {
        FaultAction::Add(vec![spec(doc, &join_key(path, "fault"), &text)?])
    } else if let Some(list) = raw.faults {
        let list_path = join_key(path, "faults");
        if list.is_empty() {
            return Err(doc.invalid(&list_path, "expected at least one fault spec"));
        }
        let mut specs = Vec::with_capacity(list.len());
        for (j, text) in list.iter().enumerate() {
            specs.push(spec(doc, &join_index(&list_path, j), text)?);
        }
        FaultAction::Add(specs)
    } else if raw.clear == Some(true) {
        FaultAction::Clear
    } else {
        return Err(doc.invalid(
            &join_key(path, "clear"),
            "expected true (an entry that clears nothing has no effect)",
        ));
    };
    if let Some(profiles) = &raw.profiles {
        let list_path = join_key(path, "profiles");
        if profiles.is_empty() {
            return Err(doc.invalid(&list_path, "expected at least one profile name"));
        }
        if let Some(j) = profiles.iter().position(|p| p.trim().is_empty()) {
            return Err(doc.invalid(&join_index(&list_path, j), "expected a profile name"));
        }
    }
    Ok(ScheduleEntry {
        at,
        action,
        profiles: raw.profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GameDayPlan, PolicyError> {
        parse_game_day_plan(text, &Origin::File("plan.json".into()))
    }

    #[test]
    fn the_builtin_plan_is_valid_and_has_no_faults() {
        let plan = GameDayPlan::builtin(&()).expect("builtin plan");
        assert!(plan.schedule.is_empty());
        assert_eq!(plan.hypothesis.max_open_circuits, Some(0.0));
        assert!(plan.hypothesis.probes);
    }

    #[test]
    fn a_full_plan_parses_into_typed_values() {
        let plan = parse(
            r#"{ "schema_version": 1,
                 "hypothesis": { "probes": false, "window_minutes": 2, "max_open_circuits": 0,
                   "checks": [ { "id": "dlq", "metric": "tool_queue.dlq_size", "comparator": "<=",
                                 "threshold": 0, "when_missing": "skip" } ] },
                 "faults": [ { "at": "5s", "fault": "chat:provider_outage=primary" },
                             { "at": "8s", "faults": ["whatsapp:error_rate=0.2"], "profiles": ["burst"] },
                             { "at": "15s", "clear": true } ],
                 "recovery_timeout": "30s", "poll_interval": "250ms" }"#,
        )
        .expect("valid");
        let h = &plan.hypothesis;
        assert!(!h.probes);
        assert_eq!(h.window_minutes, 2);
        assert_eq!(h.max_5xx_ratio, None, "omitted checks are not made");
        assert_eq!(h.checks[0].when_missing, WhenMissing::Skip);
        assert_eq!(plan.schedule.len(), 3);
        assert_eq!(plan.schedule[2].action, FaultAction::Clear);
        assert_eq!(plan.recovery_timeout, Duration::from_secs(30));
        assert_eq!(plan.poll_interval, Duration::from_millis(250));
    }

    #[test]
    fn steps_accumulate_faults_per_profile() {
        let plan = parse(
            r#"{ "schema_version": 1, "faults": [
                 { "at": "1s", "fault": "chat:provider_outage=primary" },
                 { "at": "2s", "fault": "whatsapp:error_rate=0.5", "profiles": ["burst"] },
                 { "at": "3s", "clear": true },
                 { "at": "3s", "fault": "all:stall=1s,every=2s", "profiles": ["soak"] } ] }"#,
        )
        .expect("valid");
        let burst = plan.steps_for("burst");
        assert_eq!(burst.len(), 3);
        assert_eq!(burst[0].faults, ["chat:provider_outage=primary"]);
        assert_eq!(
            burst[1].faults,
            ["chat:provider_outage=primary", "whatsapp:error_rate=0.5"]
        );
        assert_eq!(burst[1].at, Duration::from_secs(2));
        assert!(burst[2].faults.is_empty());
        let soak = plan.steps_for("soak");
        assert_eq!(soak.len(), 3);
        assert_eq!(soak[2].faults, ["all:stall=1s,every=2s"]);
        assert_eq!(plan.steps_for("quick").len(), 2);
    }

    fn error_of(text: &str) -> String {
        parse(text).expect_err("invalid").to_string()
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = error_of(
            "{\n  \"schema_version\": 1,\n  \"faults\": [\n    { \"at\": \"5s\", \"fault\": \"chat:explode=1\" }\n  ]\n}",
        );
        assert!(e.starts_with("plan.json: line 4, column "), "{e}");
        assert!(e.contains("faults[0].fault"), "{e}");
        assert!(e.contains("explode"), "{e}");

        let e = error_of(
            "{\n  \"schema_version\": 1,\n  \"hypothesis\": {\n    \"max_opn_circuits\": 0\n  }\n}",
        );
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("unknown field `max_opn_circuits`"), "{e}");

        let e = error_of(r#"{"schema_version": 1, "faults": [{"at": "soon", "clear": true}]}"#);
        assert!(
            e.contains("faults[0].at") && e.contains("like 100ms"),
            "{e}"
        );

        let e = error_of(
            r#"{"schema_version": 1, "faults": [{"at": "5s", "clear": true}, {"at": "1s", "clear": true}]}"#,
        );
        assert!(
            e.contains("faults[1].at") && e.contains("time order"),
            "{e}"
        );

        let e = error_of(
            r#"{"schema_version": 1, "faults": [{"at": "5s", "clear": true, "fault": "chat:latency=1s"}]}"#,
        );
        assert!(e.contains("faults[0]") && e.contains("exactly one"), "{e}");

        let e = error_of(r#"{"schema_version": 1, "hypothesis": {"max_5xx_ratio": 2}}"#);
        assert!(e.contains("hypothesis.max_5xx_ratio"), "{e}");

        let e = error_of(r#"{"schema_version": 1, "hypothesis": {"window_minutes": 0}}"#);
        assert!(e.contains("hypothesis.window_minutes"), "{e}");

        let e = error_of(
            r#"{"schema_version": 1, "hypothesis": {"checks": [{"id": "x", "metric": "a[", "comparator": "<=", "threshold": 0}]}}"#,
        );
        assert!(e.contains("hypothesis.checks[0].metric"), "{e}");

        let e = error_of(r#"{"schema_version": 2}"#);
        assert!(e.contains("schema_version"), "{e}");

        let e = error_of("[1]");
        assert!(e.contains("expected a JSON object"), "{e}");

        let e = error_of(r#"{"schema_version": 1, "poll_interval": "1ms"}"#);
        assert!(e.contains("poll_interval"), "{e}");
    }
}
