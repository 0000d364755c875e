//! When requests are due: the arrival schedule of an open-model stage and
//! the number of active users of a closed-model stage, both with a linear
//! ramp from the previous stage's level.

use std::time::Duration;

/// Intended send times of an open-model stage, relative to its start.
///
/// The rate rises (or falls) linearly from `from` to `to` over `ramp`, then
/// holds `to` until `duration`. Arrival `k` is due when the expected number
/// of arrivals reaches `k`, so arrival 0 is due at the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSchedule {
    from: f64,
    to: f64,
    ramp: f64,
    duration: f64,
    total: u64,
}

impl RateSchedule {
    /// A schedule; `cap` limits the number of arrivals.
    pub fn new(from: f64, to: f64, ramp: Duration, duration: Duration, cap: Option<u64>) -> Self {
        let ramp = ramp.min(duration).as_secs_f64();
        let duration = duration.as_secs_f64();
        let expected = (from + to) / 2.0 * ramp + to * (duration - ramp);
        // Arrivals due strictly before the end of the stage.
        let due = if expected <= 0.0 {
            0
        } else {
            expected.ceil() as u64
        };
        let total = cap.map_or(due, |cap| cap.min(due));
        RateSchedule {
            from,
            to,
            ramp,
            duration,
            total,
        }
    }

    /// How many arrivals the stage has.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When arrival `k` is due, or `None` past the last one.
    pub fn time_of(&self, k: u64) -> Option<Duration> {
        if k >= self.total {
            return None;
        }
        let k = k as f64;
        let in_ramp = (self.from + self.to) / 2.0 * self.ramp;
        let t = if k <= in_ramp && self.ramp > 0.0 {
            // from*t + a*t^2 = k, a = (to - from) / (2 ramp); the stable root.
            let a = (self.to - self.from) / (2.0 * self.ramp);
            let b = self.from;
            if k == 0.0 {
                0.0
            } else {
                2.0 * k / (b + (b * b + 4.0 * a * k).max(0.0).sqrt())
            }
        } else {
            self.ramp + (k - in_ramp) / self.to
        };
        Some(Duration::from_secs_f64(t.clamp(0.0, self.duration)))
    }
}

/// The number of active users of a closed-model stage over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserRamp {
    from: u32,
    to: u32,
    ramp: Duration,
}

impl UserRamp {
    /// Users rise (or fall) linearly from `from` to `to` over `ramp`.
    pub fn new(from: u32, to: u32, ramp: Duration) -> Self {
        UserRamp { from, to, ramp }
    }

    /// The most users the stage ever has.
    pub fn peak(&self) -> u32 {
        self.from.max(self.to)
    }

    /// Active users `elapsed` into the stage.
    pub fn active_at(&self, elapsed: Duration) -> u32 {
        if elapsed >= self.ramp || self.ramp.is_zero() {
            return self.to;
        }
        let f = elapsed.as_secs_f64() / self.ramp.as_secs_f64();
        let users = f64::from(self.from) + (f64::from(self.to) - f64::from(self.from)) * f;
        users.round().max(0.0) as u32
    }

    /// Whether user `index` may start a request `elapsed` into the stage:
    /// users beyond the stage's level leave (users of an earlier stage
    /// carry over only as far as this one has room), and while the ramp
    /// goes down they leave one by one.
    pub fn is_active(&self, index: u32, elapsed: Duration) -> bool {
        if self.to >= self.from {
            index < self.to
        } else {
            index < self.active_at(elapsed)
        }
    }

    /// When user `index` (0-based) becomes active, or `None` if it never is.
    pub fn start_of(&self, index: u32) -> Option<Duration> {
        if index >= self.peak() {
            return None;
        }
        if index < self.from || self.ramp.is_zero() || self.to <= self.from {
            return (index < self.to || index < self.from).then_some(Duration::ZERO);
        }
        let f = (f64::from(index) + 0.5 - f64::from(self.from)) / f64::from(self.to - self.from);
        Some(self.ramp.mul_f64(f.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s = RateSchedule::new(10.0, 10.0, Duration::ZERO, secs(2.0), None);
        assert_eq!(s.total(), 20);
        assert_eq!(s.time_of(0), Some(Duration::ZERO));
        assert_eq!(s.time_of(5), Some(secs(0.5)));
        assert_eq!(s.time_of(19), Some(secs(1.9)));
        assert_eq!(s.time_of(20), None);
    }

    #[test]
    fn linear_ramp_from_zero_follows_the_integral() {
        // 0 -> 100/s over 2 s: N(t) = 25 t^2, so 100 arrivals at t = 2 s.
        let s = RateSchedule::new(0.0, 100.0, secs(2.0), secs(3.0), None);
        assert_eq!(s.total(), 100 + 100);
        let t = s.time_of(25).expect("due").as_secs_f64();
        assert!((t - 1.0).abs() < 1e-9, "{t}");
        let t = s.time_of(150).expect("due").as_secs_f64();
        assert!((t - 2.5).abs() < 1e-9, "{t}");
        let times: Vec<_> = (0..s.total()).map(|k| s.time_of(k).expect("due")).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn ramp_down_and_cap() {
        let s = RateSchedule::new(100.0, 0.0, secs(1.0), secs(1.0), None);
        assert_eq!(s.total(), 50);
        let last = s.time_of(49).expect("due").as_secs_f64();
        assert!(last < 1.0, "{last}");
        let capped = RateSchedule::new(100.0, 100.0, Duration::ZERO, secs(10.0), Some(7));
        assert_eq!(capped.total(), 7);
    }

    #[test]
    fn users_ramp_up_one_by_one() {
        let r = UserRamp::new(0, 4, secs(4.0));
        assert_eq!(r.active_at(Duration::ZERO), 0);
        assert_eq!(r.active_at(secs(2.0)), 2);
        assert_eq!(r.active_at(secs(5.0)), 4);
        assert_eq!(r.start_of(0), Some(secs(0.5)));
        assert_eq!(r.start_of(3), Some(secs(3.5)));
        assert_eq!(r.start_of(4), None);
        let flat = UserRamp::new(3, 3, Duration::ZERO);
        assert_eq!(flat.start_of(2), Some(Duration::ZERO));
    }
}
