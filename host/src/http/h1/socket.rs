//! A connection's socket, in one of two ways of receiving.
//!
//! A socket registered with the runtime's reactor wakes the task reading it
//! whenever bytes arrive. At tens of thousands of requests per second that
//! is a wake-up of the worker thread per response, and on a virtual machine
//! a wake-up costs more than the request itself. So while the open model
//! sends at the pacer's ticks, its sockets are taken out of the reactor:
//! nothing wakes when a response arrives, and the exchanges waiting for one
//! read at the next tick ([`Ticks`]). Each such read also brings the time
//! the kernel received the data (`SO_TIMESTAMPNS`), so a response read at a
//! tick is timed by when it arrived, not by when it was read.

use std::io::{self, IoSliceMut, Read};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use rustix::net::{SendFlags, send};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How an exchange learns that its response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// The reactor wakes the exchange when bytes arrive.
    OnArrival,
    /// The exchange reads at the worker's ticks ([`crate::http::Client::tick`]).
    AtTicks,
}

/// Ticks an exchange waits with nothing to read before it lets the reactor
/// wake it instead: a slow response (or a long body) is not polled for.
const TICKED_WAITS: u32 = 8;

/// A ticked connection idle for longer than this is checked for a close by
/// the server before it is reused; one used more recently is trusted (a
/// server announces a close it decides while answering).
const TRUSTED_IDLE: Duration = Duration::from_millis(100);

/// Wakers of exchanges waiting for the worker's next tick, and the clock
/// their reads are timed by.
#[derive(Default)]
pub(super) struct Ticks {
    waiting: Mutex<Vec<Waker>>,
    clock: WallClock,
}

impl Ticks {
    fn park(&self, waker: &Waker) {
        self.lock().push(waker.clone());
    }

    /// Wakes every exchange waiting for a tick.
    pub(super) fn tick(&self) {
        self.clock.measure();
        let waiting = std::mem::take(&mut *self.lock());
        waiting.into_iter().for_each(Waker::wake);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One exchange's view of the ticks.
///
/// An exchange whose poll ended parked on the ticks is polled again at the
/// next tick, so it can check its deadline then instead of arming a timer:
/// most answers to dense sends arrive by the next tick, and never register
/// one with the runtime.
pub(super) struct TickWait<'a> {
    ticks: &'a Ticks,
    parked: AtomicBool,
}

impl<'a> TickWait<'a> {
    pub(super) fn new(ticks: &'a Ticks) -> Self {
        TickWait {
            ticks,
            parked: AtomicBool::new(false),
        }
    }

    /// Polls `future`, the exchange's, noting whether it parks on the ticks.
    pub(super) fn poll<T>(
        &self,
        future: Pin<&mut impl Future<Output = T>>,
        cx: &mut Context<'_>,
    ) -> Poll<T> {
        self.parked.store(false, Ordering::Relaxed);
        future.poll(cx)
    }

    /// The last poll ended parked on the ticks: the next tick polls the
    /// exchange again, and nothing else needs to.
    pub(super) fn parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    /// The last tick came at or after `deadline`.
    pub(super) fn passed(&self, deadline: Instant) -> bool {
        self.ticks.clock.ticked_past(deadline)
    }

    fn park(&self, waker: &Waker) {
        self.parked.store(true, Ordering::Relaxed);
        self.ticks.park(waker);
    }
}

/// Turns the kernel's receive times (`CLOCK_REALTIME`) into [`Instant`]s.
///
/// The two clocks differ by an offset that only moves when the wall clock
/// is set, so it is measured at each tick rather than with two clock reads
/// per response.
struct WallClock {
    base: Instant,
    /// `CLOCK_REALTIME` at `base`, in nanoseconds since the epoch; zero
    /// until first measured.
    wall_at_base: AtomicU64,
    /// When it was last measured (at the last tick), in nanoseconds since `base`.
    measured_at: AtomicU64,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            base: Instant::now(),
            wall_at_base: AtomicU64::new(0),
            measured_at: AtomicU64::new(0),
        }
    }
}

impl WallClock {
    /// Measures the offset between the clocks anew.
    fn measure(&self) -> u64 {
        let since_base = self.base.elapsed();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let at_base = nanos(wall.saturating_sub(since_base)).max(1);
        self.wall_at_base.store(at_base, Ordering::Relaxed);
        self.measured_at.store(nanos(since_base), Ordering::Relaxed);
        at_base
    }

    /// It was last measured at or after `deadline`.
    fn ticked_past(&self, deadline: Instant) -> bool {
        nanos(deadline.saturating_duration_since(self.base))
            <= self.measured_at.load(Ordering::Relaxed)
    }

    /// The instant of a receive time.
    fn arrival(&self, at: TimeSpec) -> Instant {
        let received = Duration::new(
            u64::try_from(at.tv_sec()).unwrap_or(0),
            u32::try_from(at.tv_nsec()).unwrap_or(0),
        );
        let at_base = match self.wall_at_base.load(Ordering::Relaxed) {
            0 => self.measure(),
            measured => measured,
        };
        let received = nanos(received);
        match received.checked_sub(at_base) {
            Some(after) => self.base + Duration::from_nanos(after),
            None => {
                let before = Duration::from_nanos(at_base - received);
                self.base.checked_sub(before).unwrap_or(self.base)
            }
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A TCP connection's socket.
pub(super) enum Socket {
    /// Registered with the reactor.
    Reactor(TcpStream),
    /// Out of the reactor, read at ticks.
    Ticked(Ticked),
    /// A change of mode failed; every operation fails.
    Lost,
}

/// A socket read at ticks.
pub(super) struct Ticked {
    stream: std::net::TcpStream,
    /// Room for the receive time that comes with each read.
    control: Vec<u8>,
    /// Reads found nothing this many times since the request was written.
    waits: u32,
}

impl Socket {
    /// Switches to `receive`, when the socket is not in that mode already.
    pub(super) fn set_mode(&mut self, receive: Receive) -> io::Result<()> {
        match (receive, &*self) {
            (Receive::AtTicks, Socket::Reactor(_)) => self.leave_reactor(),
            (Receive::OnArrival, Socket::Ticked(_)) => self.join_reactor(),
            (_, Socket::Lost) => Err(lost()),
            _ => Ok(()),
        }
    }

    fn leave_reactor(&mut self) -> io::Result<()> {
        let Socket::Reactor(stream) = std::mem::replace(self, Socket::Lost) else {
            return Err(lost());
        };
        let stream = stream.into_std()?;
        setsockopt(&stream, sockopt::ReceiveTimestampns, &true)?;
        *self = Socket::Ticked(Ticked {
            stream,
            control: nix::cmsg_space!(TimeSpec),
            waits: 0,
        });
        Ok(())
    }

    fn join_reactor(&mut self) -> io::Result<()> {
        let Socket::Ticked(ticked) = std::mem::replace(self, Socket::Lost) else {
            return Err(lost());
        };
        *self = Socket::Reactor(TcpStream::from_std(ticked.stream)?);
        Ok(())
    }

    /// A request is about to be written: reads start afresh.
    pub(super) fn begin(&mut self) {
        if let Socket::Ticked(ticked) = self {
            ticked.waits = 0;
        }
    }

    /// Nothing arrived while the connection was idle: no close, no stray
    /// bytes. A registered socket answers from the readiness the reactor
    /// already has, without a system call; only a readiness left over from
    /// a read that filled the buffer (so the runtime could not tell it
    /// drained the socket) costs a peek. A ticked socket is peeked when it
    /// has been idle long (its last bytes arrived `idle` ago).
    pub(super) fn is_quiet(&mut self, idle: Duration) -> bool {
        match self {
            Socket::Reactor(stream) => {
                let mut cx = Context::from_waker(Waker::noop());
                if stream.poll_read_ready(&mut cx).is_pending() {
                    return true;
                }
                let mut byte = [0u8; 1];
                stream
                    .poll_peek(&mut cx, &mut ReadBuf::new(&mut byte))
                    .is_pending()
            }
            Socket::Ticked(_) if idle < TRUSTED_IDLE => true,
            Socket::Ticked(ticked) => {
                let mut byte = [0u8; 1];
                matches!(ticked.stream.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Socket::Lost => false,
        }
    }

    /// Reads what has arrived without waiting: `WouldBlock` when nothing has.
    pub(super) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Reactor(stream) => stream.try_read(buf),
            Socket::Ticked(ticked) => ticked.stream.read(buf),
            Socket::Lost => Err(lost()),
        }
    }

    /// Writes part of `data`. A ticked socket whose send buffer is full
    /// goes back to the reactor to wait for room.
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self {
                Socket::Reactor(stream) => return Pin::new(stream).poll_write(cx, data),
                // A direct system call: libc's `send` is also a thread
                // cancellation point, and pays for it on every request.
                Socket::Ticked(ticked) => {
                    match send(&ticked.stream, data, SendFlags::NOSIGNAL).map_err(io::Error::from) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.join_reactor()?,
                        written => return Poll::Ready(written),
                    }
                }
                Socket::Lost => return Poll::Ready(Err(lost())),
            }
        }
    }

    /// Reads into `buf`: how many bytes, and when they arrived.
    ///
    /// A ticked socket does not read on the poll right after its request
    /// was written (the answer cannot be there yet), parks until the next
    /// tick while nothing came, and after [`TICKED_WAITS`] empty ticks
    /// goes back to the reactor.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        wait: &TickWait<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, Instant)>> {
        loop {
            match self {
                Socket::Reactor(stream) => {
                    let mut free = ReadBuf::new(buf);
                    std::task::ready!(Pin::new(stream).poll_read(cx, &mut free))?;
                    return Poll::Ready(Ok((free.filled().len(), Instant::now())));
                }
                Socket::Ticked(ticked) => {
                    if ticked.waits > 0 {
                        match ticked.read(buf, &wait.ticks.clock) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            read => return Poll::Ready(read),
                        }
                    }
                    if ticked.waits < TICKED_WAITS {
                        ticked.waits += 1;
                        wait.park(cx.waker());
                        return Poll::Pending;
                    }
                    self.join_reactor()?;
                }
                Socket::Lost => return Poll::Ready(Err(lost())),
            }
        }
    }
}

impl Ticked {
    /// One non-blocking read, with the kernel's receive time of its data.
    fn read(&mut self, buf: &mut [u8], clock: &WallClock) -> io::Result<(usize, Instant)> {
        let mut iov = [IoSliceMut::new(buf)];
        let message = recvmsg::<()>(
            self.stream.as_raw_fd(),
            &mut iov,
            Some(&mut self.control),
            MsgFlags::MSG_DONTWAIT,
        )?;
        let stamp = message.cmsgs().ok().and_then(|mut messages| {
            messages.find_map(|m| match m {
                ControlMessageOwned::ScmTimestampns(at) => Some(at),
                _ => None,
            })
        });
        // Unstamped data is timed by the read: the kernel starts stamping
        // (for the whole system) a moment after the first socket asks.
        let at = stamp.map_or_else(Instant::now, |at| clock.arrival(at));
        Ok((message.bytes, at))
    }
}

fn lost() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection lost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receive_time_becomes_the_instant_it_was() {
        let clock = WallClock::default();
        let stamp_of = |wall: SystemTime| {
            let since = wall.duration_since(UNIX_EPOCH).expect("after 1970");
            TimeSpec::new(since.as_secs() as i64, i64::from(since.subsec_nanos()))
        };
        let error = |a: Instant, b: Instant| {
            a.saturating_duration_since(b) + b.saturating_duration_since(a)
        };
        // Within 20 ms: room for a preempted test thread, and still short
        // of the 30 ms a conversion that ignored the stamp would be off.
        let ago = Duration::from_millis(30);
        // Measured on first use, then at each tick.
        for _ in 0..2 {
            let at = clock.arrival(stamp_of(SystemTime::now() - ago));
            let e = error(at, Instant::now() - ago);
            assert!(e < Duration::from_millis(20), "{e:?}");
            clock.measure();
        }
        // After the measurement too.
        let ahead = Duration::from_millis(40);
        let at = clock.arrival(stamp_of(SystemTime::now() + ahead));
        let e = error(at, Instant::now() + ahead);
        assert!(e < Duration::from_millis(20), "{e:?}");
    }

    #[test]
    fn a_tick_wakes_every_waiting_exchange_once() {
        let ticks = Ticks::default();
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let waker = Waker::from(std::sync::Arc::new(Count(woken.clone())));
        ticks.park(&waker);
        ticks.park(&waker);
        ticks.tick();
        ticks.tick();
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
