//! The ends of a copy: local files (pread/pwrite on the blocking pool), a
//! stream without offsets (stdout, a pipe, a device), and NFS files
//! through the client library's zero-copy `read_at_bytes` and
//! `write_at_bytes`.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures_util::future::try_join_all;

use super::{BufferPool, Chunk, ChunkReader, ChunkWriter};

/// A local file read with `pread` on the blocking pool.
pub struct LocalReader(pub Arc<std::fs::File>);

impl ChunkReader for LocalReader {
    async fn read_chunk(
        &self,
        offset: u64,
        len: usize,
        pool: &BufferPool,
    ) -> anyhow::Result<Chunk> {
        let file = Arc::clone(&self.0);
        let mut buf = pool.take_filled(len);
        let (buf, filled) = tokio::task::spawn_blocking(move || {
            let mut filled = 0;
            while filled < buf.len() {
                match file.read_at(&mut buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok((buf, filled))
        })
        .await
        .context("read task")?
        .context("read")?;
        if filled == 0 {
            pool.give(buf);
            return Ok(Chunk::default());
        }
        Ok(Chunk(vec![super::share(pool, buf, filled)]))
    }
}

/// A local file written with `pwrite` on the blocking pool.
pub struct LocalWriter(pub Arc<std::fs::File>);

impl ChunkWriter for LocalWriter {
    async fn write_chunk(&self, offset: u64, chunk: Chunk) -> anyhow::Result<()> {
        let file = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut at = offset;
            for part in &chunk.0 {
                file.write_all_at(part, at)?;
                at += part.len() as u64;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .context("write task")?
        .context("write")
    }
}

/// A stream with no offsets (stdout, a pipe, a character device): chunks
/// are appended in order.
pub struct StreamWriter<S>(pub Arc<Mutex<S>>);

impl<S: Write + Send + 'static> ChunkWriter for StreamWriter<S> {
    async fn write_chunk(&self, _offset: u64, chunk: Chunk) -> anyhow::Result<()> {
        let out = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            for part in &chunk.0 {
                out.write_all(part)?;
            }
            out.flush()
        })
        .await
        .context("write task")?
        .map_err(anyhow::Error::from)
    }

    fn sequential(&self) -> bool {
        true
    }
}

/// A file on an NFS server, read with the library's pipelined
/// `read_at_bytes` (the chunk is the reply records' own bytes).
pub struct NfsReader(pub nfsl_client::File);

impl ChunkReader for NfsReader {
    async fn read_chunk(&self, offset: u64, len: usize, _: &BufferPool) -> anyhow::Result<Chunk> {
        Ok(Chunk(self.0.read_at_bytes(offset, len).await?))
    }
}

/// A file on an NFS server, written UNSTABLE with the library's pipelined
/// `write_at_bytes` (it keeps the chunk's buffers, not copies, until
/// COMMIT); the caller makes it stable with `close`.
pub struct NfsWriter(pub nfsl_client::File);

impl ChunkWriter for NfsWriter {
    async fn write_chunk(&self, offset: u64, chunk: Chunk) -> anyhow::Result<()> {
        let mut at = offset;
        let writes = chunk.0.into_iter().map(|part| {
            let this = at;
            at += part.len() as u64;
            self.0.write_at_bytes(part, this)
        });
        try_join_all(writes).await?;
        Ok(())
    }
}
