//! Counters a client keeps, to observe retransmissions, reconnections and
//! the unstable-write safety net at work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nfsl_transport::client::CallCounters;

/// Live counters, shared by every handle of one mounted [`crate::Nfs`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// What the RPC transport counts (calls, retransmissions, connects,
    /// timeouts, unmatched replies).
    pub rpc: Arc<CallCounters>,
    pub verifier_changes: AtomicU64,
    pub resent_writes: AtomicU64,
    pub resent_bytes: AtomicU64,
    pub commits: AtomicU64,
    pub rpc_reads: AtomicU64,
    pub rpc_read_bytes: AtomicU64,
    pub rpc_writes: AtomicU64,
    pub rpc_write_bytes: AtomicU64,
    pub local_reads: AtomicU64,
    pub local_read_bytes: AtomicU64,
    pub local_readahead_reads: AtomicU64,
    pub local_writes: AtomicU64,
    pub local_write_bytes: AtomicU64,
    pub local_commits: AtomicU64,
    pub localio_opens: AtomicU64,
    pub localio_denied: AtomicU64,
    pub localio_fallbacks: AtomicU64,
    pub localio_probes: AtomicU64,
    pub localio_reprobes: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            calls: get(&self.rpc.calls),
            retransmissions: get(&self.rpc.retransmissions),
            connects: get(&self.rpc.connects),
            timeouts: get(&self.rpc.timeouts),
            unmatched_replies: get(&self.rpc.unmatched_replies),
            verifier_changes: get(&self.verifier_changes),
            resent_writes: get(&self.resent_writes),
            resent_bytes: get(&self.resent_bytes),
            commits: get(&self.commits),
            rpc_reads: get(&self.rpc_reads),
            rpc_read_bytes: get(&self.rpc_read_bytes),
            rpc_writes: get(&self.rpc_writes),
            rpc_write_bytes: get(&self.rpc_write_bytes),
            local_reads: get(&self.local_reads),
            local_read_bytes: get(&self.local_read_bytes),
            local_writes: get(&self.local_writes),
            local_write_bytes: get(&self.local_write_bytes),
            local_commits: get(&self.local_commits),
            local_readahead_reads: get(&self.local_readahead_reads),
            localio_opens: get(&self.localio_opens),
            localio_denied: get(&self.localio_denied),
            localio_fallbacks: get(&self.localio_fallbacks),
            localio_probes: get(&self.localio_probes),
            localio_reprobes: get(&self.localio_reprobes),
            ..ClientStats::default()
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
    /// READ calls made over RPC (each piece once, however often sent).
    pub rpc_reads: u64,
    /// Bytes those READs returned.
    pub rpc_read_bytes: u64,
    /// WRITE calls made over RPC (re-sends included).
    pub rpc_writes: u64,
    /// Bytes those WRITEs wrote.
    pub rpc_write_bytes: u64,
    /// Reads done through LOCALIO (IO engine requests).
    pub local_reads: u64,
    /// Bytes read through LOCALIO.
    pub local_read_bytes: u64,
    /// LOCALIO reads whose data had been read ahead
    /// ([`crate::ClientConfig::readahead`]).
    pub local_readahead_reads: u64,
    /// Writes done through LOCALIO (IO engine requests).
    pub local_writes: u64,
    /// Bytes written through LOCALIO.
    pub local_write_bytes: u64,
    /// COMMITs done through LOCALIO (an fsync of a locally written file).
    pub local_commits: u64,
    /// Files opened over the LOCALIO channel.
    pub localio_opens: u64,
    /// LOCALIO opens the server refused for the file or the credentials
    /// (the IO then went over RPC, which answered for itself).
    pub localio_denied: u64,
    /// Times the mount went back from LOCALIO to RPC: a local IO failed
    /// (it was redone over RPC) or the session's NFS connection was lost
    /// (server restart); a re-probe follows after a backoff.
    pub localio_fallbacks: u64,
    /// LOCALIO probes at mount.
    pub localio_probes: u64,
    /// LOCALIO probes after a session ended or a probe failed.
    pub localio_reprobes: u64,
    /// Whether IO currently goes through LOCALIO.
    pub local_active: bool,
    /// Bytes the IO engine moved with direct IO.
    pub direct_bytes: u64,
    /// Bytes the IO engine moved buffered.
    pub buffered_bytes: u64,
    /// LOCALIO reads done in the caller from the page cache (they could not
    /// block), without a trip to an IO engine worker.
    pub local_cached_reads: u64,
    /// LOCALIO reads tried in the caller that would have blocked (data not
    /// cached) and went to the IO engine's workers.
    pub local_uncached_reads: u64,
    /// Local requests the engine split into buffered head/tail and a
    /// direct middle because they were misaligned.
    pub misaligned_splits: u64,
    /// IO engine workers that became IO flushers (`PR_SET_IO_FLUSHER`).
    pub io_flusher_granted: u64,
    /// IO engine workers the kernel refused that (no CAP_SYS_RESOURCE).
    pub io_flusher_refused: u64,
}
