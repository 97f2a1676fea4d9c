//! Streaming copy of one file's bytes with bounded memory: chunks of
//! [`CHUNK`] bytes are read and written concurrently (up to
//! [`READ_DEPTH`] reads and [`WRITE_DEPTH`] writes in flight), so reading
//! the next chunk overlaps writing the previous one and an NFS stream
//! never drains between chunks. At most `READ_DEPTH + WRITE_DEPTH` chunk
//! buffers exist at once, whatever the file size.
//!
//! The chunk operations are polled together in place (not spawned), so
//! they may borrow and need not be `Send`.
//!
//! Sources and sinks are small types implementing [`ChunkReader`] and
//! [`ChunkWriter`]: a local file, an NFS file, a stream (stdout), and the
//! demo's generated pattern and verifier.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
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

/// Where bytes come from.
pub trait ChunkReader {
    /// Fills `buf` (whose length is the amount wanted) from `offset` and
    /// returns it truncated to the bytes read: short only at end of file.
    fn read_chunk(
        &self,
        offset: u64,
        buf: Vec<u8>,
    ) -> impl Future<Output = anyhow::Result<Vec<u8>>>;
}

/// Where bytes go.
pub trait ChunkWriter {
    /// Writes all of `buf` at `offset` and hands the buffer back for reuse.
    fn write_chunk(
        &self,
        offset: u64,
        buf: Vec<u8>,
    ) -> impl Future<Output = anyhow::Result<Vec<u8>>>;

    /// Whether chunks must be written one at a time, in order (a stream
    /// such as stdout has no offsets).
    fn sequential(&self) -> bool {
        false
    }
}

/// A chunk operation that finished.
enum Done {
    Read(u64, anyhow::Result<Vec<u8>>),
    Wrote(anyhow::Result<Vec<u8>>),
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
    let write_depth = if writer.sequential() { 1 } else { WRITE_DEPTH };
    let max_buffers = READ_DEPTH + write_depth;
    let mut ops: FuturesUnordered<Op<'_>> = FuturesUnordered::new();
    let (mut reads, mut writes) = (0usize, 0usize);
    // Chunks read and waiting to be written, by offset.
    let mut ready: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut free: Vec<Vec<u8>> = Vec::new();
    let mut allocated = 0usize;
    let mut next_read = 0u64;
    let mut next_write = 0u64; // for sequential writers
    let mut end: Option<u64> = None; // offset of the chunk that was short
    let mut copied = 0u64;
    loop {
        while end.is_none() && reads < READ_DEPTH {
            let mut buf = match free.pop() {
                Some(b) => b,
                None if allocated < max_buffers => {
                    allocated += 1;
                    Vec::new()
                }
                None => break,
            };
            buf.resize(CHUNK, 0);
            let offset = next_read;
            ops.push(Box::pin(async move {
                Done::Read(offset, reader.read_chunk(offset, buf).await)
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
            let buf = ready.remove(&offset).expect("key just seen");
            next_write = offset + CHUNK as u64;
            ops.push(Box::pin(async move {
                Done::Wrote(writer.write_chunk(offset, buf).await)
            }));
            writes += 1;
        }
        let Some(done) = ops.next().await else {
            return Ok(copied);
        };
        match done {
            Done::Read(offset, r) => {
                reads -= 1;
                let buf = r?;
                let past_end = end.is_some_and(|e| offset > e);
                if buf.len() < CHUNK && !past_end {
                    // End of file. Chunks after it that were already asked
                    // for are empty or, if the file grew meanwhile, not
                    // part of this copy.
                    end = Some(offset);
                    let later: Vec<u64> = ready.range(offset + 1..).map(|(o, _)| *o).collect();
                    for o in later {
                        free.extend(ready.remove(&o));
                    }
                }
                if buf.is_empty() || past_end {
                    free.push(buf);
                } else {
                    ready.insert(offset, buf);
                }
            }
            Done::Wrote(r) => {
                writes -= 1;
                let buf = r?;
                copied += buf.len() as u64;
                progress.add(buf.len() as u64);
                free.push(buf);
            }
        }
    }
}

/// A local file read with `pread` on the blocking pool.
pub struct LocalReader(pub Arc<std::fs::File>);

impl ChunkReader for LocalReader {
    async fn read_chunk(&self, offset: u64, mut buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let file = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut filled = 0;
            while filled < buf.len() {
                match file.read_at(&mut buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok(buf)
        })
        .await
        .context("read task")?
        .context("read")
    }
}

/// A local file written with `pwrite` on the blocking pool.
pub struct LocalWriter(pub Arc<std::fs::File>);

impl ChunkWriter for LocalWriter {
    async fn write_chunk(&self, offset: u64, buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let file = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || file.write_all_at(&buf, offset).map(|()| buf))
            .await
            .context("write task")?
            .context("write")
    }
}

/// A stream with no offsets (stdout, a pipe, a character device): chunks
/// are appended in order.
pub struct StreamWriter<S>(pub Arc<std::sync::Mutex<S>>);

impl<S: Write + Send + 'static> ChunkWriter for StreamWriter<S> {
    async fn write_chunk(&self, _offset: u64, buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let out = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            out.write_all(&buf).and_then(|()| out.flush()).map(|()| buf)
        })
        .await
        .context("write task")?
        .map_err(anyhow::Error::from)
    }

    fn sequential(&self) -> bool {
        true
    }
}

/// A file on an NFS server, read with the library's pipelined `read_at`.
pub struct NfsReader(pub nfsl_client::File);

impl ChunkReader for NfsReader {
    async fn read_chunk(&self, offset: u64, mut buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let n = self.0.read_at(&mut buf, offset).await?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// A file on an NFS server, written UNSTABLE with the library's pipelined
/// `write_at`; the caller makes it stable with `close` (COMMIT).
pub struct NfsWriter(pub nfsl_client::File);

impl ChunkWriter for NfsWriter {
    async fn write_chunk(&self, offset: u64, buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        self.0.write_at(&buf, offset).await?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A source of `len` bytes where byte i is `i % 251`.
    struct Counting(u64);

    impl ChunkReader for Counting {
        async fn read_chunk(&self, offset: u64, mut buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
            let n = (self.0.saturating_sub(offset) as usize).min(buf.len());
            buf.truncate(n);
            for (i, b) in buf.iter_mut().enumerate() {
                *b = ((offset + i as u64) % 251) as u8;
            }
            Ok(buf)
        }
    }

    struct Failing;

    impl ChunkWriter for Failing {
        async fn write_chunk(&self, offset: u64, buf: Vec<u8>) -> anyhow::Result<Vec<u8>> {
            if offset > 0 {
                anyhow::bail!("disk full");
            }
            Ok(buf)
        }
    }

    fn check(len: u64) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sink = Arc::new(Mutex::new(Vec::new()));
        let n = rt
            .block_on(copy(
                &Counting(len),
                &StreamWriter(Arc::clone(&sink)),
                &Progress::hidden(),
            ))
            .unwrap();
        assert_eq!(n, len);
        let out = sink.lock().unwrap();
        assert_eq!(out.len() as u64, len);
        assert!(out.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    }

    #[test]
    fn copies_every_length_in_order() {
        for len in [0, 1, CHUNK as u64 - 1, CHUNK as u64, 3 * CHUNK as u64 + 17] {
            check(len);
        }
    }

    #[test]
    fn a_write_error_stops_the_copy() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let e = rt
            .block_on(copy(
                &Counting(5 * CHUNK as u64),
                &Failing,
                &Progress::hidden(),
            ))
            .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
    }

    #[test]
    fn local_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let data: Vec<u8> = (0..CHUNK + 4097).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let dst = dir.path().join("dst");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let n = rt
            .block_on(copy(
                &LocalReader(Arc::new(std::fs::File::open(&src).unwrap())),
                &LocalWriter(Arc::new(std::fs::File::create(&dst).unwrap())),
                &Progress::hidden(),
            ))
            .unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(std::fs::read(&dst).unwrap() == data);
    }
}
