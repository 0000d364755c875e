//! Waiting for a send time with sub-millisecond precision.
//!
//! tokio's timers tick once per millisecond: a request due 20 µs from now
//! would wait up to a millisecond, and at 50,000 requests per second every
//! send would lag by up to 50 arrivals. A worker waits on its own `timerfd`
//! instead, which the kernel fires on time (hrtimers) and which wakes the
//! runtime through the same epoll as the sockets.
//!
//! Arming a timer is a system call, and waking an idle thread (ours, and the
//! target's for every request that reaches it idle) costs more than a
//! request itself, most of all on virtual machines. So dense schedules do
//! not wake per request: while the next send is less than [`DENSE`] away
//! the timer ticks every [`TICK`], and what fell due by a tick is sent at
//! that tick, together (see [`Pacer::horizon`]): a send lags its intended
//! time by at most a tick, and the lag is measured and reported. A distant
//! send time arms the timer once, for that time, and is met to within
//! microseconds.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// A send due sooner than this is waited for by ticking.
pub(crate) const DENSE: Duration = Duration::from_millis(1);
/// The period of the ticking timer: the longest a dense send waits past its
/// time. Each tick wakes this thread and, when it sleeps, the target's, so
/// a longer period costs less CPU per request; this one keeps the lag's
/// 99th percentile inside the 1 ms a send may lag (the README's Benchmarks
/// section has the measured trade-off).
const TICK: Duration = Duration::from_micros(700);

/// How the timer is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Armed {
    Off,
    /// Fires once, at this time.
    Once(Instant),
    /// Fires every [`TICK`].
    Ticking,
}

/// A worker's high-resolution timer.
pub(crate) struct Pacer {
    /// `None` when no timer could be created (no file descriptor left):
    /// waits fall back to tokio's timers.
    timer: Option<AsyncFd<OwnedFd>>,
    armed: Armed,
    /// When the ticking timer last fired.
    last_tick: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new() -> Pacer {
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .map_err(io::Error::from)
        .and_then(register);
        Pacer {
            timer: timer.ok(),
            armed: Armed::Off,
            last_tick: None,
        }
    }

    /// Sends due up to this time go out now: the present, or while the
    /// timer ticks, its last tick (so that a tick's sends leave together).
    /// A tick that passed while nobody waited (the worker was busy with
    /// responses) counts as passed.
    pub(crate) fn horizon(&self) -> Instant {
        self.horizon_at(Instant::now())
    }

    fn horizon_at(&self, now: Instant) -> Instant {
        match (self.armed, self.last_tick) {
            (Armed::Ticking, Some(tick)) if now < tick + TICK => tick,
            _ => now,
        }
    }

    /// Waits until `at` (at most a [`TICK`] past it). Cancel-safe: a dropped
    /// wait leaves the timer armed, and the next wait uses it as it is.
    pub(crate) async fn wait_until(&mut self, at: Instant) {
        if self.precise_wait(at).await.is_err() {
            self.armed = Armed::Off;
            tokio::time::sleep_until(at).await;
        }
    }

    /// Waits for the next tick, ticking from now on if the timer did not.
    /// A tick that passed while nobody waited ends the wait at once.
    pub(crate) async fn next_tick(&mut self) {
        if self.tick().await.is_err() {
            self.armed = Armed::Off;
            tokio::time::sleep(TICK).await;
        }
    }

    async fn tick(&mut self) -> io::Result<()> {
        let Some(timer) = &self.timer else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        if self.armed != Armed::Ticking {
            self.last_tick = None;
            arm(timer, TICK, TICK)?;
            self.armed = Armed::Ticking;
        }
        expiry(timer).await?;
        self.last_tick = Some(Instant::now());
        Ok(())
    }

    /// Stops the timer (when no send is scheduled for a while).
    pub(crate) fn rest(&mut self) {
        if let (Some(timer), Armed::Once(_) | Armed::Ticking) = (&self.timer, self.armed)
            && arm(timer, Duration::ZERO, Duration::ZERO).is_ok()
        {
            self.armed = Armed::Off;
        }
    }

    async fn precise_wait(&mut self, at: Instant) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if at <= self.horizon_at(now) {
                return Ok(());
            }
            let delay = at.saturating_duration_since(now);
            if delay < DENSE {
                self.tick().await?;
                continue;
            }
            let timer = self.timer.as_ref().ok_or(io::ErrorKind::Unsupported)?;
            if self.armed != Armed::Once(at) {
                arm(timer, delay, Duration::ZERO)?;
                self.armed = Armed::Once(at);
            }
            expiry(timer).await?;
            self.armed = Armed::Off;
        }
    }
}

/// Waits for the timer to fire and reads its expirations. A stale readiness
/// (the timer was re-armed after it fired) reads nothing and is cleared.
async fn expiry(timer: &AsyncFd<OwnedFd>) -> io::Result<()> {
    loop {
        let mut ready = timer.readable().await?;
        let mut expirations = [0u8; 8];
        if let Ok(read) = ready.try_io(|fd| Ok(rustix::io::read(fd, &mut expirations)?)) {
            read?;
            return Ok(());
        }
    }
}

/// Registers the timer with the runtime's reactor. `AsyncFd::new` is
/// deprecated because an arbitrary `AsRawFd` may close its descriptor while
/// registered; an `OwnedFd` moved into the `AsyncFd` cannot, and the safe
/// replacement is an `unsafe fn`.
#[allow(deprecated)]
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::new(fd)
}

/// Arms the timer to fire `first` from now, then every `period` (zero:
/// once); a zero `first` disarms it. Re-arming clears expirations not yet read.
fn arm(timer: &AsyncFd<OwnedFd>, first: Duration, period: Duration) -> io::Result<()> {
    let timespec = |d: Duration| Timespec::try_from(d).map_err(|_| io::ErrorKind::InvalidInput);
    let spec = Itimerspec {
        it_interval: timespec(period)?,
        it_value: timespec(first)?,
    };
    timerfd_settime(timer.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn dense_waits_tick_and_distant_ones_fire_once() {
        let mut pacer = Pacer::new();
        assert!(pacer.timer.is_some());
        let at = Instant::now() + Duration::from_micros(300);
        pacer.wait_until(at).await;
        assert!(Instant::now() >= at);
        assert_eq!(pacer.armed, Armed::Ticking);

        // Ticks that piled up while nobody waited do not end a wait early.
        std::thread::sleep(Duration::from_millis(1));
        let soon = Instant::now() + Duration::from_micros(500);
        pacer.wait_until(soon).await;
        assert!(Instant::now() >= soon);

        // A distant wait given up before the timer fired, then one for a
        // later time: the first expiration must not end the second early.
        let first = Instant::now() + Duration::from_millis(2);
        assert!(pacer.wait_until(first).now_or_never().is_none());
        assert_eq!(pacer.armed, Armed::Once(first));
        std::thread::sleep(Duration::from_millis(4));
        let later = Instant::now() + Duration::from_millis(20);
        pacer.wait_until(later).await;
        assert!(Instant::now() >= later);

        // Ticking, a tick nobody waited for still counts as passed.
        pacer
            .wait_until(Instant::now() + Duration::from_micros(300))
            .await;
        assert_eq!(pacer.armed, Armed::Ticking);
        let before = Instant::now();
        std::thread::sleep(TICK * 2);
        assert!(pacer.horizon() >= before + TICK * 2);

        // A time already past returns at once; resting stops the timer.
        pacer.wait_until(Instant::now()).await;
        pacer.rest();
        assert_eq!(pacer.armed, Armed::Off);
    }
}
