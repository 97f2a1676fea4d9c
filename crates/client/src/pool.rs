//! Recycling large buffers (READ reply records, WRITE piece copies), so a
//! long transfer reuses the same warm memory instead of faulting in fresh
//! pages for every megabyte (page faults were a tenth of the client's CPU
//! time when streaming).

use std::sync::{Arc, Mutex};

use nfsl_rpc::RecordBuffers;

/// Buffers at least this large are worth recycling.
pub(crate) const MIN_POOLED: usize = 64 << 10;

/// A bounded stack of spare buffers.
#[derive(Debug)]
pub(crate) struct BufferPool {
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

    fn spare(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.spare.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty buffer with room for `capacity` bytes, recycled if one
    /// large enough is spare.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        if capacity >= MIN_POOLED {
            let mut spare = self.spare();
            if let Some(i) = spare.iter().rposition(|b| b.capacity() >= capacity) {
                return spare.swap_remove(i);
            }
        }
        Vec::with_capacity(capacity)
    }

    /// Returns a buffer for reuse (dropped if small or the pool is full).
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() < MIN_POOLED {
            return;
        }
        buf.clear();
        let mut spare = self.spare();
        if spare.len() < self.max_buffers {
            spare.push(buf);
        }
    }
}

/// The [`RecordBuffers`] of a connection's reply decoder: large replies
/// (READs) are read into recycled buffers, small ones into an allocation
/// of their first fragment's size.
pub(crate) struct ReplyBuffers(pub(crate) Arc<BufferPool>);

impl RecordBuffers for ReplyBuffers {
    fn take(&mut self, len: usize) -> Vec<u8> {
        self.0.take(len)
    }
}

/// A buffer that goes back to its pool when dropped: the owner behind
/// zero-copy `Bytes` (`Bytes::from_owner`).
#[derive(Debug)]
pub(crate) struct PooledBuf {
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
        assert_eq!(pool.spare().len(), 1);
        let bytes = bytes::Bytes::from_owner(PooledBuf::copy_of(b"abc", &pool));
        assert_eq!(&bytes[..], b"abc");
    }
}
