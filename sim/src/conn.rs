//! What a request handler knows of its connection: the peer, the routes its
//! listener serves, and the reset the fault middleware can ask for. Shared
//! by the accept loop (which owns the socket) and the routes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::stats::Route;

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// Every route (one address for the whole deployment).
    All,
    /// HTTP actions, auth and ops routes, as `NAME.convex.site`.
    Site,
    /// The function API only, as `NAME.convex.cloud`.
    Functions,
}

impl Surface {
    /// Whether a listener of this surface answers `route`.
    pub(crate) fn serves(self, route: Route) -> bool {
        let function = matches!(
            route,
            Route::FunctionQuery | Route::FunctionMutation | Route::FunctionAction
        );
        match self {
            Surface::All => true,
            Surface::Site => !function,
            Surface::Functions => function || route == Route::Healthz,
        }
    }
}

/// Per-connection control shared with the request handlers.
#[derive(Debug)]
pub(crate) struct ConnCtl {
    pub(crate) peer: SocketAddr,
    /// The routes this connection's listener serves.
    pub(crate) surface: Surface,
    reset: AtomicBool,
    notify: Notify,
}

impl ConnCtl {
    pub(crate) fn new(peer: SocketAddr, surface: Surface) -> Self {
        ConnCtl {
            peer,
            surface,
            reset: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Aborts the connection with a TCP reset as soon as possible.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Whether a reset was asked for.
    pub(crate) fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }

    /// Resolves when a reset is asked for.
    pub(crate) async fn reset_asked(&self) {
        self.notify.notified().await;
    }
}
