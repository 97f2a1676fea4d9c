//! Counters a client keeps, to observe retransmissions, reconnections and
//! the unstable-write safety net at work.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by every handle of one mounted [`crate::Nfs`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub calls: AtomicU64,
    pub retransmissions: AtomicU64,
    pub connects: AtomicU64,
    pub timeouts: AtomicU64,
    pub unmatched_replies: AtomicU64,
    pub verifier_changes: AtomicU64,
    pub resent_writes: AtomicU64,
    pub resent_bytes: AtomicU64,
    pub commits: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            calls: get(&self.calls),
            retransmissions: get(&self.retransmissions),
            connects: get(&self.connects),
            timeouts: get(&self.timeouts),
            unmatched_replies: get(&self.unmatched_replies),
            verifier_changes: get(&self.verifier_changes),
            resent_writes: get(&self.resent_writes),
            resent_bytes: get(&self.resent_bytes),
            commits: get(&self.commits),
        }
    }
}

/// A snapshot of a client's counters (see [`crate::Nfs::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// RPC calls made (each counted once, however often it was sent).
    pub calls: u64,
    /// Re-sends of a call with its original xid (after a timeout or a
    /// lost connection).
    pub retransmissions: u64,
    /// TCP connections opened to the NFS server (1 + reconnections).
    pub connects: u64,
    /// Tries that got no reply within the timeout.
    pub timeouts: u64,
    /// Replies that matched no pending call (dropped).
    pub unmatched_replies: u64,
    /// Times a WRITE or COMMIT reply carried a write verifier different
    /// from the one the file's unstable data was written under.
    pub verifier_changes: u64,
    /// WRITE pieces sent again because their unstable data may have been
    /// lost (verifier changed).
    pub resent_writes: u64,
    /// Bytes in those re-sent pieces.
    pub resent_bytes: u64,
    /// COMMIT calls that succeeded.
    pub commits: u64,
}
