//! Mapping a transport failure to its [`ErrorClass`] by the kinds of the
//! errors in its chain, never by their message text.
//!
//! The chain is walked from the outside in. `io::Error` hides the error it
//! wraps from `source()` (it returns the *inner error's* source), so the walk
//! steps into it with `get_ref()` instead. The most specific finding wins: a
//! `rustls::Error` anywhere makes the failure `Tls`; an `io::ErrorKind` such
//! as `ConnectionRefused` beats the outer hyper and h2 flags; those flags
//! (`is_incomplete_message`, `is_closed`, a stream reset, ...) are the
//! fallback.
//!
//! Our own connector wrappers (see [`super::connect`]) put typed errors in the
//! chain: a [`ResolveError`] is `Dns` and a [`ConnectTimedOut`] is
//! `ConnectTimeout`, wherever they appear.

use std::error::Error as StdError;
use std::io;

use super::ErrorClass;
use super::connect::{ConnectTimedOut, ResolveError};

type DynError = dyn StdError + 'static;

/// The class of the failure of one request whose response head did not
/// arrive. Our own timeouts are classified by the caller, not here.
pub(crate) fn classify(err: &DynError) -> ErrorClass {
    let mut connect = false;
    let mut fallback = None;
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(client) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            connect |= client.is_connect();
        } else if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            fallback = fallback.or_else(|| hyper_class(hyper));
        } else if let Some(h2) = e.downcast_ref::<h2::Error>() {
            // `h2::Error` has no `source()`: its I/O error is looked at directly.
            match h2.get_io() {
                Some(io) => {
                    current = Some(io as &DynError);
                    continue;
                }
                None => fallback = fallback.or_else(|| h2_class(h2)),
            }
        } else if e.is::<ResolveError>() {
            return ErrorClass::Dns;
        } else if e.is::<ConnectTimedOut>() {
            return ErrorClass::ConnectTimeout;
        } else if e.is::<rustls::Error>() {
            return ErrorClass::Tls;
        } else if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(class) = io_class(io, connect) {
                return class;
            }
            // `io::Error::source()` skips the wrapped error; look at it directly.
            current = io.get_ref().map(|inner| inner as &DynError);
            continue;
        }
        current = e.source();
    }
    fallback.unwrap_or(ErrorClass::Other)
}

/// The failure in words: every level of its chain, outermost first,
/// joined by `": "` (a level that only repeats the next one is left out).
pub(crate) fn describe(err: &DynError) -> String {
    let mut levels: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if levels.last().is_none_or(|last| !last.ends_with(&text)) {
            levels.push(text);
        }
        current = match e.downcast_ref::<io::Error>() {
            // `io::Error::source()` skips the wrapped error; step into it.
            Some(io) => io.get_ref().map(|inner| inner as &DynError),
            None => e.source(),
        };
    }
    levels.join(": ")
}

/// What a hyper error flag says, if anything.
fn hyper_class(err: &hyper::Error) -> Option<ErrorClass> {
    if err.is_timeout() {
        Some(ErrorClass::RequestTimeout)
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        // The connection ended (or was dropped by the pool) before the head.
        Some(ErrorClass::Reset)
    } else if err.is_body_write_aborted() {
        Some(ErrorClass::Other)
    } else {
        None
    }
}

/// What an HTTP/2 error says, if anything: a stream the server reset or
/// refused, or a connection it sent away, is `Reset`.
fn h2_class(err: &h2::Error) -> Option<ErrorClass> {
    (err.is_reset() || err.is_go_away()).then_some(ErrorClass::Reset)
}

/// What an I/O error kind says, if anything. `connect` is true inside a
/// connect-phase error of the pooled client.
pub(super) fn io_class(err: &io::Error, connect: bool) -> Option<ErrorClass> {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => Some(ErrorClass::ConnectRefused),
        K::TimedOut if connect => Some(ErrorClass::ConnectTimeout),
        K::TimedOut => Some(ErrorClass::RequestTimeout),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(ErrorClass::Reset)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// A stand-in for a wrapper error (like hyper-util's private
    /// `ConnectError`) that exposes its cause through `source()`.
    #[derive(Debug)]
    struct Wrap(Box<dyn StdError + Send + Sync>);

    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }

    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "test")
    }

    #[test]
    fn io_kinds_outside_connect() {
        assert_eq!(
            classify(&io(io::ErrorKind::ConnectionReset)),
            ErrorClass::Reset
        );
        assert_eq!(classify(&io(io::ErrorKind::BrokenPipe)), ErrorClass::Reset);
        assert_eq!(
            classify(&io(io::ErrorKind::UnexpectedEof)),
            ErrorClass::Reset
        );
        assert_eq!(
            classify(&io(io::ErrorKind::ConnectionAborted)),
            ErrorClass::Reset
        );
        assert_eq!(
            classify(&io(io::ErrorKind::ConnectionRefused)),
            ErrorClass::ConnectRefused
        );
        assert_eq!(
            classify(&io(io::ErrorKind::TimedOut)),
            ErrorClass::RequestTimeout
        );
        assert_eq!(classify(&io(io::ErrorKind::Other)), ErrorClass::Other);
        // An interrupted or uncategorised io error has no class of its own.
        assert_eq!(classify(&io(io::ErrorKind::Interrupted)), ErrorClass::Other);
    }

    #[test]
    fn os_errors_are_classified_by_kind() {
        let refused = io::Error::from_raw_os_error(111); // ECONNREFUSED on Linux
        if refused.kind() == io::ErrorKind::ConnectionRefused {
            assert_eq!(
                classify(&Wrap(Box::new(refused))),
                ErrorClass::ConnectRefused
            );
        }
    }

    #[test]
    fn rustls_error_is_tls_even_when_wrapped_twice_in_io() {
        // tokio-rustls wraps the rustls error in io::Error(InvalidData) and
        // hyper-rustls wraps that in io::Error(Other).
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let outer = io::Error::other(inner);
        assert_eq!(classify(&Wrap(Box::new(outer))), ErrorClass::Tls);
    }

    #[test]
    fn a_failure_is_described_by_its_whole_chain() {
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let described = describe(&Wrap(Box::new(io::Error::other(inner))));
        assert_eq!(
            described, "wrapper: invalid peer certificate: UnknownIssuer",
            "io wrappers that repeat their cause are left out"
        );
    }

    #[test]
    fn an_h2_error_of_our_own_making_is_other() {
        // Neither a reset nor I/O (the streams the server reset are tested
        // against a server, in `http::tests`).
        let own = h2::Error::from(h2::Reason::PROTOCOL_ERROR);
        assert_eq!(classify(&own), ErrorClass::Other);
    }

    #[test]
    fn nested_io_kind_wins_over_outer_other() {
        let outer = io::Error::other(io(io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&outer), ErrorClass::Reset);
    }

    #[test]
    fn typed_connector_errors_are_recognised_by_type() {
        let timed_out = ConnectTimedOut::for_test(std::time::Duration::from_millis(5));
        assert_eq!(
            classify(&Wrap(Box::new(timed_out))),
            ErrorClass::ConnectTimeout
        );
        // Even when the resolver's own source is an io kind with a class.
        let resolve = ResolveError::for_test("x.invalid", io(io::ErrorKind::TimedOut));
        assert_eq!(classify(&Wrap(Box::new(resolve))), ErrorClass::Dns);
    }

    #[test]
    fn an_uncategorised_io_error_is_not_dns_by_itself() {
        // What std makes of a getaddrinfo failure, when not wrapped in our
        // `ResolveError`: no longer guessed to be DNS.
        let gai = "relhost-no-such-host.invalid:80";
        if let Err(e) = std::net::ToSocketAddrs::to_socket_addrs(gai) {
            assert_eq!(io_class(&e, true), None);
            assert_eq!(classify(&Wrap(Box::new(e))), ErrorClass::Other);
        }
    }

    #[test]
    fn connect_flag_turns_timeout_into_connect_timeout() {
        let e = io(io::ErrorKind::TimedOut);
        assert_eq!(io_class(&e, true), Some(ErrorClass::ConnectTimeout));
        assert_eq!(io_class(&e, false), Some(ErrorClass::RequestTimeout));
    }
}
