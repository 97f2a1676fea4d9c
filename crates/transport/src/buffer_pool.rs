//! Recycling large buffers: the records of 1 MiB WRITEs, and 1 MiB READ
//! replies read into memory because the socket was full. Such a buffer
//! goes back to a small server-wide pool when its call or reply is done,
//! and the next large record or queued reply uses it.
//!
//! Without it every one is a fresh allocation of about 1 MiB, which
//! glibc's allocator may serve with `mmap` (or trim from its heap when
//! freed): a 1 GiB stream of WRITEs then cost the server tens of thousands
//! of page faults, each zeroing a page. The pool is bounded
//! ([`POOL_BUFFERS`] buffers, each at most a record or reply long), so it
//! never holds more than a few tens of MiB beyond what calls in flight use.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use nfsl_rpc::RecordBuffers;

/// Buffers smaller than this are allocated as needed: small allocations
/// are cheap, and a pooled 1 MiB buffer would be wasted on them.
pub(crate) const POOLED_MIN: usize = 64 << 10;

/// Most buffers the pool keeps. Enough for the WRITEs (or queued READ
/// replies) a streaming client keeps in flight (8-16 of 1 MiB) to cycle
/// through it.
pub(crate) const POOL_BUFFERS: usize = 16;

/// Free large buffers, shared by every connection of one server.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    fn free(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A Vec of buffers stays consistent whatever a panicking holder did.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer for about `len` bytes: a pooled one (contents and length
    /// as its last user left them) when `len` is large and one is free,
    /// else an empty one.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        if len < POOLED_MIN {
            return Vec::new();
        }
        self.free().pop().unwrap_or_default()
    }

    /// Keeps `buf` for a later record if it is large and the pool has room;
    /// frees it otherwise.
    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() < POOLED_MIN {
            return;
        }
        let mut free = self.free();
        if free.len() < POOL_BUFFERS {
            free.push(buf);
        }
    }

    /// Frees every spare buffer (when the server goes idle, so memory
    /// returns to the system once load has gone).
    pub(crate) fn clear(&self) {
        let spare = std::mem::take(&mut *self.free());
        drop(spare);
    }

    /// How many buffers are free (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.free().len()
    }
}

/// The [`RecordBuffers`] of a connection's decoder: takes from the pool.
pub(crate) struct PoolBuffers(pub(crate) Arc<BufferPool>);

impl RecordBuffers for PoolBuffers {
    fn take(&mut self, len: usize) -> Vec<u8> {
        self.0.take(len)
    }
}

/// A buffer (a received record, a queued reply's body) that returns to
/// the pool when dropped.
#[derive(Debug)]
pub(crate) struct PooledBuf {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl PooledBuf {
    pub(crate) fn new(buf: Vec<u8>, pool: Arc<BufferPool>) -> PooledBuf {
        PooledBuf { buf, pool }
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_recycled_up_to_the_bound() {
        let pool = Arc::new(BufferPool::default());
        let records: Vec<PooledBuf> = (0..POOL_BUFFERS + 3)
            .map(|_| PooledBuf::new(vec![1; POOLED_MIN], pool.clone()))
            .collect();
        drop(PooledBuf::new(vec![1; POOLED_MIN - 1], pool.clone()));
        assert_eq!(pool.len(), 0, "small buffers are not kept");
        drop(records);
        assert_eq!(pool.len(), POOL_BUFFERS, "bounded");
        let mut source = PoolBuffers(pool.clone());
        assert_eq!(source.take(100).capacity(), 0, "small records: fresh");
        let reused = source.take(POOLED_MIN);
        assert_eq!(reused.len(), POOLED_MIN, "kept as it was");
        assert_eq!(pool.len(), POOL_BUFFERS - 1);
    }
}
