//! [`File`]: reads and writes split into pipelined pieces, and the
//! unstable-write safety net (journal, COMMIT, re-send on a verifier
//! change). Opening and creating files is in [`crate::open`].

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use nfsl_io_engine::buffer::{aligned_bytes_mut, COPY_ALIGN};
use nfsl_proto::nfs3::*;

use crate::error::{Error, Result};
pub use crate::file_stats::FileStats;
use crate::file_stats::{Count, FileCounters};
use crate::journal::Journal;
use crate::local::FileLocal;
use crate::procedures::{ok, ReadOutcome};
use crate::session::Nfs;
use crate::stats::Counters;
use crate::types::{FileHandle, Metadata, SetAttr};
use crate::window::windowed;
use nfsl_transport::client::{FileRange, Payload};
use nfsl_transport::pool::{BufferPool, PooledBuf};

/// Write buffers a file keeps for reuse, at most.
const MAX_POOLED_PIECES: usize = 64;

/// Unstable bytes a file may hold in all when they are ranges of a local
/// file ([`File::write_from_file`]); data in memory stays bounded by
/// `max_unstable_bytes`. Measured on `nfsl cp` of 1 GiB (64 MiB in
/// memory before): fewer COMMITs, each an fsync on the server, ~5% faster.
const MAX_UNSTABLE_RANGES: u64 = 1 << 30;

/// Rounds of "re-send, COMMIT" before `sync` gives up on a server whose
/// verifier keeps changing.
const MAX_SYNC_ROUNDS: u32 = 8;

/// An open regular file. Usable from many tasks (`&self` methods);
/// unstable data is kept until a COMMIT covers it: call [`File::sync`] or
/// [`File::close`] before dropping it, or data written since the last
/// COMMIT is not known to be durable.
pub struct File {
    nfs: Nfs,
    handle: FileHandle,
    fh: NfsFh3,
    path: String,
    journal: Mutex<Journal>,
    sync_lock: tokio::sync::Mutex<()>,
    counters: FileCounters,
    /// Buffers for the copies of written data the journal keeps.
    pool: Arc<BufferPool>,
    /// The LOCALIO side: fds, unsynced local writes.
    local: FileLocal,
}

impl File {
    /// `writable`: opened for writing (LOCALIO opens it read-write at once).
    pub(crate) fn new(nfs: Nfs, handle: FileHandle, path: &str, writable: bool) -> File {
        // Enough to stream (the pieces in flight and as many again), not
        // the whole journal: a file kept open after a big write should
        // not hold on to that much memory.
        let kept = nfs
            .shared
            .config
            .io_window
            .saturating_mul(2)
            .min(MAX_POOLED_PIECES);
        File {
            pool: BufferPool::new(kept),
            fh: handle.to_wire(),
            nfs,
            handle,
            path: path.to_string(),
            journal: Mutex::new(Journal::default()),
            sync_lock: tokio::sync::Mutex::new(()),
            counters: FileCounters::default(),
            local: FileLocal::new(writable),
        }
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file's handle.
    pub fn handle(&self) -> &FileHandle {
        &self.handle
    }

    /// Current attributes (GETATTR).
    pub async fn metadata(&self) -> Result<Metadata> {
        // Written-behind writes first: the size and times must show them,
        // as the kernel client flushes before a stat.
        self.local
            .settle_writes(&self.nfs, &self.handle, None)
            .await;
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
        self.local.backing(&self.nfs, &self.handle, write).await
    }

    /// This file's counters.
    pub fn stats(&self) -> FileStats {
        self.counters.snapshot()
    }

    /// Unstable bytes held for re-sending.
    pub fn unstable_bytes(&self) -> u64 {
        self.journal().bytes()
    }

    /// Reads into `buf` from `offset`: rsize pieces, `io_window` in flight.
    /// Returns fewer than `buf.len()` bytes only at end of file.
    pub async fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        check_range(offset, buf.len())?;
        self.local
            .settle_writes(&self.nfs, &self.handle, Some((offset, buf.len())))
            .await;
        let local = self.local.read_into(&self.nfs, &self.handle, offset, buf);
        if let Some(n) = local.await {
            return Ok(n);
        }
        let rsize = self.nfs.rsize();
        // Built in a loop, not with `map` over borrowed chunks: a closure
        // taking a reference would make the future not `Send`.
        let mut pieces = Vec::with_capacity(buf.len().div_ceil(rsize));
        let mut off = offset;
        for chunk in buf.chunks_mut(rsize) {
            let len = chunk.len() as u64;
            pieces.push(self.read_piece(chunk, off));
            off += len;
        }
        let done = windowed(pieces, self.nfs.shared.config.io_window)
            .await
            .map_err(|e| e.at(&self.path))?;
        let mut total = 0;
        for (len, got) in done {
            total += got;
            if got < len {
                break;
            }
        }
        Ok(total)
    }

    /// Fills `chunk` from `offset` (several READs if the server returns
    /// short counts); returns (chunk length, bytes read).
    async fn read_piece(&self, chunk: &mut [u8], offset: u64) -> Result<(usize, usize)> {
        let mut done = 0;
        while done < chunk.len() {
            let res = self
                .nfs
                .shared
                .procs
                .read_into(&self.fh, offset + done as u64, &mut chunk[done..])
                .await?;
            let ReadOutcome { count, eof } = res.map_err(|s| Error::nfs(s, "READ", ""))?;
            self.count_rpc_read(count);
            done += count;
            if eof || count == 0 {
                break;
            }
        }
        Ok((chunk.len(), done))
    }

    /// Reads up to `len` bytes from `offset` like [`File::read_at`], but
    /// returns the data as slices of the reply records themselves, in
    /// order, without copying them: for callers that pass the data on
    /// (to a socket or another file). Fewer than `len` bytes only at end
    /// of file.
    pub async fn read_at_bytes(&self, offset: u64, len: usize) -> Result<Vec<Bytes>> {
        check_range(offset, len)?;
        self.local
            .settle_writes(&self.nfs, &self.handle, Some((offset, len)))
            .await;
        if let Some(parts) = self.local.read(&self.nfs, &self.handle, offset, len).await {
            return Ok(parts.into_iter().map(|p| p.freeze()).collect());
        }
        let rsize = self.nfs.rsize();
        let pieces = (0..len).step_by(rsize.max(1)).map(|start| {
            let n = rsize.min(len - start);
            async move { self.read_piece_bytes(offset + start as u64, n).await }
        });
        let done = windowed(pieces, self.nfs.shared.config.io_window)
            .await
            .map_err(|e| e.at(&self.path))?;
        let mut out = Vec::with_capacity(done.len());
        for (want, got, parts) in done {
            out.extend(parts);
            if got < want {
                break;
            }
        }
        Ok(out)
    }

    /// Reads `len` bytes from `offset` as record slices (several READs if
    /// the server returns short counts); returns (len, bytes read, data).
    async fn read_piece_bytes(
        &self,
        offset: u64,
        len: usize,
    ) -> Result<(usize, usize, Vec<Bytes>)> {
        let mut parts = Vec::with_capacity(1);
        let mut done = 0;
        while done < len {
            let want = u32::try_from(len - done).unwrap_or(u32::MAX);
            let res = self
                .nfs
                .shared
                .procs
                .read_bytes(&self.fh, offset + done as u64, want)
                .await?;
            let (data, eof) = res.map_err(|s| Error::nfs(s, "READ", ""))?;
            self.count_rpc_read(data.len());
            done += data.len();
            let empty = data.is_empty();
            if !empty {
                parts.push(data);
            }
            if eof || empty {
                break;
            }
        }
        Ok((len, done, parts))
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

    /// Writes all of `data` at `offset`: wsize pieces, `io_window` in
    /// flight, UNSTABLE; the data is kept until a COMMIT covers it.
    /// Either everything is written or an error is returned.
    pub async fn write_at(&self, data: &[u8], offset: u64) -> Result<usize> {
        check_range(offset, data.len())?;
        self.local.forget_readahead();
        if self
            .write_local(|| Ok(Bytes::copy_from_slice(data)), offset)
            .await?
        {
            return Ok(data.len());
        }
        let wsize = self.nfs.wsize();
        // A loop, not `map` over borrowed chunks (see `read_at`).
        let mut pieces = Vec::with_capacity(data.len().div_ceil(wsize));
        let mut off = offset;
        for chunk in data.chunks(wsize) {
            pieces.push(self.write_copy(chunk, off));
            off += chunk.len() as u64;
        }
        windowed(pieces, self.nfs.shared.config.io_window)
            .await
            .map_err(|e| e.at(&self.path))?;
        Ok(data.len())
    }

    /// One piece of `write_at`: copied into a pooled buffer when its turn
    /// comes (so only the pieces in flight are copies), then written.
    async fn write_copy(&self, chunk: &[u8], offset: u64) -> Result<()> {
        let copy = Bytes::from_owner(PooledBuf::copy_of(chunk, &self.pool));
        self.write_piece(offset, Payload::Bytes(copy), false).await
    }

    /// Like [`File::write_at`] for data the caller owns: the pieces sent
    /// and kept for re-sending are slices of `data`, not copies.
    pub async fn write_at_bytes(&self, data: Bytes, offset: u64) -> Result<usize> {
        check_range(offset, data.len())?;
        self.local.forget_readahead();
        if self.write_local(|| Ok(data.clone()), offset).await? {
            return Ok(data.len());
        }
        self.write_pieces(Payload::Bytes(data), offset).await
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
        self.write_pieces(Payload::File(source), offset).await
    }

    /// WRITEs `data` at `offset` in wsize pieces, `io_window` in flight.
    async fn write_pieces(&self, data: Payload, offset: u64) -> Result<usize> {
        let wsize = self.nfs.wsize();
        let len = data.len();
        let pieces = (0..len).step_by(wsize.max(1)).map(|start| {
            let piece = data.slice(start..(start + wsize).min(len));
            async move { self.write_piece(offset + start as u64, piece, false).await }
        });
        windowed(pieces, self.nfs.shared.config.io_window)
            .await
            .map_err(|e| e.at(&self.path))?;
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
        let local = self.local.write(&self.nfs, &self.handle, make, offset);
        match local.await.map_err(|e| e.at(&self.path))? {
            Some(_) if failed.is_some() => Err(Error::Source(failed.take().expect("just seen"))),
            Some(len) => {
                self.journal().forget(offset, len);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// WRITEs `data` at `offset` UNSTABLE (re-sending the rest after a
    /// short write) and journals what the server holds unstably.
    async fn write_piece(&self, mut offset: u64, mut data: Payload, resend: bool) -> Result<()> {
        // Bound the data kept for re-sending: COMMIT what is held first.
        if !resend && self.journal_full(1) {
            self.sync().await?;
        }
        while !data.is_empty() {
            let res = self
                .nfs
                .shared
                .procs
                .write_bytes(&self.fh, offset, data.clone(), StableHow::Unstable)
                .await?;
            let w = ok(res, "WRITE", "")?;
            let n = (w.count as usize).min(data.len());
            let c = &self.nfs.shared.counters;
            Counters::add(&c.rpc_writes, 1);
            Counters::add(&c.rpc_write_bytes, n as u64);
            if n == 0 {
                return Err(Error::Protocol("WRITE reported 0 bytes written".into()));
            }
            if resend {
                self.count(Count::ResentWrites, 1);
                self.count(Count::ResentBytes, n as u64);
            }
            let changed = {
                let mut j = self.journal();
                let changed = j.observe(w.verf);
                if w.committed == StableHow::Unstable {
                    j.insert(offset, data.slice(..n), w.verf);
                }
                changed
            };
            if changed {
                self.count(Count::VerifierChanges, 1);
                // The server lost unstable data: write it again and
                // COMMIT now rather than at the next sync.
                if !resend {
                    tracing::info!(
                        "{}: write verifier changed; re-sending unstable data",
                        self.path
                    );
                    self.sync().await?;
                }
            }
            offset += n as u64;
            data = data.slice(n..);
        }
        // Past half the bound, COMMIT early, while the other pieces in the
        // window keep the link busy, so the hard bound is rarely reached.
        if !resend && self.journal_full(2) {
            if let Ok(guard) = self.sync_lock.try_lock() {
                self.sync_locked(guard).await?;
            }
        }
        Ok(())
    }

    /// Whether the journal holds `1/div` of what it may: `max_unstable_bytes`
    /// in memory, or [`MAX_UNSTABLE_RANGES`] with file ranges (which cost
    /// no memory; the bound is on what a server restart makes us re-send).
    fn journal_full(&self, div: u64) -> bool {
        let max = self.nfs.shared.config.max_unstable_bytes;
        let j = self.journal();
        j.memory_bytes() >= max / div || j.bytes() >= max.max(MAX_UNSTABLE_RANGES) / div
    }

    fn count_rpc_read(&self, bytes: usize) {
        let c = &self.nfs.shared.counters;
        Counters::add(&c.rpc_reads, 1);
        Counters::add(&c.rpc_read_bytes, bytes as u64);
    }

    /// Adds `n` to one of this file's counters and to the client's.
    fn count(&self, which: Count, n: u64) {
        self.counters.add(which, n, &self.nfs.shared.counters);
    }

    /// Makes everything written so far durable: COMMIT; if the server's
    /// write verifier changed since the data was written (it restarted
    /// and may have lost it), writes that data again and COMMITs again,
    /// until a COMMIT answers with the verifier the data was written under.
    ///
    /// Data written through LOCALIO is made durable first, by an `fsync`
    /// of the file (see [`crate::local`]).
    pub async fn sync(&self) -> Result<()> {
        let guard = self.sync_lock.lock().await;
        self.local.forget_readahead();
        self.local.sync(&self.nfs, &self.handle, &self.path).await?;
        self.sync_locked(guard).await
    }

    /// [`File::sync`] once the caller holds the sync lock.
    async fn sync_locked(&self, _one_at_a_time: tokio::sync::MutexGuard<'_, ()>) -> Result<()> {
        for _ in 0..MAX_SYNC_ROUNDS {
            let (latest, empty) = {
                let j = self.journal();
                (j.latest_verifier(), j.is_empty())
            };
            if empty {
                return Ok(());
            }
            if let Some(verf) = latest {
                let stale = self.journal().stale(verf);
                if !stale.is_empty() {
                    tracing::info!(
                        "{}: write verifier changed; re-sending {} unstable pieces",
                        self.path,
                        stale.len()
                    );
                    let resends = stale
                        .into_iter()
                        .map(|(off, data)| self.write_piece(off, data, true));
                    windowed(resends, self.nfs.shared.config.io_window)
                        .await
                        .map_err(|e| e.at(&self.path))?;
                    continue;
                }
            }
            let before = self.journal().seq();
            let res = self
                .nfs
                .shared
                .procs
                .commit(&Commit3Args {
                    file: self.fh.clone(),
                    offset: 0,
                    count: 0,
                })
                .await?;
            let verf = ok(res, "COMMIT", &self.path)?.verf;
            self.count(Count::Commits, 1);
            let (changed, remaining) = {
                let mut j = self.journal();
                let changed = j.observe(verf);
                (changed, j.committed(before, verf))
            };
            if changed {
                self.count(Count::VerifierChanges, 1);
            }
            if remaining == 0 {
                return Ok(());
            }
        }
        Err(Error::Protocol(format!(
            "{}: the server's write verifier kept changing through {MAX_SYNC_ROUNDS} COMMITs",
            self.path
        )))
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
        self.journal().truncate(len);
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
        let held = self.journal().bytes();
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
