//! Streaming copy of one file's bytes with bounded memory: chunks of
//! [`CHUNK`] bytes are read and written concurrently (up to
//! [`READ_DEPTH`] reads and [`WRITE_DEPTH`] writes in flight), so reading
//! the next chunk overlaps writing the previous one and an NFS stream
//! never drains between chunks. At most `READ_DEPTH + WRITE_DEPTH` chunks
//! are read and not yet written at any time, whatever the file size.
//!
//! Data moves as [`Bytes`] without copies: an NFS source hands over the
//! reply records' own bytes, an NFS destination sends (and keeps, until
//! COMMIT) the very buffers that were read, and local reads go into
//! buffers from a [`BufferPool`] that return to it when the last user
//! drops them.
//!
//! The chunk operations are polled together in place (not spawned), so
//! they may borrow and need not be `Send`. Sources and sinks implement
//! [`ChunkReader`] and [`ChunkWriter`] ([`ends`]: local file, stream, NFS
//! file; the demo adds its generated pattern and a verifier).

mod ends;
mod ranges;

pub use ends::{LocalReader, LocalWriter, NfsReader, NfsWriter, StreamWriter};
pub use ranges::copy_file_ranges;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::progress::Progress;

/// Bytes per chunk: 4 MiB, four 1 MiB READs/WRITEs. With two chunks in
/// flight each way, about 8 MiB is on the wire at once: measured against
/// `nfsl serve` on loopback, more in flight only costs the server more
/// CPU (1 GiB reads: 8 MiB chunks ~1.3x slower) and one chunk at a time
/// drains the stream between chunks.
pub const CHUNK: usize = 4 << 20;
/// Chunk reads in flight at once.
pub const READ_DEPTH: usize = 2;
/// Chunk writes in flight at once (1 for sequential sinks).
pub const WRITE_DEPTH: usize = 2;

/// Part of a file: byte slices in order, `len()` bytes in all.
#[derive(Debug, Default)]
pub struct Chunk(pub Vec<Bytes>);

impl Chunk {
    /// Total bytes.
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

/// Where bytes come from.
pub trait ChunkReader {
    /// Reads `len` bytes at `offset` (buffers, if it needs any, from
    /// `pool`); fewer only at end of file.
    fn read_chunk(
        &self,
        offset: u64,
        len: usize,
        pool: &BufferPool,
    ) -> impl Future<Output = anyhow::Result<Chunk>>;
}

/// Where bytes go.
pub trait ChunkWriter {
    /// Writes all of `chunk` at `offset`.
    fn write_chunk(&self, offset: u64, chunk: Chunk) -> impl Future<Output = anyhow::Result<()>>;

    /// Whether chunks must be written one at a time, in order (a stream
    /// such as stdout has no offsets).
    fn sequential(&self) -> bool {
        false
    }
}

/// The spare buffers of a copy: nfsl's one buffer pool
/// ([`nfsl_transport::pool`]), holding [`CHUNK`]-sized buffers here.
pub type BufferPool = Arc<nfsl_transport::BufferPool>;

/// Spare buffers kept at most; more are freed.
const MAX_SPARE: usize = READ_DEPTH + WRITE_DEPTH + 2;

/// A pool for one copy.
pub fn new_pool() -> BufferPool {
    nfsl_transport::BufferPool::new(MAX_SPARE)
}

/// The first `len` bytes of `buf` as `Bytes`; `buf` comes back to `pool`
/// when the last clone is dropped.
pub fn share(pool: &BufferPool, mut buf: Vec<u8>, len: usize) -> Bytes {
    buf.truncate(len);
    Bytes::from_owner(nfsl_transport::PooledBuf::new(buf, Some(Arc::clone(pool))))
}

/// A chunk operation that finished.
enum Done {
    Read(u64, anyhow::Result<Chunk>),
    Wrote(usize, anyhow::Result<()>),
}

type Op<'a> = Pin<Box<dyn Future<Output = Done> + 'a>>;

/// Copies everything `reader` has (until a short read) to `writer` at the
/// same offsets, counting written bytes into `progress`. Returns the
/// number of bytes copied. Does not flush or sync `writer`: the caller
/// finishes it (for NFS: COMMIT) and only then reports success. On an
/// error, the operations still in flight are dropped (cancelled).
pub async fn copy<R: ChunkReader, W: ChunkWriter>(
    reader: &R,
    writer: &W,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let pool = new_pool();
    let write_depth = if writer.sequential() { 1 } else { WRITE_DEPTH };
    let mut ops: FuturesUnordered<Op<'_>> = FuturesUnordered::new();
    let (mut reads, mut writes) = (0usize, 0usize);
    // Chunks read and waiting to be written, by offset.
    let mut ready: BTreeMap<u64, Chunk> = BTreeMap::new();
    let mut next_read = 0u64;
    let mut next_write = 0u64; // for sequential writers
    let mut end: Option<u64> = None; // offset of the chunk that was short
    let mut copied = 0u64;
    loop {
        while end.is_none()
            && reads < READ_DEPTH
            && reads + ready.len() + writes < READ_DEPTH + write_depth
        {
            let offset = next_read;
            let pool = &pool;
            ops.push(Box::pin(async move {
                Done::Read(offset, reader.read_chunk(offset, CHUNK, pool).await)
            }));
            reads += 1;
            next_read += CHUNK as u64;
        }
        while writes < write_depth {
            let Some((&offset, _)) = ready.first_key_value() else {
                break;
            };
            if writer.sequential() && offset != next_write {
                break;
            }
            let chunk = ready.remove(&offset).expect("key just seen");
            next_write = offset + CHUNK as u64;
            let len = chunk.len();
            ops.push(Box::pin(async move {
                Done::Wrote(len, writer.write_chunk(offset, chunk).await)
            }));
            writes += 1;
        }
        let Some(done) = ops.next().await else {
            return Ok(copied);
        };
        match done {
            Done::Read(offset, r) => {
                reads -= 1;
                let chunk = r?;
                let len = chunk.len();
                let past_end = end.is_some_and(|e| offset > e);
                if len < CHUNK && !past_end {
                    // End of file. Chunks after it that were already asked
                    // for are empty or, if the file grew meanwhile, not
                    // part of this copy.
                    end = Some(offset);
                    ready.retain(|&o, _| o <= offset);
                }
                if len > 0 && !past_end {
                    ready.insert(offset, chunk);
                }
            }
            Done::Wrote(len, r) => {
                writes -= 1;
                r?;
                copied += len as u64;
                progress.add(len as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests;
