//! Fault injection: the spec syntax, its JSON form, and seeded decisions.
//!
//! A fault is `ENDPOINT:KIND=VALUE[,PARAM=VALUE...]`, e.g.
//! `chat:latency=200ms,jitter=50ms` or `whatsapp:error_rate=0.05,status=503`.
//! The JSON form is the same pairs as an object:
//! `{"endpoint":"chat","latency":"200ms","jitter":"50ms"}`. Decisions are
//! drawn from a [`SeededStream`] per endpoint, so a seed and an order of
//! requests give the same faults every run.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::rng::{SeededStream, fnv1a};

/// Where a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultEndpoint {
    /// `POST /api/chat`.
    Chat,
    /// `POST /api/gmail/push`.
    Gmail,
    /// `/api/whatsapp/webhook` (POST and GET).
    Whatsapp,
    /// `/api/auth/*` and `/api/threads`.
    Auth,
    /// The function API: `/api/query`, `/api/mutation`, `/api/action`.
    Functions,
    /// The web-search tool provider (tool jobs).
    Serper,
    /// The product-search tool provider.
    Ebay,
    /// The global-search tool provider.
    GlobalSearch,
    /// The admission store (Redis), when `ADMISSION_REDIS_ENABLED`.
    Redis,
    /// Google's OAuth token endpoint, called by the Gmail OAuth callback.
    GmailOauth,
    /// All ten of the above.
    All,
}

/// Endpoint names accepted in a spec.
pub const VALID_ENDPOINTS: &str =
    "chat, gmail, whatsapp, auth, functions, serper, ebay, global_search, redis, gmail_oauth, all";
/// Fault names accepted in a spec.
pub const VALID_FAULTS: &str =
    "latency, error_rate, reset_rate, stall, slow_stream, truncate_after, provider_outage";

impl FaultEndpoint {
    const CONCRETE: [FaultEndpoint; 10] = [
        Self::Chat,
        Self::Gmail,
        Self::Whatsapp,
        Self::Auth,
        Self::Functions,
        Self::Serper,
        Self::Ebay,
        Self::GlobalSearch,
        Self::Redis,
        Self::GmailOauth,
    ];

    /// The endpoint's name in specs and statistics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Gmail => "gmail",
            Self::Whatsapp => "whatsapp",
            Self::Auth => "auth",
            Self::Functions => "functions",
            Self::Serper => "serper",
            Self::Ebay => "ebay",
            Self::GlobalSearch => "global_search",
            Self::Redis => "redis",
            Self::GmailOauth => "gmail_oauth",
            Self::All => "all",
        }
    }

    fn parse(s: &str) -> Result<Self, FaultSpecError> {
        Ok(match s.trim() {
            "chat" => Self::Chat,
            "gmail" => Self::Gmail,
            "whatsapp" => Self::Whatsapp,
            "auth" => Self::Auth,
            "functions" => Self::Functions,
            "serper" => Self::Serper,
            "ebay" => Self::Ebay,
            "global_search" => Self::GlobalSearch,
            "redis" => Self::Redis,
            "gmail_oauth" => Self::GmailOauth,
            "all" => Self::All,
            other => return Err(FaultSpecError::UnknownEndpoint(other.to_owned())),
        })
    }

    /// Whether this is a single dependency (a tool provider, the admission
    /// store, the OAuth token endpoint) that an outage takes down whole.
    pub(crate) fn is_dependency(self) -> bool {
        matches!(
            self,
            Self::Serper | Self::Ebay | Self::GlobalSearch | Self::Redis | Self::GmailOauth
        )
    }

    /// Index of a concrete endpoint (All has none).
    pub(crate) fn index(self) -> Option<usize> {
        match self {
            Self::Chat => Some(0),
            Self::Gmail => Some(1),
            Self::Whatsapp => Some(2),
            Self::Auth => Some(3),
            Self::Functions => Some(4),
            Self::Serper => Some(5),
            Self::Ebay => Some(6),
            Self::GlobalSearch => Some(7),
            Self::Redis => Some(8),
            Self::GmailOauth => Some(9),
            Self::All => None,
        }
    }
}

/// Which simulated provider an outage takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageProvider {
    /// The primary only.
    Primary,
    /// The secondary only.
    Secondary,
    /// Both.
    Both,
}

/// How a provider in outage fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageMode {
    /// It answers an error at once.
    Error,
    /// It never answers: the provider timeout fires.
    Hang,
}

/// One kind of fault with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Added latency before the handler: `fixed` plus uniform `0..=jitter`.
    Latency {
        /// Always added.
        fixed: Duration,
        /// Up to this much more, drawn per request.
        jitter: Duration,
    },
    /// A share of requests answered with `status` and a JSON error.
    ErrorRate {
        /// Share of requests, 0 to 1.
        rate: f64,
        /// Status code of the injected error (400 to 599).
        status: u16,
    },
    /// A share of requests whose connection is aborted (TCP reset).
    ResetRate {
        /// Share of requests, 0 to 1.
        rate: f64,
    },
    /// Periodic stalls: in every period of `every`, requests arriving in
    /// its first `duration` wait until the stall ends.
    Stall {
        /// Period.
        every: Duration,
        /// Stall length at the start of each period.
        duration: Duration,
    },
    /// Chat token gap multiplied by `factor` plus `add`.
    SlowStream {
        /// Factor on the gap.
        factor: f64,
        /// Added to the gap.
        add: Duration,
    },
    /// Chat streams cut (body error) after `after_tokens` tokens.
    TruncateStream {
        /// Tokens sent before the cut.
        after_tokens: u32,
        /// Share of streams cut, 0 to 1.
        rate: f64,
    },
    /// The simulated provider(s) fail.
    ProviderOutage {
        /// Which provider.
        provider: OutageProvider,
        /// How it fails.
        mode: OutageMode,
    },
}

/// A fault on an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Where it applies.
    pub endpoint: FaultEndpoint,
    /// What it does.
    pub kind: FaultKind,
}

/// Why a fault spec (flag or JSON) is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    /// No `ENDPOINT:` prefix.
    #[error("expected ENDPOINT:FAULT=VALUE[,PARAM=VALUE...], e.g. chat:latency=200ms,jitter=50ms")]
    Syntax,
    /// Unknown endpoint name.
    #[error("unknown endpoint {0:?}; valid endpoints: {VALID_ENDPOINTS}")]
    UnknownEndpoint(String),
    /// Unknown fault name.
    #[error("unknown fault {0:?}; valid faults: {VALID_FAULTS}")]
    UnknownFault(String),
    /// Two fault names in one spec.
    #[error("one fault per spec, got {0:?} and {1:?}")]
    TwoFaults(String, String),
    /// A parameter the fault does not take.
    #[error("fault {fault} takes no parameter {param:?}; it takes: {valid}")]
    UnknownParam {
        /// The fault.
        fault: &'static str,
        /// The parameter given.
        param: String,
        /// Parameters it takes.
        valid: &'static str,
    },
    /// A missing required parameter.
    #[error("fault {fault} needs {param}")]
    MissingParam {
        /// The fault.
        fault: &'static str,
        /// The parameter.
        param: &'static str,
    },
    /// A value that does not parse.
    #[error("{key}={value:?}: expected {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The expected form.
        expected: &'static str,
    },
    /// A chat-only fault on another endpoint.
    #[error(
        "fault {fault} does not apply to {endpoint} (slow_stream and truncate_after: chat or all; provider_outage: chat, serper, ebay, global_search, redis, gmail_oauth or all)"
    )]
    ChatOnly {
        /// The fault.
        fault: &'static str,
        /// The endpoint given.
        endpoint: &'static str,
    },
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The longest duration a fault takes (latency, stall, period).
const MAX_FAULT_DURATION: Duration = Duration::from_secs(3600);

fn parse_dur(key: &str, v: &str) -> Result<Duration, FaultSpecError> {
    let v = v.trim();
    let parsed = match v.parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => humantime::parse_duration(v).ok(),
    };
    parsed
        .filter(|d| *d <= MAX_FAULT_DURATION)
        .ok_or_else(|| FaultSpecError::InvalidValue {
            key: key.to_owned(),
            value: v.to_owned(),
            expected: "a duration of at most 1h like 200ms or 2s (a bare number is milliseconds)",
        })
}

fn parse_rate(key: &str, v: &str) -> Result<f64, FaultSpecError> {
    match v.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(FaultSpecError::InvalidValue {
            key: key.to_owned(),
            value: v.to_owned(),
            expected: "a share from 0 to 1",
        }),
    }
}

const KINDS: [&str; 7] = [
    "latency",
    "error_rate",
    "reset_rate",
    "stall",
    "slow_stream",
    "truncate_after",
    "provider_outage",
];

impl Fault {
    /// Builds a fault from an endpoint name and `key=value` pairs, exactly
    /// one of whose keys names the fault.
    pub fn from_pairs(endpoint: &str, pairs: &[(String, String)]) -> Result<Self, FaultSpecError> {
        let endpoint = FaultEndpoint::parse(endpoint)?;
        let mut kind: Option<(&str, &str)> = None;
        for (k, v) in pairs {
            if let Some(known) = KINDS.iter().find(|n| **n == k.as_str()) {
                if let Some((first, _)) = kind {
                    return Err(FaultSpecError::TwoFaults(first.to_owned(), k.clone()));
                }
                kind = Some((known, v.as_str()));
            }
        }
        let Some((name, value)) = kind else {
            let first = pairs.first().map(|(k, _)| k.clone()).unwrap_or_default();
            return Err(FaultSpecError::UnknownFault(first));
        };
        let (params, valid): (&[&str], &'static str) = match name {
            "latency" => (&["jitter"], "jitter"),
            "error_rate" => (&["status"], "status"),
            "stall" => (&["every"], "every"),
            "slow_stream" => (&["add"], "add"),
            "truncate_after" => (&["rate"], "rate"),
            "provider_outage" => (&["mode"], "mode"),
            _ => (&[], "none"),
        };
        let fault_name: &'static str = KINDS.iter().find(|n| **n == name).copied().unwrap_or("?");
        let get = |p: &str| pairs.iter().find(|(k, _)| k == p).map(|(_, v)| v.as_str());
        for (k, _) in pairs {
            if k != name && !params.contains(&k.as_str()) {
                return Err(FaultSpecError::UnknownParam {
                    fault: fault_name,
                    param: k.clone(),
                    valid,
                });
            }
        }
        let kind = match name {
            "latency" => FaultKind::Latency {
                fixed: parse_dur("latency", value)?,
                jitter: get("jitter")
                    .map(|v| parse_dur("jitter", v))
                    .transpose()?
                    .unwrap_or_default(),
            },
            "error_rate" => {
                let status = match get("status") {
                    None => 503,
                    Some(v) => match v.trim().parse::<u16>() {
                        Ok(s) if (400..=599).contains(&s) => s,
                        _ => {
                            return Err(FaultSpecError::InvalidValue {
                                key: "status".into(),
                                value: v.to_owned(),
                                expected: "an HTTP status from 400 to 599",
                            });
                        }
                    },
                };
                FaultKind::ErrorRate {
                    rate: parse_rate("error_rate", value)?,
                    status,
                }
            }
            "reset_rate" => FaultKind::ResetRate {
                rate: parse_rate("reset_rate", value)?,
            },
            "stall" => {
                let duration = parse_dur("stall", value)?;
                let every = get("every").ok_or(FaultSpecError::MissingParam {
                    fault: "stall",
                    param: "every=DURATION (the period)",
                })?;
                let every = parse_dur("every", every)?;
                if every.is_zero() || duration >= every {
                    return Err(FaultSpecError::InvalidValue {
                        key: "every".into(),
                        value: fmt_dur(every),
                        expected: "a period longer than the stall",
                    });
                }
                FaultKind::Stall { every, duration }
            }
            "slow_stream" => {
                let factor = match value.trim().parse::<f64>() {
                    Ok(f) if (1.0..=1000.0).contains(&f) => f,
                    _ => {
                        return Err(FaultSpecError::InvalidValue {
                            key: "slow_stream".into(),
                            value: value.to_owned(),
                            expected: "a factor from 1 to 1000 on the token gap",
                        });
                    }
                };
                FaultKind::SlowStream {
                    factor,
                    add: get("add")
                        .map(|v| parse_dur("add", v))
                        .transpose()?
                        .unwrap_or_default(),
                }
            }
            "truncate_after" => FaultKind::TruncateStream {
                after_tokens: value.trim().parse::<u32>().map_err(|_| {
                    FaultSpecError::InvalidValue {
                        key: "truncate_after".into(),
                        value: value.to_owned(),
                        expected: "a number of tokens",
                    }
                })?,
                rate: get("rate")
                    .map(|v| parse_rate("rate", v))
                    .transpose()?
                    .unwrap_or(1.0),
            },
            _ => {
                let provider = match value.trim() {
                    "primary" => OutageProvider::Primary,
                    "secondary" => OutageProvider::Secondary,
                    "both" => OutageProvider::Both,
                    _ => {
                        return Err(FaultSpecError::InvalidValue {
                            key: "provider_outage".into(),
                            value: value.to_owned(),
                            expected: "primary, secondary or both",
                        });
                    }
                };
                let mode = match get("mode").map(str::trim) {
                    None | Some("error") => OutageMode::Error,
                    Some("hang") => OutageMode::Hang,
                    Some(other) => {
                        return Err(FaultSpecError::InvalidValue {
                            key: "mode".into(),
                            value: other.to_owned(),
                            expected: "error or hang",
                        });
                    }
                };
                FaultKind::ProviderOutage { provider, mode }
            }
        };
        // A dependency is one provider: any outage takes it down.
        let chat_only = match kind {
            FaultKind::SlowStream { .. } | FaultKind::TruncateStream { .. } => true,
            FaultKind::ProviderOutage { .. } => !endpoint.is_dependency(),
            _ => false,
        };
        if chat_only && !matches!(endpoint, FaultEndpoint::Chat | FaultEndpoint::All) {
            return Err(FaultSpecError::ChatOnly {
                fault: fault_name,
                endpoint: endpoint.name(),
            });
        }
        Ok(Fault { endpoint, kind })
    }

    /// Parses the JSON form: an object of the spec's pairs plus `endpoint`
    /// (values may be strings or numbers; numbers for durations are ms), or
    /// a spec string.
    pub fn from_json(v: &Value) -> Result<Self, FaultSpecError> {
        match v {
            Value::String(s) => s.parse(),
            Value::Object(map) => {
                let endpoint = match map.get("endpoint") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => return Err(FaultSpecError::Syntax),
                };
                let mut pairs = Vec::with_capacity(map.len());
                for (k, v) in map {
                    if k == "endpoint" || k == "spec" {
                        continue;
                    }
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            return Err(FaultSpecError::InvalidValue {
                                key: k.clone(),
                                value: v.to_string(),
                                expected: "a string or a number",
                            });
                        }
                    };
                    pairs.push((k.clone(), s));
                }
                Fault::from_pairs(endpoint, &pairs)
            }
            _ => Err(FaultSpecError::Syntax),
        }
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        match &self.kind {
            FaultKind::Latency { fixed, jitter } => {
                let mut v = vec![("latency", fmt_dur(*fixed))];
                if !jitter.is_zero() {
                    v.push(("jitter", fmt_dur(*jitter)));
                }
                v
            }
            FaultKind::ErrorRate { rate, status } => {
                vec![
                    ("error_rate", rate.to_string()),
                    ("status", status.to_string()),
                ]
            }
            FaultKind::ResetRate { rate } => vec![("reset_rate", rate.to_string())],
            FaultKind::Stall { every, duration } => {
                vec![("stall", fmt_dur(*duration)), ("every", fmt_dur(*every))]
            }
            FaultKind::SlowStream { factor, add } => {
                let mut v = vec![("slow_stream", factor.to_string())];
                if !add.is_zero() {
                    v.push(("add", fmt_dur(*add)));
                }
                v
            }
            FaultKind::TruncateStream { after_tokens, rate } => {
                vec![
                    ("truncate_after", after_tokens.to_string()),
                    ("rate", rate.to_string()),
                ]
            }
            FaultKind::ProviderOutage { provider, mode } => vec![
                (
                    "provider_outage",
                    match provider {
                        OutageProvider::Primary => "primary",
                        OutageProvider::Secondary => "secondary",
                        OutageProvider::Both => "both",
                    }
                    .to_owned(),
                ),
                (
                    "mode",
                    match mode {
                        OutageMode::Error => "error",
                        OutageMode::Hang => "hang",
                    }
                    .to_owned(),
                ),
            ],
        }
    }

    /// The JSON form, with the spec string under `spec`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("endpoint".into(), self.endpoint.name().into());
        for (k, v) in self.pairs() {
            m.insert(k.into(), v.into());
        }
        m.insert("spec".into(), self.to_string().into());
        Value::Object(m)
    }

    /// The fault's name (`latency`, `error_rate`, ...).
    pub fn kind_name(&self) -> &'static str {
        self.pairs().first().map(|(k, _)| *k).unwrap_or("?")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.endpoint.name())?;
        for (i, (k, v)) in self.pairs().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Fault {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (endpoint, rest) = s.trim().split_once(':').ok_or(FaultSpecError::Syntax)?;
        let mut pairs = Vec::new();
        for part in rest.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').ok_or(FaultSpecError::Syntax)?;
            pairs.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        if pairs.is_empty() {
            return Err(FaultSpecError::Syntax);
        }
        Fault::from_pairs(endpoint, &pairs)
    }
}

/// The merged faults of one concrete endpoint (later faults win per kind).
#[derive(Debug, Clone, Default)]
pub(crate) struct EndpointFaults {
    latency: Option<(Duration, Duration)>,
    error: Option<(f64, u16)>,
    reset: Option<f64>,
    stall: Option<(Duration, Duration)>,
    slow: Option<(f64, Duration)>,
    truncate: Option<(u32, f64)>,
    outage: Option<(OutageProvider, OutageMode)>,
}

impl EndpointFaults {
    fn apply(&mut self, k: &FaultKind) {
        match *k {
            FaultKind::Latency { fixed, jitter } => self.latency = Some((fixed, jitter)),
            FaultKind::ErrorRate { rate, status } => self.error = Some((rate, status)),
            FaultKind::ResetRate { rate } => self.reset = Some(rate),
            FaultKind::Stall { every, duration } => self.stall = Some((every, duration)),
            FaultKind::SlowStream { factor, add } => self.slow = Some((factor, add)),
            FaultKind::TruncateStream { after_tokens, rate } => {
                self.truncate = Some((after_tokens, rate));
            }
            FaultKind::ProviderOutage { provider, mode } => self.outage = Some((provider, mode)),
        }
    }
}

#[derive(Debug)]
struct FaultSet {
    list: Vec<Fault>,
    per: [EndpointFaults; FaultEndpoint::CONCRETE.len()],
    since: Instant,
}

impl FaultSet {
    fn new(list: Vec<Fault>) -> Self {
        let mut per: [EndpointFaults; FaultEndpoint::CONCRETE.len()] = Default::default();
        for f in &list {
            match f.endpoint.index() {
                Some(i) => per[i].apply(&f.kind),
                None => per.iter_mut().for_each(|p| p.apply(&f.kind)),
            }
        }
        Self {
            list,
            per,
            since: Instant::now(),
        }
    }
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decision {
    /// Wait this long first (stall + latency).
    pub(crate) delay: Duration,
    /// Abort the connection.
    pub(crate) reset: bool,
    /// Answer this error status.
    pub(crate) error_status: Option<u16>,
    /// Token gap factor and addition.
    pub(crate) slow: Option<(f64, Duration)>,
    /// Cut the stream after this many tokens.
    pub(crate) truncate_after: Option<u32>,
    /// Provider outage.
    pub(crate) outage: Option<(OutageProvider, OutageMode)>,
    /// Names of the faults that fired, for the snapshot.
    pub(crate) fired: FiredSet,
}

/// Which fault kinds fired on a request (bit set over [`KINDS`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FiredSet(u8);

impl FiredSet {
    fn set(&mut self, kind: usize) {
        self.0 |= 1 << kind;
    }

    /// The names of the faults that fired.
    pub(crate) fn names(self) -> impl Iterator<Item = &'static str> {
        KINDS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}

/// How a call to a dependency (a tool provider, the admission store,
/// Google's token endpoint) ended under the faults decided for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DependencyAnswer {
    /// It answered.
    Ok,
    /// It failed: an error, a reset or an outage in `error` mode.
    Error,
    /// It never answered (an outage in `hang` mode): the caller gave up.
    Hang,
}

/// The live fault set with its seeded decision streams.
#[derive(Debug)]
pub(crate) struct Faults {
    any: AtomicBool,
    set: RwLock<Arc<FaultSet>>,
    streams: [SeededStream; FaultEndpoint::CONCRETE.len()],
}

impl Faults {
    /// Faults from `list`, decided with `seed`.
    pub(crate) fn new(seed: u64, list: Vec<Fault>) -> Self {
        let streams = FaultEndpoint::CONCRETE.map(|e| SeededStream::new(seed, fnv1a(e.name())));
        let f = Self {
            any: AtomicBool::new(false),
            set: RwLock::new(Arc::new(FaultSet::new(Vec::new()))),
            streams,
        };
        f.replace(list);
        f
    }

    /// Replaces every fault.
    pub(crate) fn replace(&self, list: Vec<Fault>) {
        let any = !list.is_empty();
        let new = Arc::new(FaultSet::new(list));
        match self.set.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        self.any.store(any, Ordering::Release);
    }

    /// The faults in force.
    pub(crate) fn list(&self) -> Vec<Fault> {
        self.current().list.clone()
    }

    fn current(&self) -> Arc<FaultSet> {
        match self.set.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// One call to the dependency `endpoint`: decides its faults, counts
    /// the ones that fired, waits what the call takes (`latency` plus the
    /// injected latency, or `hang` when it hangs) and says how it ended.
    pub(crate) async fn call_dependency(
        &self,
        endpoint: FaultEndpoint,
        stats: &crate::stats::Stats,
        latency: Duration,
        hang: Duration,
    ) -> DependencyAnswer {
        let (wait, answer) = match self.decide(endpoint) {
            None => (latency, DependencyAnswer::Ok),
            Some(d) => {
                for kind in d.fired.names() {
                    stats.count(("fault", endpoint.name(), kind), 1);
                }
                match d.outage {
                    Some((_, OutageMode::Hang)) => (hang, DependencyAnswer::Hang),
                    Some((_, OutageMode::Error)) => (latency + d.delay, DependencyAnswer::Error),
                    None if d.reset || d.error_status.is_some() => {
                        (latency + d.delay, DependencyAnswer::Error)
                    }
                    None => (latency + d.delay, DependencyAnswer::Ok),
                }
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        answer
    }

    /// Decides the faults of one request on `endpoint` (a concrete one).
    pub(crate) fn decide(&self, endpoint: FaultEndpoint) -> Option<Decision> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let i = endpoint.index()?;
        let set = self.current();
        let p = &set.per[i];
        let stream = &self.streams[i];
        let k = stream.next_index();
        let mut d = Decision::default();
        if let Some((every, dur)) = p.stall {
            let every_ns = every.as_nanos().max(1);
            let phase = set.since.elapsed().as_nanos() % every_ns;
            let dur_ns = dur.as_nanos();
            if phase < dur_ns {
                d.delay += Duration::from_nanos(u64::try_from(dur_ns - phase).unwrap_or(u64::MAX));
                d.fired.set(3);
            }
        }
        if let Some((fixed, jitter)) = p.latency {
            let j = jitter.mul_f64(stream.unit(k, 1));
            d.delay += fixed + j;
            d.fired.set(0);
        }
        if let Some(rate) = p.reset
            && stream.unit(k, 2) < rate
        {
            d.reset = true;
            d.fired.set(2);
        }
        if let Some((rate, status)) = p.error
            && !d.reset
            && stream.unit(k, 3) < rate
        {
            d.error_status = Some(status);
            d.fired.set(1);
        }
        if let Some(slow) = p.slow {
            d.slow = Some(slow);
            d.fired.set(4);
        }
        if let Some((after, rate)) = p.truncate
            && stream.unit(k, 4) < rate
        {
            d.truncate_after = Some(after);
            d.fired.set(5);
        }
        if let Some(outage) = p.outage {
            d.outage = Some(outage);
            d.fired.set(6);
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_round_trips() {
        for spec in [
            "chat:latency=200ms,jitter=50ms",
            "whatsapp:error_rate=0.05,status=503",
            "gmail:reset_rate=0.1",
            "all:stall=2s,every=10s",
            "chat:slow_stream=3,add=10ms",
            "chat:truncate_after=5,rate=1",
            "chat:provider_outage=primary,mode=error",
            "all:provider_outage=both,mode=hang",
        ] {
            let f: Fault = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
            let again: Fault = f.to_string().parse().expect("round trip");
            assert_eq!(f, again, "{spec}");
            let json = Fault::from_json(&f.to_json()).expect("json round trip");
            assert_eq!(f, json, "{spec}");
        }
    }

    #[test]
    fn defaults_and_bare_ms() {
        let f: Fault = "auth:latency=150".parse().expect("ok");
        assert_eq!(
            f.kind,
            FaultKind::Latency {
                fixed: Duration::from_millis(150),
                jitter: Duration::ZERO
            }
        );
        let f: Fault = "gmail:error_rate=1".parse().expect("ok");
        assert_eq!(
            f.kind,
            FaultKind::ErrorRate {
                rate: 1.0,
                status: 503
            }
        );
    }

    #[test]
    fn errors_name_valid_choices() {
        let e = "chat:explode=1".parse::<Fault>().expect_err("bad");
        assert!(e.to_string().contains("valid faults: latency"), "{e}");
        let e = "mail:latency=1ms".parse::<Fault>().expect_err("bad");
        assert!(e.to_string().contains("valid endpoints: chat"), "{e}");
        let e = "latency=1ms".parse::<Fault>().expect_err("bad");
        assert_eq!(e, FaultSpecError::Syntax);
        let e = "chat:latency=fast".parse::<Fault>().expect_err("bad");
        assert!(e.to_string().contains("duration"), "{e}");
        let e = "chat:error_rate=2".parse::<Fault>().expect_err("bad");
        assert!(e.to_string().contains("0 to 1"), "{e}");
        let e = "chat:error_rate=0.1,status=200"
            .parse::<Fault>()
            .expect_err("bad");
        assert!(e.to_string().contains("400 to 599"), "{e}");
        let e = "gmail:slow_stream=2".parse::<Fault>().expect_err("bad");
        assert!(e.to_string().contains("chat"), "{e}");
        let e = "chat:stall=2s".parse::<Fault>().expect_err("bad");
        assert!(e.to_string().contains("every"), "{e}");
        let e = "chat:latency=1ms,status=500"
            .parse::<Fault>()
            .expect_err("bad");
        assert!(e.to_string().contains("takes no parameter"), "{e}");
        let e = "chat:latency=1ms,reset_rate=0.5"
            .parse::<Fault>()
            .expect_err("bad");
        assert!(matches!(e, FaultSpecError::TwoFaults(..)), "{e}");
        let e =
            Fault::from_json(&serde_json::json!({"endpoint": "chat", "boom": 1})).expect_err("bad");
        assert!(e.to_string().contains("valid faults"), "{e}");
    }

    #[test]
    fn decisions_are_deterministic() {
        let list = vec![
            "gmail:error_rate=0.5,status=500"
                .parse::<Fault>()
                .expect("ok"),
        ];
        let a = Faults::new(9, list.clone());
        let b = Faults::new(9, list.clone());
        let c = Faults::new(10, list);
        let run = |f: &Faults| -> Vec<Option<u16>> {
            (0..64)
                .map(|_| f.decide(FaultEndpoint::Gmail).and_then(|d| d.error_status))
                .collect()
        };
        let (ra, rb, rc) = (run(&a), run(&b), run(&c));
        assert_eq!(ra, rb);
        assert_ne!(ra, rc);
        let errors = ra.iter().filter(|s| s.is_some()).count();
        assert!((16..=48).contains(&errors), "{errors}");
        // Other endpoints are untouched.
        assert!(
            a.decide(FaultEndpoint::Chat)
                .is_some_and(|d| d.error_status.is_none())
        );
    }

    #[test]
    fn later_faults_win_and_all_applies_everywhere() {
        let f = Faults::new(
            1,
            vec![
                "all:latency=10ms".parse().expect("ok"),
                "chat:latency=20ms".parse().expect("ok"),
            ],
        );
        let d = f.decide(FaultEndpoint::Chat).expect("some");
        assert_eq!(d.delay, Duration::from_millis(20));
        let d = f.decide(FaultEndpoint::Auth).expect("some");
        assert_eq!(d.delay, Duration::from_millis(10));
        f.replace(Vec::new());
        assert!(f.decide(FaultEndpoint::Chat).is_none());
    }
}
