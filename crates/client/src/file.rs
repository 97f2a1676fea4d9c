//! [`File`]: an open regular file. Each IO goes one of two ways, chosen
//! per IO by the file's LOCALIO route ([`LocalRoute`]: local while the
//! mount has a live session and the server handed this file's fds over)
//! or else by its RPC route ([`RpcRoute`]: pipelined READ/WRITE pieces,
//! the journal of unstable data, COMMIT). Opening and creating files is
//! in [`crate::open`].

use bytes::Bytes;
use nfsl_io_engine::buffer::{aligned_bytes_mut, COPY_ALIGN};

use crate::error::{Error, Result};
pub use crate::file_stats::FileStats;
use crate::local::LocalRoute;
use crate::rpc_route::RpcRoute;
use crate::session::Nfs;
use crate::types::{FileHandle, Metadata, SetAttr};
use nfsl_transport::client::{FileRange, Payload};

/// An open regular file. Usable from many tasks (`&self` methods);
/// unstable data is kept until a COMMIT covers it: call [`File::sync`] or
/// [`File::close`] before dropping it, or data written since the last
/// COMMIT is not known to be durable.
pub struct File {
    nfs: Nfs,
    handle: FileHandle,
    path: String,
    /// The way over RPC; also where the local route sends what it could
    /// not do.
    rpc: RpcRoute,
    /// The LOCALIO way: fds, write-behind, read-ahead.
    local: LocalRoute,
    /// One sync at a time: a sync reports durable only what it waited for.
    sync_lock: tokio::sync::Mutex<()>,
}

impl File {
    /// `writable`: opened for writing (LOCALIO opens it read-write at once).
    pub(crate) fn new(nfs: Nfs, handle: FileHandle, path: &str, writable: bool) -> File {
        File {
            rpc: RpcRoute::new(nfs.clone(), handle.to_wire(), path),
            local: LocalRoute::new(nfs.clone(), handle.clone(), writable),
            nfs,
            handle,
            path: path.to_string(),
            sync_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The file's handle.
    pub fn handle(&self) -> &FileHandle {
        &self.handle
    }

    /// Current attributes (GETATTR).
    pub async fn metadata(&self) -> Result<Metadata> {
        // Written-behind writes first: the size and times must show them,
        // as the kernel client flushes before a stat.
        self.local.settle_writes(&self.rpc, None).await;
        self.nfs
            .getattr(&self.handle)
            .await
            .map_err(|e| e.at(&self.path))
    }

    /// The fd the server opened for this file on the LOCALIO path
    /// (read-write if `write`), for a caller that does its IO itself
    /// (FUSE passthrough); `None` when the file's IO goes over RPC (not
    /// local, LOCALIO off or down, or the server refused the open for
    /// this identity). Writes through it are made durable by
    /// [`crate::LocalBacking::sync`], not by [`File::sync`].
    pub async fn local_backing(&self, write: bool) -> Option<crate::LocalBacking> {
        self.local.backing(write).await
    }

    /// This file's counters.
    pub fn stats(&self) -> FileStats {
        self.rpc.stats()
    }

    /// Unstable bytes held for re-sending.
    pub fn unstable_bytes(&self) -> u64 {
        self.rpc.unstable_bytes()
    }

    /// Reads into `buf` from `offset`. Over RPC: rsize pieces, `io_window`
    /// in flight. Returns fewer than `buf.len()` bytes only at end of file.
    pub async fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        check_range(offset, buf.len())?;
        self.local
            .settle_writes(&self.rpc, Some((offset, buf.len())))
            .await;
        if let Some(n) = self.local.read_into(offset, buf).await {
            return Ok(n);
        }
        self.rpc.read_into(buf, offset).await
    }

    /// Reads up to `len` bytes from `offset` like [`File::read_at`], but
    /// returns the data as slices of the reply records themselves, in
    /// order, without copying them: for callers that pass the data on
    /// (to a socket or another file). Fewer than `len` bytes only at end
    /// of file.
    pub async fn read_at_bytes(&self, offset: u64, len: usize) -> Result<Vec<Bytes>> {
        check_range(offset, len)?;
        self.local
            .settle_writes(&self.rpc, Some((offset, len)))
            .await;
        if let Some(parts) = self.local.read(offset, len).await {
            return Ok(parts.into_iter().map(|p| p.freeze()).collect());
        }
        self.rpc.read_bytes(offset, len).await
    }

    /// Appends the whole file (offset 0 to its end, read until a short
    /// read) to `out`; returns the bytes read.
    pub async fn read_to_end(&self, out: &mut Vec<u8>) -> Result<usize> {
        let start = out.len();
        let mut offset = 0u64;
        let step = self.nfs.rsize() * self.nfs.shared.config.io_window.max(1);
        loop {
            let size = self.metadata().await?.size;
            let want = (size.saturating_sub(offset) as usize).max(step);
            let at = out.len();
            out.resize(at + want, 0);
            let got = self.read_at(&mut out[at..], offset).await?;
            out.truncate(at + got);
            offset += got as u64;
            if got < want {
                return Ok(out.len() - start);
            }
        }
    }

    /// Writes all of `data` at `offset` (over RPC: wsize pieces,
    /// `io_window` in flight, UNSTABLE; the data is kept until a COMMIT
    /// covers it). Either everything is written or an error is returned.
    pub async fn write_at(&self, data: &[u8], offset: u64) -> Result<usize> {
        check_range(offset, data.len())?;
        self.local.forget_readahead();
        if self
            .write_local(|| Ok(Bytes::copy_from_slice(data)), offset)
            .await?
        {
            return Ok(data.len());
        }
        self.rpc.write_copy(data, offset).await?;
        Ok(data.len())
    }

    /// Like [`File::write_at`] for data the caller owns: the pieces sent
    /// and kept for re-sending are slices of `data`, not copies.
    pub async fn write_at_bytes(&self, data: Bytes, offset: u64) -> Result<usize> {
        check_range(offset, data.len())?;
        self.local.forget_readahead();
        if self.write_local(|| Ok(data.clone()), offset).await? {
            return Ok(data.len());
        }
        let len = data.len();
        self.rpc.write(Payload::Bytes(data), offset).await?;
        Ok(len)
    }

    /// Like [`File::write_at`] for data in a local file: writes `source`'s
    /// bytes at `offset`. Over RPC they go from the page cache to the
    /// socket with `sendfile(2)`, never through this process's memory,
    /// and the journal keeps the range, not the data, until COMMIT, so
    /// `source` must not change until [`File::sync`] returns (a re-send
    /// would read it again; see [`FileRange`]). Through LOCALIO the range
    /// is read (`pread`) and written locally.
    pub async fn write_from_file(&self, source: FileRange, offset: u64) -> Result<usize> {
        check_range(offset, source.len())?;
        self.local.forget_readahead();
        // Read into memory that starts at a cache line, where the kernel's
        // copies in (this read) and out (the LOCALIO write) are fastest.
        let read = || source.read_into(aligned_bytes_mut(source.len(), COPY_ALIGN));
        if self.write_local(read, offset).await? {
            return Ok(source.len());
        }
        let len = source.len();
        self.rpc.write(Payload::File(source), offset).await?;
        Ok(len)
    }

    /// Writes through LOCALIO if the file is local now (the data is made
    /// only then; failing to make it fails the write); `false`: write
    /// over RPC. A local write supersedes the journal's older data for
    /// its range.
    async fn write_local(
        &self,
        data: impl FnOnce() -> std::io::Result<Bytes>,
        offset: u64,
    ) -> Result<bool> {
        let mut failed = None;
        let make = || {
            data().unwrap_or_else(|e| {
                failed = Some(e);
                Bytes::new()
            })
        };
        let local = self.local.write(&self.rpc, make, offset);
        match local.await.map_err(|e| e.at(&self.path))? {
            Some(_) if failed.is_some() => Err(Error::Source(failed.take().expect("just seen"))),
            Some(len) => {
                self.rpc.forget(offset, len);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Makes everything written so far durable: data written through
    /// LOCALIO by an `fsync` of the file (see [`crate::local`]), data
    /// written over RPC by COMMIT; if the server's write verifier changed
    /// since that data was written (it restarted and may have lost it),
    /// writes it again and COMMITs again, until a COMMIT answers with the
    /// verifier the data was written under.
    pub async fn sync(&self) -> Result<()> {
        let _one = self.sync_lock.lock().await;
        self.local.forget_readahead();
        self.local.sync(&self.rpc, &self.path).await?;
        self.rpc.commit().await
    }

    /// Sets the file's size (SETATTR), after making earlier writes stable
    /// so a later re-send cannot extend the file again.
    pub async fn set_len(&self, len: u64) -> Result<()> {
        self.local.forget_readahead();
        self.sync().await?;
        let attrs = SetAttr {
            size: Some(len),
            ..SetAttr::default()
        };
        self.nfs
            .set_attr_handle(&self.handle, &attrs)
            .await
            .map_err(|e| e.at(&self.path))?;
        self.rpc.truncate(len);
        Ok(())
    }

    /// Makes everything durable ([`File::sync`]) and closes the file.
    pub async fn close(self) -> Result<()> {
        self.sync().await
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if self.local.has_unsynced() {
            tracing::warn!(
                "{}: dropped with LOCALIO writes not synced (call sync or close)",
                self.path
            );
        }
        let held = self.rpc.unstable_bytes();
        if held > 0 {
            tracing::warn!(
                "{}: dropped with {held} bytes not known to be committed (call sync or close)",
                self.path
            );
        }
    }
}

/// Refuses ranges past the largest NFSv3 offset (a signed 64-bit file
/// offset on every server), before any arithmetic on them.
fn check_range(offset: u64, len: usize) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= i64::MAX as u64 => Ok(()),
        _ => Err(Error::InvalidArgument(format!(
            "range of {len} bytes at offset {offset} is beyond the largest file offset"
        ))),
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("handle", &self.handle)
            .field("unstable_bytes", &self.unstable_bytes())
            .finish()
    }
}
