//! Convex: the user's backend. A deployment serves HTTP actions (`/api/chat`,
//! webhooks) at `https://NAME.convex.site` and its functions at
//! `https://NAME.convex.cloud`; [`deployment`] derives one URL from the
//! other, and [`call`] runs a function through Convex's HTTP API
//! (`POST /api/query`, `/api/mutation`, `/api/action`).
//!
//! Admin calls (internal functions such as `ops:*`) authenticate with the
//! deploy key, `Authorization: Convex <key>`, the way the Convex CLI runs
//! them; user calls with the user's `Bearer` token. Neither ever appears in
//! an error of this module.

mod call;
mod deployment;

pub use call::{FunctionAuth, FunctionError, FunctionKind, FunctionPath, call};
pub use deployment::{cloud_from_deploy_key, cloud_of, site_of};
