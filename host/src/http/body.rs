//! Reading a response body that arrives as pieces (hyper's frames, the
//! `h2` crate's DATA frames) to its end, each wait bounded by the
//! stream-idle timeout.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use tokio::time::{Instant, Sleep};

use super::ErrorClass;
use super::classify::describe;
use super::config::Timeouts;
use super::exchange::{Exchange, Failure, Tally};

/// A response body, piece by piece.
pub(super) trait Pieces {
    /// Why the body ended early.
    type Error: std::error::Error + 'static;

    /// The next piece of data (empty for a piece that carries none, such
    /// as trailers), or `None` at the end of the body.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>>;

    /// `len` bytes of the body were counted.
    fn counted(&mut self, _len: usize) {}
}

impl Pieces for Incoming {
    type Error = hyper::Error;

    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, hyper::Error>>> {
        Pin::new(self)
            .poll_frame(cx)
            .map(|frame| frame.map(|frame| frame.map(|f| f.into_data().unwrap_or_default())))
    }
}

impl Pieces for h2::RecvStream {
    type Error = h2::Error;

    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, h2::Error>>> {
        self.poll_data(cx)
    }

    /// The stream's flow-control window opens again as soon as its data
    /// is counted.
    fn counted(&mut self, len: usize) {
        let _ = self.flow_control().release_capacity(len);
    }
}

/// The next piece of `body`, or `None` when none came within `idle`. The
/// timer is re-armed only when the piece is not already there, so a body
/// that arrives with its head costs no timer work.
pub(super) async fn next_piece<B: Pieces>(
    body: &mut B,
    mut timer: Pin<&mut Sleep>,
    idle: Duration,
) -> Option<Option<Result<Bytes, B::Error>>> {
    let mut armed = false;
    poll_fn(|cx| {
        if let Poll::Ready(piece) = body.poll_piece(cx) {
            return Poll::Ready(Some(piece));
        }
        if !armed {
            timer.as_mut().reset(Instant::now() + idle);
            armed = true;
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Reads the body of `response`, whose exchange started at `start`, to its
/// end, counting SSE events when `event_stream`; `timer` (the head
/// deadline's) is re-armed whenever data has to be waited for.
pub(super) async fn read_response<B: Pieces>(
    response: http::Response<B>,
    start: Instant,
    mut timer: Pin<&mut Sleep>,
    timeouts: &Timeouts,
    event_stream: bool,
) -> Exchange {
    let status = response.status().as_u16();
    let mut tally = Tally::new(start, Instant::now(), status, event_stream);
    let mut body = response.into_body();
    loop {
        let piece = next_piece(&mut body, timer.as_mut(), timeouts.stream_idle).await;
        tally.read_returned(Instant::now());
        match piece {
            Some(Some(Ok(data))) => {
                tally.data(&data);
                body.counted(data.len());
            }
            Some(None) => break,
            Some(Some(Err(e))) => {
                let reason = format!("reading the body: {}", describe(&e));
                tally.fail(Failure::new(ErrorClass::BodyAborted, reason));
                break;
            }
            None => {
                tally.fail(timeouts.body_idle());
                break;
            }
        }
    }
    tally.finish()
}
