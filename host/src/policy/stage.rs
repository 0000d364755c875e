//! Validated stage types: [`Stage`], [`Load`] and [`Scale`].

use std::time::Duration;

use super::error::PolicyError;

/// Upper bound on a stage's arrival rate (per second), to catch typos.
pub const MAX_RATE: f64 = 10_000_000.0;
/// Upper bound on a stage's concurrency, to catch typos.
pub const MAX_CONCURRENCY: u32 = 10_000_000;

/// How a stage generates load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open model: arrivals per second, scheduled at intended times whatever
    /// the target's latency.
    Rate(f64),
    /// Closed model: this many workers, each sending its next request when the
    /// previous one ends (plus the stage's think time).
    Concurrency(u32),
}

impl Load {
    /// The load as a number (rate or worker count), for ramps and progress lines.
    pub fn level(&self) -> f64 {
        match *self {
            Load::Rate(r) => r,
            Load::Concurrency(c) => f64::from(c),
        }
    }
}

/// One stage of a scenario's plan. Built from a profile (validated) or by the
/// engine from a plugin's default stages (check those with
/// [`Stage::validate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Name, unique within the scenario (`warmup`, `steady`, ...).
    pub name: String,
    /// Arrival rate or concurrency.
    pub load: Load,
    /// How long the stage runs (> 0).
    pub duration: Duration,
    /// During the first `ramp` of the stage the rate (or number of active
    /// workers) rises linearly from the previous stage's level (0 for the
    /// first stage) to this stage's; `ramp <= duration`, zero for a step.
    pub ramp: Duration,
    /// Stop the stage early once this many requests were sent.
    pub max_requests: Option<u64>,
    /// Closed model only: pause between a worker's requests (zero otherwise).
    pub think_time: Duration,
}

/// A problem with one field of a [`Stage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StageProblem {
    /// The field as named in profile files (`rate`, `ramp`, `requests`, ...).
    pub field: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> StageProblem {
    StageProblem {
        field,
        message: message.into(),
    }
}

impl Stage {
    /// Checks the stage's invariants (those a profile file is held to).
    pub fn validate(&self) -> Result<(), StageProblem> {
        if self.name.trim().is_empty() {
            return Err(problem("name", "must not be empty"));
        }
        match self.load {
            Load::Rate(r) if !(r.is_finite() && r > 0.0 && r <= MAX_RATE) => {
                return Err(problem(
                    "rate",
                    format!(
                        "expected arrivals per second greater than 0 and at most {MAX_RATE}, got {r}"
                    ),
                ));
            }
            Load::Concurrency(c) if c == 0 || c > MAX_CONCURRENCY => {
                return Err(problem(
                    "concurrency",
                    format!(
                        "expected a whole number of concurrent workers between 1 and {MAX_CONCURRENCY}, got {c}"
                    ),
                ));
            }
            _ => {}
        }
        if self.duration.is_zero() {
            return Err(problem(
                "duration",
                "expected a duration greater than 0, got 0s",
            ));
        }
        if self.ramp > self.duration {
            return Err(problem(
                "ramp",
                format!(
                    "ramp {} is longer than the stage's duration {}; expected at most the duration",
                    humantime::format_duration(self.ramp),
                    humantime::format_duration(self.duration)
                ),
            ));
        }
        if self.max_requests == Some(0) {
            return Err(problem(
                "requests",
                "expected a request cap of at least 1, got 0",
            ));
        }
        if matches!(self.load, Load::Rate(_)) && !self.think_time.is_zero() {
            return Err(problem(
                "think_time",
                "applies only to closed-model stages (`concurrency`), not to `rate` stages",
            ));
        }
        Ok(())
    }

    /// This stage with the scale factors applied: `load` multiplies the
    /// arrival rate and the request cap, `concurrency` the worker count (at
    /// least 1), `duration` the duration and the ramp. Factors must be
    /// finite and positive (see [`Scale::check`]).
    pub fn scaled(&self, scale: Scale) -> Stage {
        let load = match self.load {
            Load::Rate(r) => Load::Rate((r * scale.load).min(MAX_RATE)),
            Load::Concurrency(c) => {
                let scaled = (f64::from(c) * scale.concurrency).round();
                Load::Concurrency(scaled.clamp(1.0, f64::from(MAX_CONCURRENCY)) as u32)
            }
        };
        Stage {
            name: self.name.clone(),
            load,
            duration: self.duration.mul_f64(scale.duration),
            ramp: self.ramp.mul_f64(scale.duration),
            max_requests: self
                .max_requests
                .map(|n| ((n as f64 * scale.load).round() as u64).max(1)),
            think_time: self.think_time,
        }
    }
}

/// Scale factors for a scenario's stages (the seed's `--chat-load-scale`,
/// `--chat-concurrency-scale`, `--chat-duration-scale`). [`Scale::default`]
/// is 1, 1, 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Multiplies arrival rates and request caps.
    pub load: f64,
    /// Multiplies concurrency.
    pub concurrency: f64,
    /// Multiplies durations and ramps.
    pub duration: f64,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            load: 1.0,
            concurrency: 1.0,
            duration: 1.0,
        }
    }
}

impl Scale {
    /// Checks that every factor is finite and greater than 0.
    pub fn check(&self) -> Result<(), PolicyError> {
        for (which, value) in [
            ("load", self.load),
            ("concurrency", self.concurrency),
            ("duration", self.duration),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(PolicyError::InvalidScale { which, value });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(load: Load) -> Stage {
        Stage {
            name: "s".into(),
            load,
            duration: Duration::from_secs(10),
            ramp: Duration::from_secs(2),
            max_requests: Some(100),
            think_time: Duration::ZERO,
        }
    }

    #[test]
    fn scaling() {
        let scale = Scale {
            load: 2.5,
            concurrency: 0.5,
            duration: 0.5,
        };
        let open = stage(Load::Rate(20.0)).scaled(scale);
        assert_eq!(open.load, Load::Rate(50.0));
        assert_eq!(open.max_requests, Some(250));
        assert_eq!(open.duration, Duration::from_secs(5));
        assert_eq!(open.ramp, Duration::from_secs(1));
        let closed = stage(Load::Concurrency(1)).scaled(scale);
        assert_eq!(closed.load, Load::Concurrency(1), "at least one worker");
        let closed = stage(Load::Concurrency(1000)).scaled(scale);
        assert_eq!(closed.load, Load::Concurrency(500));
        assert_eq!(closed.max_requests, Some(250), "load scales request totals");
        assert!(Scale::default().check().is_ok());
        let err = Scale {
            load: 0.0,
            ..Scale::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid load scale 0: expected a finite number greater than 0"
        );
    }

    #[test]
    fn validation() {
        assert!(stage(Load::Rate(1.0)).validate().is_ok());
        let e = stage(Load::Rate(f64::NAN)).validate().unwrap_err();
        assert_eq!(e.field, "rate");
        let e = stage(Load::Concurrency(0)).validate().unwrap_err();
        assert_eq!(e.field, "concurrency");
        let mut s = stage(Load::Rate(1.0));
        s.think_time = Duration::from_secs(1);
        assert_eq!(s.validate().unwrap_err().field, "think_time");
        s.think_time = Duration::ZERO;
        s.ramp = Duration::from_secs(11);
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "ramp: ramp 11s is longer than the stage's duration 10s; expected at most the duration"
        );
    }
}
