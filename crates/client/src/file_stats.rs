//! [`FileStats`]: one open file's counters (verifier changes, re-sends,
//! COMMITs), each also added to the client's.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::stats::Counters;

/// Counters of one open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStats {
    /// Verifier changes seen in this file's WRITE/COMMIT replies.
    pub verifier_changes: u64,
    /// WRITE pieces re-sent because their data may have been lost.
    pub resent_writes: u64,
    /// Bytes re-sent.
    pub resent_bytes: u64,
    /// COMMITs that succeeded.
    pub commits: u64,
}

/// Which counter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count {
    VerifierChanges,
    ResentWrites,
    ResentBytes,
    Commits,
}

/// A file's live counters.
#[derive(Debug, Default)]
pub(crate) struct FileCounters {
    verifier_changes: AtomicU64,
    resent_writes: AtomicU64,
    resent_bytes: AtomicU64,
    commits: AtomicU64,
}

impl FileCounters {
    /// Adds `n` to the counter `which`, here and in the client's `all`.
    pub(crate) fn add(&self, which: Count, n: u64, all: &Counters) {
        let (mine, theirs) = match which {
            Count::VerifierChanges => (&self.verifier_changes, &all.verifier_changes),
            Count::ResentWrites => (&self.resent_writes, &all.resent_writes),
            Count::ResentBytes => (&self.resent_bytes, &all.resent_bytes),
            Count::Commits => (&self.commits, &all.commits),
        };
        Counters::add(mine, n);
        Counters::add(theirs, n);
    }

    pub(crate) fn snapshot(&self) -> FileStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FileStats {
            verifier_changes: get(&self.verifier_changes),
            resent_writes: get(&self.resent_writes),
            resent_bytes: get(&self.resent_bytes),
            commits: get(&self.commits),
        }
    }
}
