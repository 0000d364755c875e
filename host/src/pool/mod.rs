//! Multi-user chat auth pools: the pool file (the seed's
//! `[{"authToken", "threadId"}]`), the deterministic credentials of
//! load-test users, and provisioning them against an auth server.
//!
//! `relhost pool` (see [`crate::cli`]) provisions users with [`provision`]
//! and writes the result with [`write_pool_file`] as
//! [`pool_file_name`]; drills read pools with [`load_pool_file`] or, for
//! `RELIABILITY_CHAT_AUTH_POOL_JSON`, [`parse_pool_json`]. A token never
//! appears in a `Debug` output or an error message of this module.

mod accounts;
mod file;
mod provision;
mod retry;

#[cfg(test)]
mod tests;

pub use accounts::{EMAIL_DOMAIN, MAX_NAME_LEN, UserCredentials, check_name, user_credentials};
pub use file::{
    POOL_FILE_MODE, POOL_JSON_ENV, PoolEntry, PoolError, load_pool_file, parse_pool_json,
    pool_file_name, write_pool_file,
};
pub use provision::{
    Endpoints, ProvisionConfig, ProvisionError, ProvisionProgress, ProvisionReport, Step,
    ThreadCreation, UserFailure, UserOutcome, join_url, provision,
};
pub use retry::RetryPolicy;
