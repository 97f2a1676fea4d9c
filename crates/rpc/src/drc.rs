//! A duplicate request cache (DRC): remembers the replies to
//! non-idempotent calls so a retransmission is answered with the original
//! reply instead of being executed twice.
//!
//! Pure data structure: no clock, no lock. The owner wraps it in whatever
//! synchronisation it needs.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::call::CallHeader;

/// How many leading argument bytes [`args_checksum`] covers (as knfsd).
pub const CHECKSUM_PREFIX: usize = 256;

/// Result of [`DuplicateRequestCache::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrcLookup<V> {
    /// Not seen before; it is now marked in progress and the caller must
    /// later call [`complete`](DuplicateRequestCache::complete) or
    /// [`abandon`](DuplicateRequestCache::abandon).
    New,
    /// The original is still executing; the retransmission should be
    /// dropped (the original's reply will answer it).
    InProgress,
    /// Already answered: resend this reply.
    Done(V),
}

#[derive(Debug)]
enum Slot<V> {
    InProgress,
    Done(V),
}

/// A bounded cache from request keys to replies, O(1) per operation.
///
/// Eviction policy: FIFO over *completed* entries. When more than
/// `capacity` replies are held, the oldest completed one is dropped.
/// In-progress entries are never evicted (evicting one would let its
/// retransmission execute a second time) and do not count towards the
/// capacity; their number is bounded by the caller's limit on calls in
/// flight. Each completed key enters the FIFO exactly once, so every
/// operation is O(1) (amortised, as for the underlying `HashMap`).
#[derive(Debug)]
pub struct DuplicateRequestCache<K, V = Arc<[u8]>> {
    capacity: usize,
    map: HashMap<K, Slot<V>>,
    done_order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V: Clone> DuplicateRequestCache<K, V> {
    /// A cache holding at most `capacity` completed replies (0 disables
    /// caching of replies; in-progress tracking still works).
    pub fn new(capacity: usize) -> Self {
        DuplicateRequestCache {
            capacity,
            map: HashMap::new(),
            done_order: VecDeque::new(),
        }
    }

    /// Looks `key` up; if it is unknown, marks it in progress and returns
    /// [`DrcLookup::New`].
    pub fn begin(&mut self, key: &K) -> DrcLookup<V> {
        match self.map.get(key) {
            Some(Slot::InProgress) => DrcLookup::InProgress,
            Some(Slot::Done(reply)) => DrcLookup::Done(reply.clone()),
            None => {
                self.map.insert(key.clone(), Slot::InProgress);
                DrcLookup::New
            }
        }
    }

    /// Stores the reply for an in-progress `key`, evicting the oldest
    /// completed entry if the cache is full. Returns `false` (and stores
    /// nothing) if `key` was not in progress.
    pub fn complete(&mut self, key: &K, reply: V) -> bool {
        match self.map.get_mut(key) {
            Some(slot @ Slot::InProgress) if self.capacity > 0 => *slot = Slot::Done(reply),
            Some(Slot::InProgress) => {
                self.map.remove(key);
                return true;
            }
            _ => return false,
        }
        self.done_order.push_back(key.clone());
        while self.done_order.len() > self.capacity {
            if let Some(old) = self.done_order.pop_front() {
                if let Entry::Occupied(e) = self.map.entry(old) {
                    if matches!(e.get(), Slot::Done(_)) {
                        e.remove();
                    }
                }
            }
        }
        true
    }

    /// Forgets an in-progress `key` whose call produced no reply, so a
    /// retransmission executes it afresh. Completed entries are untouched.
    pub fn abandon(&mut self, key: &K) {
        if let Entry::Occupied(e) = self.map.entry(key.clone()) {
            if matches!(e.get(), Slot::InProgress) {
                e.remove();
            }
        }
    }

    /// Number of entries, in progress or completed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Maximum number of completed entries kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The identity of a call for duplicate detection, as knfsd keys its
/// reply cache: who sent it (address and port: another port is another
/// client, e.g. another user's process on the same host), its xid, what it
/// calls, and a checksum of its arguments so that an xid reused for
/// different arguments is not answered from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DrcKey {
    /// The client's address and port. (A client that reconnects keeps its
    /// port, as the Linux client and nfsl's do, to be answered from the
    /// cache.)
    pub client: SocketAddr,
    /// Transaction id.
    pub xid: u32,
    /// Program number.
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure number.
    pub procedure: u32,
    /// [`args_checksum`] of the arguments.
    pub args_checksum: u64,
}

impl DrcKey {
    /// The key of the call with `header` and `args` from `client`.
    pub fn new(client: SocketAddr, header: &CallHeader, args: &[u8]) -> Self {
        DrcKey {
            client,
            xid: header.xid,
            program: header.program,
            version: header.version,
            procedure: header.procedure,
            args_checksum: args_checksum(args),
        }
    }
}

/// FNV-1a (64-bit) over the arguments' length and their first
/// [`CHECKSUM_PREFIX`] bytes: cheap, and enough to tell a reused xid.
pub fn args_checksum(args: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let len = (args.len() as u64).to_be_bytes();
    let prefix = &args[..args.len().min(CHECKSUM_PREFIX)];
    len.iter()
        .chain(prefix)
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests;
