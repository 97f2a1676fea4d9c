//! Engine counters: atomics updated by the workers, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the engine's counters since start (see [`IoEngine::stats`](crate::IoEngine::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Read requests completed successfully.
    pub reads: u64,
    /// Bytes returned by successful reads.
    pub bytes_read: u64,
    /// Write requests completed successfully.
    pub writes: u64,
    /// Bytes written by successful writes.
    pub bytes_written: u64,
    /// Bytes moved (read or written) through the O_DIRECT fd.
    pub direct_bytes: u64,
    /// Bytes moved (read or written) through the buffered fd.
    pub buffered_bytes: u64,
    /// Requests cut into a buffered head and/or tail around a direct middle.
    pub misaligned_splits: u64,
    /// Requests that wanted direct IO but had no aligned block: done buffered.
    pub misaligned_buffered: u64,
    /// Direct IOs that failed with EINVAL and were redone buffered.
    pub direct_retries: u64,
    /// Write segments made stable with RWF_DSYNC.
    pub dsync_writes: u64,
    /// Buffered unstable write calls done on a worker thread itself
    /// (`pwrite`), not through its ring.
    pub sync_writes: u64,
    /// Of those, writes of at least 256 KiB made with `RWF_DONTCACHE`
    /// (writeback starts at once; pages leave the cache once written).
    pub dontcache_writes: u64,
    /// Buffered writes a worker left to the one already writing their file.
    pub strand_waits: u64,
    /// Reads done entirely in the caller from the page cache
    /// ([`IoEngine::read_into`](crate::IoEngine::read_into)); not in `reads`.
    pub nowait_reads: u64,
    /// Bytes those reads returned; not in `bytes_read`.
    pub nowait_bytes: u64,
    /// Reads tried in the caller that would have blocked (not cached, or
    /// only in part) and went to the workers.
    pub nowait_refusals: u64,
    /// Writes done entirely in the caller with `RWF_NOWAIT`
    /// ([`IoEngine::write`](crate::IoEngine::write)); not in `writes`.
    pub nowait_writes: u64,
    /// Bytes written in the caller (by those writes, and the head of those
    /// only partly written there); not in `bytes_written`.
    pub nowait_write_bytes: u64,
    /// Writes tried in the caller that would have blocked, in full or in
    /// part, or that the file system refused (`EOPNOTSUPP`, remembered per
    /// [`IoFile`](crate::IoFile): its later writes are not tried): all or
    /// the rest of each went to the workers.
    pub nowait_write_refusals: u64,
    /// Fsync requests completed successfully.
    pub syncs: u64,
    /// Submissions that found the queue full and waited for space.
    pub queue_full_waits: u64,
    /// Requests that ended with an error.
    pub errors: u64,
}

macro_rules! counters {
    ($($field:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        pub(crate) struct Counters { $(pub(crate) $field: AtomicU64,)* }
        impl Counters {
            pub(crate) fn snapshot(&self) -> EngineStats {
                EngineStats { $($field: self.$field.load(Relaxed),)* }
            }
        }
    };
}

counters!(
    reads,
    bytes_read,
    writes,
    bytes_written,
    direct_bytes,
    buffered_bytes,
    misaligned_splits,
    misaligned_buffered,
    direct_retries,
    dsync_writes,
    sync_writes,
    dontcache_writes,
    strand_waits,
    nowait_reads,
    nowait_bytes,
    nowait_refusals,
    nowait_writes,
    nowait_write_bytes,
    nowait_write_refusals,
    syncs,
    queue_full_waits,
    errors,
);

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}
