//! Credentials a scenario's requests carry: bearer token and thread id.

use std::fmt;

/// One credential. The token never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The bearer token.
    pub token: String,
    /// The thread the requests post to.
    pub thread_id: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("token", &"***")
            .field("thread_id", &self.thread_id)
            .finish()
    }
}

/// The credentials of a run; a rotation strategy picks one per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    entries: Vec<Credential>,
}

impl Credentials {
    /// A pool of credentials; every token is from now on masked in every output.
    pub fn new(entries: Vec<Credential>) -> Self {
        for entry in &entries {
            crate::redact::register(&entry.token);
        }
        Credentials { entries }
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many credentials the pool holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The credential at `index`.
    pub fn get(&self, index: u32) -> Option<&Credential> {
        self.entries.get(index as usize)
    }
}
