//! Typed profiles and policies, validated from raw JSON.
//!
//! As in ripgrep's low-/high-level arguments, serde reads a raw document and
//! a typed value ([`Profile`], [`SloBaseline`]) is built only after
//! validation; nothing downstream sees strings that should be durations or
//! rates. Errors ([`PolicyError`]) name the file (or builtin document), the
//! line and column, the JSON path of the field, what is wrong and what was
//! expected.

mod error;
mod locate;
mod ordered;
mod profile;
mod slo;
mod stage;
#[cfg(test)]
mod tests;

pub use error::{Origin, PolicyError};
pub use profile::{PROFILE_NAMES, Profile, ScenarioPlan, builtin_profile, load_profile_file};
pub use slo::{SloBaseline, SloThresholds, builtin_slo_baseline, load_slo_baseline};
pub use stage::{Load, MAX_CONCURRENCY, MAX_RATE, Scale, Stage, StageProblem};
