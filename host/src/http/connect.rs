//! The connector stack under each pool: a resolver whose failures carry our
//! own error type, and a deadline over the whole connection set-up.
//!
//! ```text
//! TimedConnector ─ HttpsConnector (TLS handshake) ─ HttpConnector (TCP) ─ Resolver (getaddrinfo)
//! ```
//!
//! Both wrappers exist so that [`classify`](super::classify) can recognise a
//! failure by the *type* of an error in its chain: a [`ResolveError`] is
//! `Dns`, a [`ConnectTimedOut`] is `ConnectTimeout`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::dns::{GaiAddrs, GaiFuture, GaiResolver, Name};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A host name did not resolve (the system resolver's failure is the source).
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {name}")]
pub(crate) struct ResolveError {
    name: Name,
    #[source]
    source: io::Error,
}

#[cfg(test)]
impl ResolveError {
    pub(crate) fn for_test(name: &str, source: io::Error) -> ResolveError {
        ResolveError {
            name: name.parse().expect("any string is a Name"),
            source,
        }
    }
}

/// hyper-util's `getaddrinfo` resolver with its failures typed as
/// [`ResolveError`].
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    inner: GaiResolver,
}

impl Default for Resolver {
    fn default() -> Resolver {
        Resolver {
            inner: GaiResolver::new(),
        }
    }
}

impl Service<Name> for Resolver {
    type Response = GaiAddrs;
    type Error = ResolveError;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        // `GaiResolver` has no readiness of its own (its `poll_ready` is
        // always `Ready(Ok)`): each call runs on tokio's blocking pool.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        Resolving {
            inner: self.inner.call(name.clone()),
            name: Some(name),
        }
    }
}

/// The future of one [`Resolver`] call.
pub(crate) struct Resolving {
    inner: GaiFuture,
    name: Option<Name>,
}

impl Future for Resolving {
    type Output = Result<GaiAddrs, ResolveError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.inner).poll(cx).map(|result| {
            result.map_err(|source| ResolveError {
                name: this.name.take().expect("polled after completion"),
                source,
            })
        })
    }
}

/// The connection (resolve, TCP connect and TLS handshake together) was not
/// established within the connect timeout.
#[derive(Debug, thiserror::Error)]
#[error("connection not established within {}", humantime::format_duration(*.0))]
pub(crate) struct ConnectTimedOut(Duration);

#[cfg(test)]
impl ConnectTimedOut {
    pub(crate) fn for_test(timeout: Duration) -> ConnectTimedOut {
        ConnectTimedOut(timeout)
    }
}

/// Bounds every call of the wrapped connector by one deadline; when it
/// passes, the call fails with [`ConnectTimedOut`] and the half-open
/// connection is dropped.
#[derive(Debug, Clone)]
pub(crate) struct TimedConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> TimedConnector<C> {
    pub(crate) fn new(inner: C, timeout: Duration) -> TimedConnector<C> {
        TimedConnector { inner, timeout }
    }
}

impl<C> Service<http::Uri> for TimedConnector<C>
where
    C: Service<http::Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    // One allocation per new connection, not per request.
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let timeout = self.timeout;
        let connecting = self.inner.call(dst);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_elapsed) => Err(ConnectTimedOut(timeout).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolve_failure_is_a_resolve_error() {
        let mut resolver = Resolver::default();
        let name: Name = "relhost-no-such-host.invalid".parse().unwrap();
        let err = match resolver.call(name).await {
            Ok(addrs) => panic!("resolved: {:?}", addrs.collect::<Vec<_>>()),
            Err(err) => err,
        };
        assert_eq!(err.name.as_str(), "relhost-no-such-host.invalid");
        assert!(err.to_string().contains("relhost-no-such-host.invalid"));
    }

    #[tokio::test]
    async fn timed_connector_bounds_a_stuck_connect() {
        let stuck = tower_service_fn(|_| std::future::pending::<Result<(), io::Error>>());
        let mut connector = TimedConnector::new(stuck, Duration::from_millis(20));
        let err = connector
            .call("http://127.0.0.1:1/".parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.is::<ConnectTimedOut>(), "{err:?}");
    }

    #[tokio::test]
    async fn timed_connector_passes_results_through() {
        let refused = tower_service_fn(|_| async {
            Err::<(), _>(io::Error::from(io::ErrorKind::ConnectionRefused))
        });
        let mut connector = TimedConnector::new(refused, Duration::from_secs(5));
        let err = connector
            .call("http://127.0.0.1:1/".parse().unwrap())
            .await
            .unwrap_err();
        let io = err.downcast_ref::<io::Error>().expect("io error");
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    }

    /// A minimal `service_fn` (tower itself is not a dependency).
    #[derive(Clone)]
    struct ServiceFn<F>(F);

    fn tower_service_fn<F>(f: F) -> ServiceFn<F> {
        ServiceFn(f)
    }

    impl<F, Fut> Service<http::Uri> for ServiceFn<F>
    where
        F: FnMut(http::Uri) -> Fut,
        Fut: Future<Output = Result<(), io::Error>>,
    {
        type Response = ();
        type Error = io::Error;
        type Future = Fut;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, dst: http::Uri) -> Fut {
            (self.0)(dst)
        }
    }
}
