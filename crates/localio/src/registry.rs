//! [`NonceRegistry`]: the nonces shown on the local channel and what
//! `UUID_IS_LOCAL` made of them. Pure state: time is passed in.
//!
//! A nonce goes `Pending` (registered by one channel connection) ->
//! `Confirmed` (named by a `UUID_IS_LOCAL` call with AUTH_SYS, which
//! records the NFS connection's addresses) -> `Spent` (the registering
//! connection took the confirmation). Every step happens at most once:
//! a second `UUID_IS_LOCAL` of the same nonce changes nothing, a nonce
//! never registered is never confirmed, and only the connection that
//! registered a nonce can take its confirmation. Entries expire
//! [`NonceRegistry::ttl`] after registration (pending or confirmed ones
//! stop counting; spent ones are kept until then so that the nonce cannot
//! be registered again meanwhile). The registry holds at most `capacity`
//! entries; registering beyond that is refused ([`RegisterError::Full`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::codec::Nonce;

/// Default lifetime of a registered nonce.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Default number of nonces kept at once.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Identifies one local channel connection (assigned by the listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// What `UUID_IS_LOCAL` recorded: the NFS connection that named the nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmation {
    /// The NFS client's address (its export rules apply to the session).
    pub nfs_client: SocketAddr,
    /// The server address that NFS connection reached.
    pub nfs_server: SocketAddr,
}

/// Why a nonce could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The nonce is registered already, or was used recently.
    #[error("nonce already in use")]
    InUse,
    /// The registry is full of live nonces.
    #[error("too many nonces waiting for confirmation")]
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Confirmed(Confirmation),
    Spent,
}

#[derive(Debug)]
struct Entry {
    owner: ConnId,
    registered: Instant,
    state: State,
}

/// The nonces of one server (shared by its listener and its RPC program).
#[derive(Debug)]
pub struct NonceRegistry {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Nonce, Entry>>,
}

impl Default for NonceRegistry {
    fn default() -> Self {
        NonceRegistry::new(DEFAULT_TTL, DEFAULT_CAPACITY)
    }
}

impl NonceRegistry {
    /// A registry whose nonces live `ttl` and that holds at most
    /// `capacity` of them (at least 1).
    pub fn new(ttl: Duration, capacity: usize) -> NonceRegistry {
        NonceRegistry {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long a nonce lives after registration.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Nonce, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.registered) < self.ttl
    }

    /// Registers `nonce` for connection `owner`.
    pub fn register(&self, nonce: Nonce, owner: ConnId, now: Instant) -> Result<(), RegisterError> {
        let mut map = self.lock();
        if let Some(e) = map.get(&nonce) {
            if self.live(e, now) {
                return Err(RegisterError::InUse);
            }
        }
        if map.len() >= self.capacity && !map.contains_key(&nonce) {
            map.retain(|_, e| now.saturating_duration_since(e.registered) < self.ttl);
            if map.len() >= self.capacity {
                return Err(RegisterError::Full);
            }
        }
        map.insert(
            nonce,
            Entry {
                owner,
                registered: now,
                state: State::Pending,
            },
        );
        Ok(())
    }

    /// `UUID_IS_LOCAL(nonce)` arrived on an NFS connection with AUTH_SYS:
    /// confirms a live pending nonce. Returns whether it did (`false` for
    /// unknown, expired, already confirmed or spent nonces).
    pub fn confirm(&self, nonce: &Nonce, confirmation: Confirmation, now: Instant) -> bool {
        let mut map = self.lock();
        match map.get_mut(nonce) {
            Some(e)
                if e.state == State::Pending
                    && now.saturating_duration_since(e.registered) < self.ttl =>
            {
                e.state = State::Confirmed(confirmation);
                true
            }
            _ => false,
        }
    }

    /// Connection `owner` asks whether its `nonce` was confirmed: if so,
    /// the nonce is spent and the confirmation returned (once).
    pub fn take(&self, nonce: &Nonce, owner: ConnId, now: Instant) -> Option<Confirmation> {
        let mut map = self.lock();
        let e = map.get_mut(nonce)?;
        if e.owner != owner || now.saturating_duration_since(e.registered) >= self.ttl {
            return None;
        }
        match e.state {
            State::Confirmed(c) => {
                e.state = State::Spent;
                Some(c)
            }
            _ => None,
        }
    }

    /// Connection `owner` closed: its pending or confirmed nonces can no
    /// longer be used (they stay spent until they expire).
    pub fn release(&self, owner: ConnId) {
        for e in self.lock().values_mut() {
            if e.owner == owner {
                e.state = State::Spent;
            }
        }
    }

    /// Number of entries held (live or not yet pruned).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no entries are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(port: u16) -> Confirmation {
        Confirmation {
            nfs_client: SocketAddr::from(([127, 0, 0, 1], port)),
            nfs_server: SocketAddr::from(([127, 0, 0, 1], 2049)),
        }
    }

    #[test]
    fn register_confirm_take_once() {
        let r = NonceRegistry::default();
        let t = Instant::now();
        let n = Nonce::random();
        r.register(n, ConnId(1), t).unwrap();
        assert_eq!(r.take(&n, ConnId(1), t), None, "not confirmed yet");
        assert!(r.confirm(&n, conf(700), t));
        assert!(
            !r.confirm(&n, conf(800), t),
            "second UUID_IS_LOCAL changes nothing"
        );
        assert_eq!(r.take(&n, ConnId(2), t), None, "other connection");
        assert_eq!(r.take(&n, ConnId(1), t), Some(conf(700)));
        assert_eq!(r.take(&n, ConnId(1), t), None, "spent");
        assert!(!r.confirm(&n, conf(700), t), "replay after use");
        assert_eq!(r.register(n, ConnId(3), t), Err(RegisterError::InUse));
    }

    #[test]
    fn forged_nonce_never_confirms() {
        let r = NonceRegistry::default();
        let t = Instant::now();
        let n = Nonce::random();
        assert!(!r.confirm(&n, conf(1), t));
        r.register(n, ConnId(1), t).unwrap();
        assert_eq!(r.take(&n, ConnId(1), t), None);
    }

    #[test]
    fn expiry_and_capacity() {
        let r = NonceRegistry::new(Duration::from_secs(60), 2);
        let t = Instant::now();
        let (a, b, c) = (Nonce::random(), Nonce::random(), Nonce::random());
        r.register(a, ConnId(1), t).unwrap();
        r.register(b, ConnId(2), t).unwrap();
        assert_eq!(r.register(c, ConnId(3), t), Err(RegisterError::Full));
        let later = t + Duration::from_secs(61);
        assert!(!r.confirm(&a, conf(1), later), "expired");
        r.register(c, ConnId(3), later).unwrap();
        assert_eq!(r.len(), 1, "expired entries pruned");
        assert!(r.confirm(&c, conf(1), later));
        assert_eq!(r.take(&c, ConnId(3), later + Duration::from_secs(61)), None);
    }

    #[test]
    fn release_spends_a_connections_nonces() {
        let r = NonceRegistry::default();
        let t = Instant::now();
        let n = Nonce::random();
        r.register(n, ConnId(1), t).unwrap();
        r.release(ConnId(1));
        assert!(!r.confirm(&n, conf(1), t));
    }
}
