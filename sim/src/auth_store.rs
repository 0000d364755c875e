//! Users, sessions and threads, in memory, in the style of Better Auth.
//!
//! Passwords are stored as SHA-256 of a random salt and the password, and
//! compared in constant time; session tokens are random.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::rng::random_hex;

/// A user.
#[derive(Debug)]
pub(crate) struct User {
    /// Dense index (for counters).
    pub(crate) idx: u32,
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    salt: [u8; 16],
    hash: [u8; 32],
    pub(crate) created_at: SystemTime,
    /// Chat streams in flight (admission control).
    pub(crate) inflight: Arc<AtomicU64>,
}

/// What an in-process caller gets from [`crate::SimHandle::provision_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's id.
    pub user_id: String,
    /// A bearer token of a new session.
    pub token: String,
    /// A new thread of the user.
    pub thread_id: String,
}

/// Why sign-up or sign-in failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("User already exists")]
    UserExists,
    #[error("Invalid email or password")]
    InvalidCredentials,
}

#[derive(Debug, Default)]
struct Inner {
    users: Vec<Arc<User>>,
    by_email: HashMap<String, u32>,
    sessions: HashMap<String, u32>,
    threads: HashMap<String, u32>,
}

/// The store.
#[derive(Debug, Default)]
pub(crate) struct AuthStore {
    inner: RwLock<Inner>,
}

/// Constant-time equality of two byte strings (length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_password(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

fn new_salt() -> [u8; 16] {
    let mut s = [0u8; 16];
    let a = crate::rng::os_random_u64().to_le_bytes();
    let b = crate::rng::os_random_u64().to_le_bytes();
    s[..8].copy_from_slice(&a);
    s[8..].copy_from_slice(&b);
    s
}

impl AuthStore {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        match self.inner.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn insert_user(inner: &mut Inner, email: &str, password: &str, name: &str) -> Arc<User> {
        let salt = new_salt();
        let idx = u32::try_from(inner.users.len()).unwrap_or(u32::MAX);
        let user = Arc::new(User {
            idx,
            id: random_hex(16),
            email: email.to_owned(),
            name: name.to_owned(),
            salt,
            hash: hash_password(&salt, password),
            created_at: SystemTime::now(),
            inflight: Arc::new(AtomicU64::new(0)),
        });
        inner.users.push(Arc::clone(&user));
        inner.by_email.insert(email.to_owned(), idx);
        user
    }

    fn new_session(inner: &mut Inner, idx: u32) -> String {
        let token = random_hex(16);
        inner.sessions.insert(token.clone(), idx);
        token
    }

    /// Creates a user and a session.
    pub(crate) fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<(Arc<User>, String), AuthError> {
        let email = email.trim().to_lowercase();
        let mut g = self.write();
        if g.by_email.contains_key(&email) {
            return Err(AuthError::UserExists);
        }
        let user = Self::insert_user(&mut g, &email, password, name);
        let token = Self::new_session(&mut g, user.idx);
        Ok((user, token))
    }

    /// Checks a password and opens a session.
    pub(crate) fn sign_in(
        &self,
        email: &str,
        password: &str,
    ) -> Result<(Arc<User>, String), AuthError> {
        let email = email.trim().to_lowercase();
        let user = {
            let g = self.read();
            g.by_email
                .get(&email)
                .and_then(|i| g.users.get(*i as usize))
                .cloned()
        };
        let Some(user) = user else {
            // Spend the same work as a real check.
            let _ = hash_password(&[0; 16], password);
            return Err(AuthError::InvalidCredentials);
        };
        if !ct_eq(&hash_password(&user.salt, password), &user.hash) {
            return Err(AuthError::InvalidCredentials);
        }
        let token = Self::new_session(&mut self.write(), user.idx);
        Ok((user, token))
    }

    /// Opens another session of `user` (a token exchange).
    pub(crate) fn issue_token(&self, user: &User) -> String {
        Self::new_session(&mut self.write(), user.idx)
    }

    /// The user of a session token.
    pub(crate) fn user_by_token(&self, token: &str) -> Option<Arc<User>> {
        let g = self.read();
        g.sessions
            .get(token)
            .and_then(|i| g.users.get(*i as usize))
            .cloned()
    }

    /// A user by index.
    pub(crate) fn user(&self, idx: u32) -> Option<Arc<User>> {
        self.read().users.get(idx as usize).cloned()
    }

    /// Creates a thread owned by `user`.
    pub(crate) fn create_thread(&self, user: &User) -> String {
        let id = format!("thr_{}", random_hex(12));
        self.write().threads.insert(id.clone(), user.idx);
        id
    }

    /// The owner of a thread.
    pub(crate) fn thread_owner(&self, thread_id: &str) -> Option<u32> {
        self.read().threads.get(thread_id).copied()
    }

    /// Creates (or reuses) a user, opens a session and creates a thread.
    pub(crate) fn provision(&self, email: &str, password: &str) -> Credentials {
        let email = email.trim().to_lowercase();
        let mut g = self.write();
        let user = match g
            .by_email
            .get(&email)
            .and_then(|i| g.users.get(*i as usize))
        {
            Some(u) => Arc::clone(u),
            None => {
                let name = email.split('@').next().unwrap_or("").to_owned();
                Self::insert_user(&mut g, &email, password, &name)
            }
        };
        let token = Self::new_session(&mut g, user.idx);
        let thread_id = format!("thr_{}", random_hex(12));
        g.threads.insert(thread_id.clone(), user.idx);
        Credentials {
            user_id: user.id.clone(),
            token,
            thread_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_up_in_and_threads() {
        let s = AuthStore::default();
        let (u, t1) = s.sign_up("A@Example.com", "password1", "A").expect("new");
        assert_eq!(u.email, "a@example.com");
        assert_eq!(
            s.sign_up("a@example.com", "x", "").map(|_| ()),
            Err(AuthError::UserExists)
        );
        assert_eq!(
            s.sign_in("a@example.com", "wrong").map(|_| ()),
            Err(AuthError::InvalidCredentials)
        );
        assert_eq!(
            s.sign_in("nobody@example.com", "password1").map(|_| ()),
            Err(AuthError::InvalidCredentials)
        );
        let (_, t2) = s.sign_in("a@example.com", "password1").expect("ok");
        assert_ne!(t1, t2);
        assert_eq!(s.user_by_token(&t2).map(|u| u.idx), Some(u.idx));
        assert!(s.user_by_token("nope").is_none());
        let th = s.create_thread(&u);
        assert_eq!(s.thread_owner(&th), Some(u.idx));
    }

    #[test]
    fn provision_reuses_users() {
        let s = AuthStore::default();
        let a = s.provision("p@x.io", "pw");
        let b = s.provision("p@x.io", "pw");
        assert_eq!(a.user_id, b.user_id);
        assert_ne!(a.thread_id, b.thread_id);
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
