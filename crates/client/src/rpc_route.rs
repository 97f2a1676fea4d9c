//! [`RpcRoute`]: one open file's IO over RPC: READs and UNSTABLE WRITEs
//! split into pipelined pieces, the journal of unstable data, and COMMIT
//! with its write-verifier safety net (re-send on a verifier change).
//!
//! It is the only place a file's data goes over RPC: [`crate::File`]
//! uses it when the file's IO is not local, and the LOCALIO route
//! ([`crate::local`]) hands it the writes it could not do locally and
//! the COMMIT it could not replace with an `fsync`. It never calls the
//! LOCALIO side, so the two cannot wait on each other.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use nfsl_proto::nfs3::*;

use crate::error::{Error, Result};
use crate::file_stats::{Count, FileCounters, FileStats};
use crate::journal::Journal;
use crate::procedures::{ok, ReadOutcome};
use crate::session::Nfs;
use crate::stats::Counters;
use crate::window::windowed;
use nfsl_transport::client::Payload;
use nfsl_transport::pool::{BufferPool, PooledBuf};

/// Write buffers a file keeps for reuse, at most.
const MAX_POOLED_PIECES: usize = 64;

/// Unstable bytes a file may hold in all when they are ranges of a local
/// file ([`crate::File::write_from_file`]); data in memory stays bounded
/// by `max_unstable_bytes`. Measured on `nfsl cp` of 1 GiB (64 MiB in
/// memory before): fewer COMMITs, each an fsync on the server, ~5% faster.
const MAX_UNSTABLE_RANGES: u64 = 1 << 30;

/// Rounds of "re-send, COMMIT" before a commit gives up on a server whose
/// verifier keeps changing.
const MAX_SYNC_ROUNDS: u32 = 8;

/// One open file's RPC side.
pub(crate) struct RpcRoute {
    nfs: Nfs,
    fh: NfsFh3,
    path: String,
    journal: Mutex<Journal>,
    /// One COMMIT loop at a time (the journal's bookkeeping assumes it).
    commit_lock: tokio::sync::Mutex<()>,
    counters: FileCounters,
    /// Buffers for the copies of written data the journal keeps.
    pool: Arc<BufferPool>,
}

impl RpcRoute {
    pub(crate) fn new(nfs: Nfs, fh: NfsFh3, path: &str) -> RpcRoute {
        // Enough to stream (the pieces in flight and as many again), not
        // the whole journal: a file kept open after a big write should
        // not hold on to that much memory.
        let kept = nfs
            .shared
            .config
            .io_window
            .saturating_mul(2)
            .min(MAX_POOLED_PIECES);
        RpcRoute {
            pool: BufferPool::new(kept),
            nfs,
            fh,
            path: path.to_string(),
            journal: Mutex::new(Journal::default()),
            commit_lock: tokio::sync::Mutex::new(()),
            counters: FileCounters::default(),
        }
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This file's counters.
    pub(crate) fn stats(&self) -> FileStats {
        self.counters.snapshot()
    }

    /// Unstable bytes held for re-sending.
    pub(crate) fn unstable_bytes(&self) -> u64 {
        self.journal().bytes()
    }

    /// A local write replaced `len` bytes at `offset`: the journal's
    /// older data for that range must never be re-sent over it.
    pub(crate) fn forget(&self, offset: u64, len: usize) {
        self.journal().forget(offset, len);
    }

    /// The file was cut to `len` bytes: nothing past it is re-sent.
    pub(crate) fn truncate(&self, len: u64) {
        self.journal().truncate(len);
    }

    /// Reads into `buf` from `offset`: rsize pieces, `io_window` in flight.
    /// Fewer than `buf.len()` bytes only at end of file.
    pub(crate) async fn read_into(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
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
            self.count_read(count);
            done += count;
            if eof || count == 0 {
                break;
            }
        }
        Ok((chunk.len(), done))
    }

    /// Reads up to `len` bytes from `offset` as slices of the reply
    /// records, in order, without copying them. Fewer than `len` bytes
    /// only at end of file.
    pub(crate) async fn read_bytes(&self, offset: u64, len: usize) -> Result<Vec<Bytes>> {
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
            self.count_read(data.len());
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

    /// WRITEs a copy of `data` at `offset` UNSTABLE in wsize pieces,
    /// `io_window` in flight; each piece is copied into a pooled buffer
    /// when its turn comes (so only the pieces in flight are copies).
    pub(crate) async fn write_copy(&self, data: &[u8], offset: u64) -> Result<()> {
        let wsize = self.nfs.wsize();
        // A loop, not `map` over borrowed chunks (see `read_into`).
        let mut pieces = Vec::with_capacity(data.len().div_ceil(wsize));
        let mut off = offset;
        for chunk in data.chunks(wsize) {
            pieces.push(self.write_copied_piece(chunk, off));
            off += chunk.len() as u64;
        }
        windowed(pieces, self.nfs.shared.config.io_window)
            .await
            .map_err(|e| e.at(&self.path))?;
        Ok(())
    }

    async fn write_copied_piece(&self, chunk: &[u8], offset: u64) -> Result<()> {
        let copy = Bytes::from_owner(PooledBuf::copy_of(chunk, &self.pool));
        self.write_piece(offset, Payload::Bytes(copy), false).await
    }

    /// WRITEs `data` at `offset` UNSTABLE in wsize pieces, `io_window` in
    /// flight; the journal keeps slices of `data` (or its file ranges)
    /// until a COMMIT covers them.
    pub(crate) async fn write(&self, data: Payload, offset: u64) -> Result<()> {
        let wsize = self.nfs.wsize();
        let len = data.len();
        let pieces = (0..len).step_by(wsize.max(1)).map(|start| {
            let piece = data.slice(start..(start + wsize).min(len));
            async move { self.write_piece(offset + start as u64, piece, false).await }
        });
        windowed(pieces, self.nfs.shared.config.io_window)
            .await
            .map_err(|e| e.at(&self.path))?;
        Ok(())
    }

    /// WRITEs `data` at `offset` UNSTABLE (re-sending the rest after a
    /// short write) and journals what the server holds unstably.
    async fn write_piece(&self, mut offset: u64, mut data: Payload, resend: bool) -> Result<()> {
        // Bound the data kept for re-sending: COMMIT what is held first.
        if !resend && self.journal_full(1) {
            self.commit().await?;
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
                    self.commit().await?;
                }
            }
            offset += n as u64;
            data = data.slice(n..);
        }
        // Past half the bound, COMMIT early, while the other pieces in the
        // window keep the link busy, so the hard bound is rarely reached.
        if !resend && self.journal_full(2) {
            if let Ok(guard) = self.commit_lock.try_lock() {
                self.commit_locked(guard).await?;
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

    fn count_read(&self, bytes: usize) {
        let c = &self.nfs.shared.counters;
        Counters::add(&c.rpc_reads, 1);
        Counters::add(&c.rpc_read_bytes, bytes as u64);
    }

    /// Adds `n` to one of this file's counters and to the client's.
    fn count(&self, which: Count, n: u64) {
        self.counters.add(which, n, &self.nfs.shared.counters);
    }

    /// Makes everything written over RPC durable: COMMIT; if the server's
    /// write verifier changed since the data was written (it restarted
    /// and may have lost it), writes that data again and COMMITs again,
    /// until a COMMIT answers with the verifier the data was written under.
    pub(crate) async fn commit(&self) -> Result<()> {
        let guard = self.commit_lock.lock().await;
        self.commit_locked(guard).await
    }

    /// [`RpcRoute::commit`] once the caller holds the commit lock.
    async fn commit_locked(&self, _one_at_a_time: tokio::sync::MutexGuard<'_, ()>) -> Result<()> {
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
            let verf = self.send_commit().await?;
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

    /// One COMMIT of the whole file, whatever the journal holds: the
    /// server's `fsync` covers pages written through LOCALIO fds too, so
    /// this stands in for a local `fsync` that could not be done. The
    /// journal's data is committed too if the verifier did not change.
    pub(crate) async fn commit_whole_file(&self) -> Result<()> {
        let _one = self.commit_lock.lock().await;
        let before = self.journal().seq();
        let verf = self.send_commit().await?;
        let mut j = self.journal();
        if j.observe(verf) {
            drop(j);
            self.count(Count::VerifierChanges, 1);
        } else {
            j.committed(before, verf);
        }
        Ok(())
    }

    /// Sends one COMMIT (offset 0, count 0: the whole file) and returns
    /// the verifier it answered with.
    async fn send_commit(&self) -> Result<Writeverf3> {
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
        Ok(verf)
    }
}
