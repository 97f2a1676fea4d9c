//! nfsl's one pool of large buffers, for both sides of the RPC stack and
//! the command line's copies: call records (1 MiB WRITEs) and replies the
//! server reads in because the socket was full, reply records (1 MiB
//! READs) and WRITE piece copies in the client, and `nfsl cp`'s chunks.
//!
//! Without it every such buffer is a fresh allocation of about 1 MiB,
//! which glibc serves with `mmap` (or trims from its heap when freed):
//! a 1 GiB stream then costs tens of thousands of page faults, each
//! zeroing a page (page faults were a tenth of the client's CPU time when
//! streaming). A pool keeps a bounded number of spare buffers; a
//! [`PooledBuf`] returns its buffer when dropped, so it can own the
//! memory behind zero-copy `Bytes` ([`bytes::Bytes::from_owner`]).
//! [`BufferPool::clear`] gives the spares back to the system (the server
//! calls it when its last connection closes).

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use nfsl_rpc::RecordBuffers;

/// Buffers smaller than this are allocated as needed: small allocations
/// are cheap, and a pooled 1 MiB buffer would be wasted on them.
pub const MIN_POOLED: usize = 64 << 10;

/// A bounded stack of spare buffers, shared through an `Arc`.
#[derive(Debug)]
pub struct BufferPool {
    spare: Mutex<Vec<Vec<u8>>>,
    max_buffers: usize,
}

impl BufferPool {
    /// A pool keeping at most `max_buffers` spare buffers.
    pub fn new(max_buffers: usize) -> Arc<BufferPool> {
        Arc::new(BufferPool {
            spare: Mutex::new(Vec::new()),
            max_buffers,
        })
    }

    fn spare(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        // A Vec of buffers stays consistent whatever a panicking holder did.
        self.spare.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A spare buffer with room for `capacity` bytes, if one is kept.
    fn take_spare(&self, capacity: usize) -> Option<Vec<u8>> {
        if capacity < MIN_POOLED {
            return None;
        }
        let mut spare = self.spare();
        let i = spare.iter().rposition(|b| b.capacity() >= capacity)?;
        Some(spare.swap_remove(i))
    }

    /// An empty buffer with room for `capacity` bytes, recycled if a spare
    /// one is large enough.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        match self.take_spare(capacity) {
            Some(mut buf) => {
                buf.clear();
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// A buffer of exactly `len` bytes whose contents are unspecified: a
    /// recycled one keeps what its last user left (only bytes beyond that
    /// are zeroed), for callers that overwrite it all (a read into it).
    pub fn take_filled(&self, len: usize) -> Vec<u8> {
        let mut buf = self.take_spare(len).unwrap_or_default();
        if buf.len() >= len {
            buf.truncate(len);
        } else {
            buf.resize(len, 0);
        }
        buf
    }

    /// Keeps `buf` for reuse if it is large and the pool has room; frees
    /// it otherwise.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() < MIN_POOLED {
            return;
        }
        let mut spare = self.spare();
        if spare.len() < self.max_buffers {
            spare.push(buf);
        }
    }

    /// Frees every spare buffer (memory goes back once load has gone).
    pub fn clear(&self) {
        let spare = std::mem::take(&mut *self.spare());
        drop(spare);
    }

    /// How many spare buffers are kept now.
    pub fn spare_count(&self) -> usize {
        self.spare().len()
    }
}

/// The [`RecordBuffers`] of a record decoder: large records are read into
/// recycled buffers, small ones into an allocation of their own size.
#[derive(Debug, Clone)]
pub struct PoolBuffers(pub Arc<BufferPool>);

impl RecordBuffers for PoolBuffers {
    fn take(&mut self, len: usize) -> Vec<u8> {
        self.0.take(len)
    }
}

/// A buffer that goes back to its pool (if any) when dropped: a received
/// record, a queued reply's body, or the owner behind zero-copy `Bytes`.
#[derive(Debug)]
pub struct PooledBuf {
    buf: Vec<u8>,
    pool: Option<Arc<BufferPool>>,
}

impl PooledBuf {
    /// Wraps `buf`, to be returned to `pool` (if any) on drop.
    pub fn new(buf: Vec<u8>, pool: Option<Arc<BufferPool>>) -> Self {
        PooledBuf { buf, pool }
    }

    /// Takes the buffer out (it will not go back to the pool).
    pub fn into_inner(mut self) -> Vec<u8> {
        self.pool = None;
        std::mem::take(&mut self.buf)
    }

    /// A copy of `data` in a pooled buffer.
    pub fn copy_of(data: &[u8], pool: &Arc<BufferPool>) -> Self {
        let mut buf = pool.take(data.len());
        buf.extend_from_slice(data);
        PooledBuf::new(buf, Some(Arc::clone(pool)))
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_the_pool_is_bounded() {
        let pool = BufferPool::new(1);
        let a = pool.take(1 << 20);
        let ptr = a.as_ptr();
        drop(PooledBuf::new(a, Some(Arc::clone(&pool))));
        let b = pool.take(1 << 19);
        assert_eq!(b.as_ptr(), ptr, "recycled");
        assert!(b.is_empty() && b.capacity() >= 1 << 20);
        pool.give(b);
        pool.give(Vec::with_capacity(1 << 20)); // over the bound: dropped
        pool.give(Vec::with_capacity(16)); // too small: dropped
        assert_eq!(pool.spare_count(), 1);
        let bytes = bytes::Bytes::from_owner(PooledBuf::copy_of(b"abc", &pool));
        assert_eq!(&bytes[..], b"abc");
        assert_eq!(pool.take(100).capacity(), 100, "small: fresh");
        pool.clear();
        assert_eq!(pool.spare_count(), 0, "cleared");
    }

    #[test]
    fn filled_buffers_keep_their_contents_and_have_the_length_asked() {
        let pool = BufferPool::new(4);
        pool.give(vec![7u8; MIN_POOLED * 2]);
        let b = pool.take_filled(MIN_POOLED);
        assert_eq!(b.len(), MIN_POOLED);
        assert!(b.iter().all(|&x| x == 7), "not zeroed");
        let fresh = pool.take_filled(MIN_POOLED);
        assert!(fresh.iter().all(|&x| x == 0));
    }
}
