//! The three ways `nfsl bench` reaches the file: the local file directly
//! with pread/pwrite ([`Pread`]) or io_uring through `nfsl-io-engine`
//! ([`Uring`]), which together are the ceiling, and an NFS file through the
//! client ([`Client`]), with LOCALIO on or off.

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use nfsl_io_engine::buffer::aligned_bytes_mut;
use nfsl_io_engine::{DirectPolicy, EngineConfig, IoEngine, IoFile, Read, Write};

use super::workload::Target;

/// Memory alignment of direct-IO buffers (covers every file system's
/// `STATX_DIOALIGN` memory alignment seen here: 512 on ext4 and XFS).
const BUF_ALIGN: usize = 4096;

/// `len` bytes of `data` (or of `fill`) in a `BytesMut` that starts at a
/// [`BUF_ALIGN`]-aligned address: every path writes from (and reads into)
/// memory of the same alignment. Comparing
/// an aligned ceiling with a `malloc`'d buffer (16 bytes past a cache
/// line) for the other paths measured the allocator: the kernel's copy
/// from it is ~30% slower here (see [`nfsl_io_engine::buffer`]).
fn aligned_bytes(len: usize, fill: u8, data: Option<&[u8]>) -> BytesMut {
    let mut b = aligned_bytes_mut(len, BUF_ALIGN);
    match data {
        Some(d) => b.extend_from_slice(&d[..len]),
        None => b.resize(len, fill),
    }
    b
}

/// The local file with plain positioned reads and writes, one at a time
/// (pread is synchronous: its queue depth is always 1, so the runner only
/// gives it qd=1 workloads). Direct mode uses an `O_DIRECT` descriptor.
pub struct Pread {
    file: std::fs::File,
}

impl Pread {
    /// Opens `path` read-write, with `O_DIRECT` if `direct`.
    pub fn open(path: &Path, direct: bool) -> anyhow::Result<Pread> {
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true);
        if direct {
            o.custom_flags(libc::O_DIRECT);
        }
        let file = o
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Pread { file })
    }
}

impl Target for Pread {
    type Buf = BytesMut;

    fn buffer(&self, len: usize, fill: u8) -> BytesMut {
        aligned_bytes(len, fill, None)
    }

    async fn read(&self, mut buf: BytesMut, offset: u64, len: usize) -> anyhow::Result<BytesMut> {
        let n = len.min(buf.len());
        self.file
            .read_exact_at(&mut buf[..n], offset)
            .context("pread")?;
        Ok(buf)
    }

    async fn write(&self, buf: BytesMut, offset: u64, len: usize) -> anyhow::Result<BytesMut> {
        let n = len.min(buf.len());
        self.file
            .write_all_at(&buf[..n], offset)
            .context("pwrite")?;
        Ok(buf)
    }

    async fn sync(&self) -> anyhow::Result<()> {
        self.file.sync_data().context("fdatasync")
    }
}

/// The local file through the IO engine (io_uring workers), the engine the
/// client's LOCALIO path uses, with the same configuration.
pub struct Uring {
    engine: IoEngine,
    file: Arc<IoFile>,
    direct: DirectPolicy,
}

impl Uring {
    /// Starts an engine and opens `path` read-write for it.
    pub fn open(path: &Path, direct: DirectPolicy) -> anyhow::Result<Uring> {
        let engine = IoEngine::start(EngineConfig {
            direct,
            thread_name: "nfsl-bench-io".into(),
            ..EngineConfig::default()
        })
        .context("starting the IO engine")?;
        let file = Arc::new(IoFile::open(path, true)?);
        if direct == DirectPolicy::Always && !file.direct_capable() {
            anyhow::bail!("{} does not support O_DIRECT", path.display());
        }
        Ok(Uring {
            engine,
            file,
            direct,
        })
    }
}

impl Target for Uring {
    type Buf = BytesMut;

    fn buffer(&self, len: usize, fill: u8) -> BytesMut {
        aligned_bytes(len, fill, None)
    }

    async fn read(&self, buf: BytesMut, offset: u64, len: usize) -> anyhow::Result<BytesMut> {
        let mut buf = buf;
        buf.clear();
        let req = Read::new(self.file.clone(), offset, len)
            .buffer(buf)
            .direct(self.direct);
        let data = self.engine.submit(req).await.await?;
        if data.len() != len {
            anyhow::bail!("short read at {offset}: {} of {len} bytes", data.len());
        }
        Ok(data)
    }

    async fn write(&self, buf: BytesMut, offset: u64, len: usize) -> anyhow::Result<BytesMut> {
        let data = buf.freeze();
        let req = Write::new(self.file.clone(), offset, data.slice(..len)).direct(self.direct);
        self.engine.submit(req).await.await?;
        // The engine has dropped its reference once the write completed:
        // the buffer comes back without a copy.
        Ok(data
            .try_into_mut()
            .unwrap_or_else(|shared| aligned_bytes(shared.len(), 0, Some(&shared))))
    }

    async fn sync(&self) -> anyhow::Result<()> {
        Ok(self.engine.fsync(&self.file, true).await?)
    }
}

/// An NFS file through the client library: LOCALIO or RPC, as the mount
/// was configured. Writes are UNSTABLE; `sync` is COMMIT. Large IO uses the
/// zero-copy calls `nfsl cp` uses (`read_at_bytes`, `write_at_bytes`), so
/// neither path pays a copy into a caller's buffer that pread does not;
/// small reads go into the caller's buffer like pread's.
pub struct Client {
    pub file: nfsl_client::File,
    /// Written buffers the client may still hold, oldest first.
    pub held: std::sync::Mutex<std::collections::VecDeque<Bytes>>,
}

/// Reads of this size and more use `read_at_bytes` (the data as the
/// client got it, as `nfsl cp` does: one copy, by the engine or the
/// socket); smaller ones `read_at` into the caller's buffer, as an
/// application's small reads do.
const ZERO_COPY_READ_MIN: usize = 64 * 1024;

/// Written buffers remembered for reuse, at most.
const MAX_HELD: usize = 64;

impl Target for Client {
    type Buf = BytesMut;

    fn buffer(&self, len: usize, fill: u8) -> BytesMut {
        aligned_bytes(len, fill, None)
    }

    async fn read(&self, mut buf: BytesMut, offset: u64, len: usize) -> anyhow::Result<BytesMut> {
        if len < ZERO_COPY_READ_MIN {
            // Into the caller's buffer, as pread does: LOCALIO's cached
            // reads copy once, straight into it.
            let n = self.file.read_at(&mut buf[..len], offset).await?;
            if n != len {
                anyhow::bail!("short read at {offset}: {n} of {len} bytes");
            }
            return Ok(buf);
        }
        let parts = self.file.read_at_bytes(offset, len).await?;
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if n != len {
            anyhow::bail!("short read at {offset}: {n} of {len} bytes");
        }
        Ok(buf)
    }

    async fn write(&self, buf: BytesMut, offset: u64, len: usize) -> anyhow::Result<BytesMut> {
        let data = buf.freeze();
        self.file.write_at_bytes(data.slice(..len), offset).await?;
        // The client may still hold the data (a LOCALIO write queued on
        // the engine, RPC's re-send journal until COMMIT): take back a
        // buffer it let go of, as a writer reusing its buffers would, and
        // copy only when none is free.
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.push_back(data);
        for _ in 0..held.len() {
            let Some(b) = held.pop_front() else { break };
            match b.try_into_mut() {
                Ok(free) => return Ok(free),
                Err(b) => held.push_back(b),
            }
        }
        let last = held.back().expect("just pushed");
        let copy = aligned_bytes(last.len(), 0, Some(last));
        if held.len() > MAX_HELD {
            held.pop_front();
        }
        Ok(copy)
    }

    async fn sync(&self) -> anyhow::Result<()> {
        Ok(self.file.sync().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_gets_page_aligned_buffers() {
        let aligned = |b: &[u8]| b.as_ptr().align_offset(BUF_ALIGN) == 0;
        let b = aligned_bytes(1 << 20, 7, None);
        assert!(aligned(&b) && b.len() == 1 << 20 && b.iter().all(|&x| x == 7));
        let copy = aligned_bytes(5000, 0, Some(&b));
        assert!(aligned(&copy) && copy.len() == 5000 && copy.iter().all(|&x| x == 7));
    }
}
