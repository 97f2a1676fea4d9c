//! How the engine is set up: worker count, queue bound, ring size, direct-IO policy.

use crate::IoError;

/// When the engine uses the file's `O_DIRECT` fd.
///
/// Whatever the policy, a request is never failed because of alignment: the
/// part of it that direct IO cannot serve is done buffered (see [`crate::split`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectPolicy {
    /// Direct IO for the aligned middle of requests whose aligned middle is at
    /// least [`EngineConfig::auto_direct_min`] bytes; buffered otherwise.
    ///
    /// Why a threshold: a small direct IO pays a full device round trip and
    /// gets no readahead and no cache hits, while the page cache serves small
    /// repeated IO from memory; large IO gains from direct (no copy through
    /// the page cache, no double caching between a client's cache and the
    /// server's page cache, no cache pollution by streaming). 64 KiB is where
    /// the per-IO cost stops dominating on common devices (and where Linux's
    /// own readahead windows begin).
    #[default]
    Auto,
    /// Direct IO wherever the file and the request's alignment allow it.
    Always,
    /// Buffered IO only.
    Never,
}

/// Settings for [`IoEngine::start`](crate::IoEngine::start).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads, each with its own io_uring (default 2).
    pub workers: usize,
    /// Requests that may wait in the shared queue before `submit` waits for
    /// space (default 256). Bounds memory: queued plus in-flight requests.
    pub queue_capacity: usize,
    /// Submission queue entries per worker ring (default 64). A request takes
    /// up to 3 entries (head, middle, tail), so a worker keeps about
    /// `ring_entries / 3` to `ring_entries` IOs in flight.
    pub ring_entries: u32,
    /// Default direct-IO policy (a request may override it).
    pub direct: DirectPolicy,
    /// With [`DirectPolicy::Auto`], the smallest aligned middle done direct
    /// (default 64 KiB).
    pub auto_direct_min: usize,
    /// Largest read or write accepted (default 64 MiB); larger ones fail with
    /// [`IoError::TooLarge`] instead of allocating.
    pub max_request_bytes: usize,
    /// Prefix of the worker threads' names (default `nfsl-io`).
    pub thread_name: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 2,
            queue_capacity: 256,
            ring_entries: 64,
            direct: DirectPolicy::Auto,
            auto_direct_min: 64 * 1024,
            max_request_bytes: 64 * 1024 * 1024,
            thread_name: "nfsl-io".to_string(),
        }
    }
}

impl EngineConfig {
    /// Checks the values; [`IoEngine::start`](crate::IoEngine::start) calls it.
    pub fn validate(&self) -> Result<(), IoError> {
        if self.workers == 0 || self.workers > 256 {
            return Err(IoError::Config("workers must be 1..=256"));
        }
        if self.queue_capacity == 0 {
            return Err(IoError::Config("queue_capacity must be at least 1"));
        }
        if !(8..=4096).contains(&self.ring_entries) {
            return Err(IoError::Config("ring_entries must be 8..=4096"));
        }
        // io_uring caps one read/write at 0x7fff_f000 bytes.
        if self.max_request_bytes == 0 || self.max_request_bytes > 0x7fff_f000 {
            return Err(IoError::Config("max_request_bytes must be 1..=0x7fff_f000"));
        }
        Ok(())
    }
}
