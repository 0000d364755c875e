//! What one request's exchange produced, and the tally that builds it from
//! the body's bytes as they arrive.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ErrorClass;
use super::sse::EventCounter;

/// What happened to one request. Durations are measured from the moment
/// [`Client::send`](super::Client::send) was called (the actual send time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `Ok(status)` only when the head arrived and the whole body (or event
    /// stream) was read to its end; a body cut after the head is
    /// `Err(BodyAborted)`, or `Err(StreamIdleTimeout)` when it went idle.
    pub result: Result<u16, ErrorClass>,
    /// The status of the head, if one arrived (even if the body was cut later).
    pub status: Option<u16>,
    /// To the first body byte (or to the head for an empty body).
    pub ttfb: Option<Duration>,
    /// Event streams: to the first complete SSE event.
    pub first_event: Option<Duration>,
    /// Event streams: complete SSE events (blocks ended by a blank line;
    /// comment-only blocks do not count).
    pub events: u32,
    /// Response body bytes received (after transfer decoding).
    pub body_bytes: u64,
    /// To the end of the body or to the failure.
    pub total: Duration,
    /// What the failure was, in words, when the result is an error class.
    pub reason: Option<Box<str>>,
    /// The connections opened for it.
    pub connections: Connections,
}

/// Connections opened, and how their TLS sessions began: by one exchange
/// (usually none, as a kept-alive one was reused; one; two when a stale
/// one had to be replaced), or summed over a stage in reports.
///
/// Over HTTP/2 a connection serves many exchanges; the one that opened it
/// reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    /// Connections established (TCP, and the TLS handshake for `https://`).
    pub opened: u64,
    /// TLS sessions begun with a full handshake.
    pub tls_full: u64,
    /// TLS sessions that resumed an earlier one (a ticket or session id the
    /// server accepted).
    pub tls_resumed: u64,
}

impl Connections {
    /// One more connection; `tls_resumed` says whether its TLS session
    /// resumed an earlier one (`None`: plain TCP).
    pub(super) fn add(&mut self, tls_resumed: Option<bool>) {
        self.opened += 1;
        match tls_resumed {
            Some(true) => self.tls_resumed += 1,
            Some(false) => self.tls_full += 1,
            None => {}
        }
    }

    /// Adds another count.
    pub fn merge(&mut self, o: &Connections) {
        self.opened = self.opened.saturating_add(o.opened);
        self.tls_full = self.tls_full.saturating_add(o.tls_full);
        self.tls_resumed = self.tls_resumed.saturating_add(o.tls_resumed);
    }

    /// Nothing was opened.
    pub fn is_empty(&self) -> bool {
        *self == Connections::default()
    }
}

/// A failed request's class and what was seen, in words (e.g. `connect to
/// 127.0.0.1:9: Connection refused (os error 111)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) class: ErrorClass,
    pub(crate) reason: Box<str>,
}

impl Failure {
    pub(crate) fn new(class: ErrorClass, reason: impl Into<Box<str>>) -> Failure {
        Failure {
            class,
            reason: reason.into(),
        }
    }
}

impl Exchange {
    /// A request that failed before any response head arrived.
    pub(crate) fn failed(failure: Failure, total: Duration) -> Exchange {
        Exchange {
            result: Err(failure.class),
            status: None,
            ttfb: None,
            first_event: None,
            events: 0,
            body_bytes: 0,
            total,
            reason: Some(failure.reason),
            connections: Connections::default(),
        }
    }
}

/// Builds an [`Exchange`] once the head arrived: tell it when each read
/// returned, feed it every piece of body data in order, then finish it.
/// Times are those of the reads, so a body that came with its head costs
/// no clock reading of its own.
pub(super) struct Tally {
    start: Instant,
    head_at: Duration,
    /// When the latest read returned, since `start`.
    read_at: Duration,
    exchange: Exchange,
    counter: Option<EventCounter>,
}

impl Tally {
    /// The head with `status` arrived at `head_at`; the exchange started at `start`.
    pub(super) fn new(start: Instant, head_at: Instant, status: u16, event_stream: bool) -> Tally {
        let head_at = head_at.saturating_duration_since(start);
        Tally {
            start,
            head_at,
            read_at: head_at,
            exchange: Exchange {
                result: Ok(status),
                status: Some(status),
                ttfb: None,
                first_event: None,
                events: 0,
                body_bytes: 0,
                total: head_at,
                reason: None,
                connections: Connections::default(),
            },
            counter: event_stream.then(EventCounter::new),
        }
    }

    /// A read returned data that arrived `at` (fed next).
    pub(super) fn read_returned(&mut self, at: Instant) {
        self.read_at = at.saturating_duration_since(self.start);
    }

    /// A piece of (transfer-decoded) body data arrived.
    pub(super) fn data(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let exchange = &mut self.exchange;
        exchange.body_bytes += data.len() as u64;
        if exchange.ttfb.is_none() {
            exchange.ttfb = Some(self.read_at);
        }
        if let Some(counter) = &mut self.counter
            && counter.feed(data) > 0
            && exchange.first_event.is_none()
        {
            exchange.first_event = Some(self.read_at);
        }
    }

    /// The body ended early.
    pub(super) fn fail(&mut self, failure: Failure) {
        self.exchange.result = Err(failure.class);
        self.exchange.reason = Some(failure.reason);
    }

    /// The exchange, ended by the latest read.
    pub(super) fn finish(mut self) -> Exchange {
        let exchange = &mut self.exchange;
        exchange.total = self.read_at;
        exchange.events = self.counter.map_or(0, |c| c.events());
        if exchange.result.is_ok() && exchange.ttfb.is_none() {
            exchange.ttfb = Some(self.head_at);
        }
        self.exchange
    }
}
