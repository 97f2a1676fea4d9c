//! [`NonceRegistry`]: the nonces shown on the local channel and what
//! `UUID_IS_LOCAL` made of them. Pure state: time is passed in.
//!
//! A nonce goes `Pending` (registered by one channel connection) ->
//! `Confirmed` (named by a `UUID_IS_LOCAL` call with AUTH_SYS, which
//! records the NFS connection's addresses) -> spent (the registering
//! connection took the confirmation, or closed). Every step happens at
//! most once: a second `UUID_IS_LOCAL` of the same nonce changes nothing,
//! a nonce never registered is never confirmed, and only the connection
//! that registered a nonce can take its confirmation.
//!
//! # Limits (nobody can fill it for others)
//! Live (pending or confirmed) nonces expire [`NonceRegistry::ttl`] after
//! registration (default [`DEFAULT_TTL`], short: a handshake takes
//! milliseconds). Each peer uid other than root may hold at most
//! `per_uid` live nonces ([`RegisterError::Quota`]), all peers together
//! `capacity` ([`RegisterError::Full`]); so one local user cannot make
//! registration fail for another. A spent nonce is forgotten as a live
//! entry at once (it costs no quota) and is remembered in a bounded list
//! of recently spent nonces, oldest dropped first, so that it is not
//! registered again meanwhile; that list never refuses a registration.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::codec::Nonce;

/// Default lifetime of a registered nonce.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// Default number of live nonces kept at once.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Default number of live nonces one non-root peer uid may hold.
pub const DEFAULT_PER_UID: usize = 16;

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
    /// This peer uid holds its share of live nonces already.
    #[error("too many nonces waiting for confirmation for this user")]
    Quota,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Confirmed(Confirmation),
}

#[derive(Debug)]
struct Entry {
    owner: ConnId,
    uid: u32,
    registered: Instant,
    state: State,
}

#[derive(Debug, Default)]
struct Nonces {
    live: HashMap<Nonce, Entry>,
    /// Live nonces per non-root uid.
    per_uid: HashMap<u32, usize>,
    /// Recently spent nonces, oldest first (at most `capacity`).
    spent: VecDeque<Nonce>,
    spent_set: HashSet<Nonce>,
}

impl Nonces {
    /// Removes a live entry and remembers its nonce as spent.
    fn spend(&mut self, nonce: &Nonce, capacity: usize) {
        let Some(e) = self.live.remove(nonce) else {
            return;
        };
        self.uncount(e.uid);
        if self.spent_set.insert(*nonce) {
            self.spent.push_back(*nonce);
        }
        while self.spent.len() > capacity {
            if let Some(old) = self.spent.pop_front() {
                self.spent_set.remove(&old);
            }
        }
    }

    fn uncount(&mut self, uid: u32) {
        if let Some(n) = self.per_uid.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&uid);
            }
        }
    }
}

/// The nonces of one server (shared by its listener and its RPC program).
#[derive(Debug)]
pub struct NonceRegistry {
    ttl: Duration,
    capacity: usize,
    per_uid: usize,
    nonces: Mutex<Nonces>,
}

impl Default for NonceRegistry {
    fn default() -> Self {
        NonceRegistry::new(DEFAULT_TTL, DEFAULT_CAPACITY)
    }
}

impl NonceRegistry {
    /// A registry whose nonces live `ttl` and that holds at most
    /// `capacity` live ones (at least 1), [`DEFAULT_PER_UID`] per uid.
    pub fn new(ttl: Duration, capacity: usize) -> NonceRegistry {
        NonceRegistry::with_quota(ttl, capacity, DEFAULT_PER_UID)
    }

    /// [`NonceRegistry::new`] with at most `per_uid` (at least 1) live
    /// nonces per non-root peer uid.
    pub fn with_quota(ttl: Duration, capacity: usize, per_uid: usize) -> NonceRegistry {
        NonceRegistry {
            ttl,
            capacity: capacity.max(1),
            per_uid: per_uid.max(1),
            nonces: Mutex::new(Nonces::default()),
        }
    }

    /// How long a nonce lives after registration.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Nonces> {
        self.nonces.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.registered) < self.ttl
    }

    /// Drops expired live entries (remembering them as spent).
    fn prune(&self, n: &mut Nonces, now: Instant) {
        let expired: Vec<Nonce> = n
            .live
            .iter()
            .filter(|(_, e)| !self.live(e, now))
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            n.spend(&k, self.capacity);
        }
    }

    /// Registers `nonce` for connection `owner`, whose peer is `uid`.
    pub fn register(
        &self,
        nonce: Nonce,
        owner: ConnId,
        uid: u32,
        now: Instant,
    ) -> Result<(), RegisterError> {
        let mut n = self.lock();
        if n.spent_set.contains(&nonce) {
            return Err(RegisterError::InUse);
        }
        if let Some(e) = n.live.get(&nonce) {
            if self.live(e, now) {
                return Err(RegisterError::InUse);
            }
        }
        let quota_hit =
            |n: &Nonces| uid != 0 && n.per_uid.get(&uid).copied().unwrap_or(0) >= self.per_uid;
        if n.live.len() >= self.capacity || quota_hit(&n) {
            self.prune(&mut n, now);
            if quota_hit(&n) {
                return Err(RegisterError::Quota);
            }
            if n.live.len() >= self.capacity {
                return Err(RegisterError::Full);
            }
        }
        if n.spent_set.contains(&nonce) {
            return Err(RegisterError::InUse);
        }
        if uid != 0 {
            *n.per_uid.entry(uid).or_insert(0) += 1;
        }
        if let Some(old) = n.live.insert(
            nonce,
            Entry {
                owner,
                uid,
                registered: now,
                state: State::Pending,
            },
        ) {
            n.uncount(old.uid);
        }
        Ok(())
    }

    /// `UUID_IS_LOCAL(nonce)` arrived on an NFS connection with AUTH_SYS:
    /// confirms a live pending nonce. Returns whether it did (`false` for
    /// unknown, expired, already confirmed or spent nonces).
    pub fn confirm(&self, nonce: &Nonce, confirmation: Confirmation, now: Instant) -> bool {
        let mut n = self.lock();
        match n.live.get_mut(nonce) {
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
        let mut n = self.lock();
        let e = n.live.get(nonce)?;
        if e.owner != owner || !self.live(e, now) {
            return None;
        }
        match e.state {
            State::Confirmed(c) => {
                n.spend(nonce, self.capacity);
                Some(c)
            }
            State::Pending => None,
        }
    }

    /// Connection `owner` closed: its pending or confirmed nonces can no
    /// longer be used (they are spent).
    pub fn release(&self, owner: ConnId) {
        let mut n = self.lock();
        let mine: Vec<Nonce> = n
            .live
            .iter()
            .filter(|(_, e)| e.owner == owner)
            .map(|(k, _)| *k)
            .collect();
        for k in mine {
            n.spend(&k, self.capacity);
        }
    }

    /// Number of live entries held (not yet pruned).
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no live entries are held.
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
        r.register(n, ConnId(1), 1000, t).unwrap();
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
        assert_eq!(r.register(n, ConnId(3), 1000, t), Err(RegisterError::InUse));
    }

    #[test]
    fn forged_nonce_never_confirms() {
        let r = NonceRegistry::default();
        let t = Instant::now();
        let n = Nonce::random();
        assert!(!r.confirm(&n, conf(1), t));
        r.register(n, ConnId(1), 1000, t).unwrap();
        assert_eq!(r.take(&n, ConnId(1), t), None);
    }

    #[test]
    fn expiry_and_capacity() {
        let r = NonceRegistry::new(Duration::from_secs(60), 2);
        let t = Instant::now();
        let (a, b, c) = (Nonce::random(), Nonce::random(), Nonce::random());
        r.register(a, ConnId(1), 1000, t).unwrap();
        r.register(b, ConnId(2), 1000, t).unwrap();
        assert_eq!(r.register(c, ConnId(3), 1000, t), Err(RegisterError::Full));
        let later = t + Duration::from_secs(61);
        assert!(!r.confirm(&a, conf(1), later), "expired");
        r.register(c, ConnId(3), 1000, later).unwrap();
        assert_eq!(r.len(), 1, "expired entries pruned");
        assert_eq!(
            r.register(a, ConnId(4), 1000, later),
            Err(RegisterError::InUse),
            "an expired nonce stays spent"
        );
        assert!(r.confirm(&c, conf(1), later));
        assert_eq!(r.take(&c, ConnId(3), later + Duration::from_secs(61)), None);
    }

    #[test]
    fn release_spends_a_connections_nonces() {
        let r = NonceRegistry::default();
        let t = Instant::now();
        let n = Nonce::random();
        r.register(n, ConnId(1), 1000, t).unwrap();
        r.release(ConnId(1));
        assert!(!r.confirm(&n, conf(1), t));
    }

    #[test]
    fn one_uid_cannot_fill_the_registry_for_others() {
        let r = NonceRegistry::with_quota(Duration::from_secs(10), 100, 3);
        let t = Instant::now();
        for i in 0..3 {
            r.register(Nonce::random(), ConnId(i), 1000, t).unwrap();
        }
        assert_eq!(
            r.register(Nonce::random(), ConnId(9), 1000, t),
            Err(RegisterError::Quota)
        );
        // Other users and root are not affected.
        r.register(Nonce::random(), ConnId(10), 1001, t).unwrap();
        for i in 0..10 {
            r.register(Nonce::random(), ConnId(20 + i), 0, t).unwrap();
        }
        // Closing a connection gives its share back.
        r.release(ConnId(0));
        r.register(Nonce::random(), ConnId(11), 1000, t).unwrap();
        // So does expiry.
        let later = t + Duration::from_secs(11);
        for i in 0..3 {
            r.register(Nonce::random(), ConnId(30 + i), 1000, later)
                .unwrap();
        }
    }

    #[test]
    fn thousands_of_abandoned_registrations_leave_nothing_live() {
        let r = NonceRegistry::with_quota(Duration::from_secs(10), 64, 4);
        let t = Instant::now();
        for i in 0..10_000 {
            r.register(Nonce::random(), ConnId(i), 1000, t).unwrap();
            r.release(ConnId(i));
        }
        assert_eq!(r.len(), 0);
        r.register(Nonce::random(), ConnId(1), 1001, t).unwrap();
    }
}
