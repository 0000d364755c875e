//! Response bodies (a buffer or an event stream fed by a task) and
//! size-limited reading of request bodies.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

/// Largest request body accepted.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// The stream was cut on purpose (a truncation fault): the client sees the
/// body end abruptly.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("stream truncated by an injected fault")]
pub(crate) struct StreamCut;

/// The body of every response of the sim.
#[derive(Debug)]
pub(crate) enum SimBody {
    /// A complete buffer (taken once).
    Full(Option<Bytes>),
    /// Chunks (SSE events) sent by a task; an `Err` cuts the stream.
    Stream(mpsc::Receiver<Result<Bytes, StreamCut>>),
}

impl SimBody {
    pub(crate) fn full(b: impl Into<Bytes>) -> Self {
        SimBody::Full(Some(b.into()))
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = StreamCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamCut>>> {
        match self.get_mut() {
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Stream(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            SimBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// Over [`MAX_BODY_BYTES`].
    #[error("request body exceeds 1 MiB")]
    TooLarge,
    /// The client failed while sending it.
    #[error("request body could not be read")]
    Read,
}

/// Reads a whole request body, refusing more than [`MAX_BODY_BYTES`] (by
/// `content-length` up front, and while reading).
pub(crate) async fn read_body(
    headers: &http::HeaderMap,
    body: Incoming,
) -> Result<Bytes, BodyError> {
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && len > MAX_BODY_BYTES as u64
    {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Read),
    }
}
