//! [`LocalRoute`]: one open [`crate::File`]'s LOCALIO route, stated in one
//! place: the fds the server handed over in the current session (or the
//! opens it refused), the local writes not yet synced, the writes queued
//! behind the caller ([`WriteBehind`]) and the reads queued ahead of it
//! ([`ReadAhead`]).
//!
//! Which way an IO goes is decided by [`LocalRoute::way`] alone: local
//! when the mount has a live session ([`super::Router::local_session`])
//! and this file has (or now gets) verified fds of that session with the
//! access the IO needs; over RPC otherwise. Whatever cannot be done
//! locally (an IO that fails, a queued write that fails, an `fsync` that
//! cannot be made) is handed to the file's one RPC route
//! ([`crate::rpc_route::RpcRoute`]); this module sends no RPC of its own
//! except the GETATTR that checks received fds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use nfsl_io_engine::buffer::{aligned_bytes_mut, COPY_ALIGN};
use nfsl_io_engine::{DirectPolicy, IoEngine, IoError, IoFile, Read};
use nfsl_localio::{Access, LocalFile, LocalioError};
use nfsl_proto::nfs3::Nfsstat3;

use super::io_policy;
use super::readahead::ReadAhead;
use super::router::{Session, LOCAL_WAIT};
use super::verify::{check_fds, FdMismatch, FdState};
use super::writebehind::WriteBehind;
use crate::error::{Error, Result};
use crate::rpc_route::RpcRoute;
use crate::session::Nfs;
use crate::stats::Counters;
use crate::types::FileHandle;
use crate::window::windowed;

/// Smallest write answered once queued (write-behind). Smaller ones wait:
/// measured with 4 KiB random writes at queue depth 8, queueing them cost
/// a quarter (buffered) to half (direct) of their rate, as hundreds of
/// tiny queued writes stand in each other's way, while a writer of large
/// pieces gains the overlap (direct 1 MiB writes: 0.95x -> 1.34x of pwrite).
const WRITE_BEHIND_MIN: usize = 256 * 1024;

/// Read buffers a file keeps for reads that go to the engine's workers,
/// in bytes: a reader that misses the page cache, or reads ahead, reuses
/// them instead of allocating (and faulting in) fresh memory every time.
const MAX_SPARE_BYTES: usize = 4 << 20;

/// This file's fds in one LOCALIO session, and the opens the server
/// refused in it. A new session starts from nothing.
#[derive(Default)]
pub(crate) struct OpenFds {
    /// The session these belong to (0: none yet).
    epoch: u64,
    /// The fds, and the access they were opened with.
    open: Option<(Arc<IoFile>, Access)>,
    /// The server refused a read-write open in this session.
    refused_read_write: bool,
    /// The server refused a read-only open in this session.
    refused_read: bool,
}

impl OpenFds {
    /// Drops what belongs to session `epoch` (it ended): the fds are
    /// closed as soon as no IO in flight uses them.
    pub(crate) fn forget(&mut self, epoch: u64) {
        if self.epoch == epoch {
            *self = OpenFds::default();
        }
    }

    /// This state for session `epoch` (emptied if it was another's).
    fn in_session(&mut self, epoch: u64) -> &mut OpenFds {
        if self.epoch != epoch {
            *self = OpenFds {
                epoch,
                ..OpenFds::default()
            };
        }
        self
    }

    /// The fds for an IO (`write`: one that writes) in session `epoch`.
    fn usable(&self, epoch: u64, write: bool) -> Option<Arc<IoFile>> {
        match &self.open {
            Some((f, access)) if self.epoch == epoch => {
                (!write || *access == Access::ReadWrite).then(|| Arc::clone(f))
            }
            _ => None,
        }
    }
}

/// An IO's local way: the session, the file's fds in it, the engine.
pub(crate) struct Local {
    session: Arc<Session>,
    file: Arc<IoFile>,
    engine: Arc<IoEngine>,
}

/// One open file's LOCALIO route.
pub(crate) struct LocalRoute {
    nfs: Nfs,
    handle: FileHandle,
    /// Opened for writing: open read-write at once.
    writable: AtomicBool,
    /// Shared with the session that gave the fds, which drops them when
    /// it ends ([`Session::track`]).
    fds: Arc<Mutex<OpenFds>>,
    /// One open over the channel at a time per file.
    opening: tokio::sync::Mutex<()>,
    /// Fds that took local writes since the last sync (of any session:
    /// their writes are made durable by their own `fsync`).
    unsynced: Mutex<Vec<Arc<IoFile>>>,
    /// Reads queued ahead of a sequential reader.
    readahead: ReadAhead,
    /// Writes answered once queued on the engine.
    behind: WriteBehind,
    /// Read buffers kept for reuse ([`MAX_SPARE_BYTES`]).
    spare: Mutex<Vec<BytesMut>>,
}

/// Why an open was refused in a way that is about this file and these
/// credentials (the IO goes over RPC, which answers for itself), not about
/// the LOCALIO path.
fn refusal_is_per_file(e: &LocalioError) -> bool {
    use Nfsstat3 as S;
    matches!(
        e.nfsstat(),
        Some(
            S::Perm
                | S::Acces
                | S::Rofs
                | S::Stale
                | S::Badhandle
                | S::Noent
                | S::Isdir
                | S::Inval
                | S::Notsupp
        )
    )
}

/// Why received fds are not used.
enum Unverified {
    /// Not the file, or the check could not be made: end the session.
    Session(String),
    /// The file kept changing under the check, or GETATTR answered an
    /// error for it: this IO goes over RPC (which answers for itself).
    ThisIo(String),
}

/// How many times the fd check is tried on a file that is changing.
const VERIFY_TRIES: usize = 3;

/// `local` if its fds are the file `handle` names on the mounted NFS
/// server (see [`super::verify`]); else why not. No IO is done on them
/// before.
async fn verified(
    nfs: &Nfs,
    session: &Session,
    handle: &FileHandle,
    local: LocalFile,
) -> std::result::Result<LocalFile, Unverified> {
    let fstat = |fd: &std::os::fd::OwnedFd| {
        FdState::of(fd).map_err(|e| Unverified::Session(format!("fstat: {e}")))
    };
    for _ in 0..VERIFY_TRIES {
        let mut before = vec![fstat(&local.buffered)?];
        if let Some(d) = &local.direct {
            before.push(fstat(d)?);
        }
        let attrs = match tokio::time::timeout(LOCAL_WAIT, nfs.getattr(handle)).await {
            Err(_) => return Err(Unverified::Session("GETATTR: no answer in time".into())),
            Ok(Err(e)) => return Err(Unverified::ThisIo(format!("GETATTR: {e}"))),
            Ok(Ok(attrs)) => attrs,
        };
        let after = fstat(&local.buffered)?;
        match check_fds(&before, &after, &attrs, &session.devices) {
            Ok(()) => return Ok(local),
            Err(FdMismatch::NotTheFile(why)) => return Err(Unverified::Session(why)),
            Err(FdMismatch::Changing) => {}
        }
    }
    Err(Unverified::ThisIo(
        "the file kept changing during the fd check".into(),
    ))
}

/// An engine error as an IO error of a short write.
fn short_write(at: u64, n: usize, wrote: usize) -> IoError {
    IoError::Io {
        op: nfsl_io_engine::OpKind::Write,
        offset: at,
        len: n,
        source: std::io::Error::other(format!("short write: {wrote} of {n}")),
    }
}

impl LocalRoute {
    /// `writable`: opened for writing (LOCALIO opens it read-write at once).
    pub(crate) fn new(nfs: Nfs, handle: FileHandle, writable: bool) -> LocalRoute {
        LocalRoute {
            nfs,
            handle,
            writable: AtomicBool::new(writable),
            fds: Arc::new(Mutex::new(OpenFds::default())),
            opening: tokio::sync::Mutex::new(()),
            unsynced: Mutex::new(Vec::new()),
            readahead: ReadAhead::default(),
            behind: WriteBehind::default(),
            spare: Mutex::new(Vec::new()),
        }
    }

    fn fds(&self) -> std::sync::MutexGuard<'_, OpenFds> {
        self.fds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, Vec<Arc<IoFile>>> {
        self.unsynced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True if local writes have not been synced yet.
    pub(crate) fn has_unsynced(&self) -> bool {
        !self.unsynced().is_empty()
    }

    /// The engine policy for this mount's local IO.
    fn policy(&self) -> DirectPolicy {
        io_policy(self.nfs.shared.config.direct)
    }

    /// The largest piece one local IO covers.
    fn piece(&self) -> usize {
        (self.nfs.shared.config.max_io_size as usize).max(1)
    }

    /// The way an IO goes: `Some` (local, with these fds) or `None` (over
    /// RPC). `write`: the IO writes. Opens the file over the channel (and
    /// verifies its fds) the first time it is needed in a session.
    async fn way(&self, write: bool) -> Option<Local> {
        let nfs = &self.nfs;
        let router = &nfs.shared.local;
        let session = router.local_session(nfs)?;
        let engine = router.engine()?;
        let epoch = session.epoch;
        let local = |file| Local {
            session: Arc::clone(&session),
            file,
            engine: Arc::clone(&engine),
        };
        if let Some(file) = self.fds().usable(epoch, write) {
            return Some(local(file));
        }
        let _one = self.opening.lock().await;
        let (refused_rw, refused_ro) = {
            let mut fds = self.fds();
            if let Some(file) = fds.usable(epoch, write) {
                return Some(local(file));
            }
            let fds = fds.in_session(epoch);
            (fds.refused_read_write, fds.refused_read)
        };
        let mut tries = Vec::with_capacity(2);
        if (write || self.writable.load(Ordering::Relaxed)) && !refused_rw {
            tries.push(Access::ReadWrite);
        }
        if !write && !refused_ro {
            tries.push(Access::Read);
        }
        for access in tries {
            match self.open(&session, access).await {
                Opened::Fds(file) => {
                    let mut fds = self.fds();
                    fds.in_session(epoch).open = Some((Arc::clone(&file), access));
                    drop(fds);
                    session.track(&self.fds);
                    Counters::add(&nfs.shared.counters.localio_opens, 1);
                    return Some(local(file));
                }
                Opened::Refused => {
                    Counters::add(&nfs.shared.counters.localio_denied, 1);
                    let mut fds = self.fds();
                    let fds = fds.in_session(epoch);
                    match access {
                        Access::ReadWrite => fds.refused_read_write = true,
                        Access::Read => fds.refused_read = true,
                    }
                }
                Opened::ThisIoOverRpc => return None,
            }
        }
        None
    }

    /// Opens the file over `session`'s channel with `access` and checks
    /// the fds received. Ends the session when the channel or the fds
    /// cannot be trusted.
    async fn open(&self, session: &Arc<Session>, access: Access) -> Opened {
        let nfs = &self.nfs;
        let creds = nfs.localio_creds();
        // A server that stopped answering (but kept its socket) must not
        // hold the IO up longer than an RPC try would.
        let open = session.channel.open(self.handle.as_bytes(), access, &creds);
        let opened = match tokio::time::timeout(LOCAL_WAIT, open).await {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) if refusal_is_per_file(&e) => {
                tracing::debug!("LOCALIO {access:?} open refused ({e}); this IO goes over RPC");
                return Opened::Refused;
            }
            Ok(Err(e)) => return self.fall_back(session, &format!("open: {e}")),
            Err(_) => return self.fall_back(session, "open: no answer in time"),
        };
        let opened = match verified(nfs, session, &self.handle, opened).await {
            Ok(opened) => opened,
            Err(Unverified::Session(why)) => {
                tracing::warn!("LOCALIO: a received fd is not the file NFS names: {why}");
                return self.fall_back(session, &format!("unverified fd: {why}"));
            }
            Err(Unverified::ThisIo(why)) => {
                tracing::debug!("LOCALIO fds not used ({why}); this IO goes over RPC");
                return Opened::ThisIoOverRpc;
            }
        };
        match IoFile::new(opened.buffered, opened.direct, opened.alignment) {
            Ok(file) => Opened::Fds(Arc::new(file)),
            Err(e) => self.fall_back(session, &format!("unusable fds: {e}")),
        }
    }

    /// The fd IO would use now (opened over the channel if need be), for
    /// a caller that does the IO itself; `None` if IO goes over RPC.
    pub(crate) async fn backing(&self, write: bool) -> Option<crate::LocalBacking> {
        if write {
            self.writable.store(true, Ordering::Relaxed);
        }
        let local = self.way(write).await?;
        let writable =
            self.fds().open.as_ref().is_some_and(|(f, access)| {
                Arc::ptr_eq(f, &local.file) && *access == Access::ReadWrite
            });
        Some(crate::LocalBacking {
            file: local.file,
            writable,
        })
    }

    /// Ends `session` (the mount goes over RPC and re-probes later).
    fn fall_back(&self, session: &Arc<Session>, why: &str) -> Opened {
        self.nfs.shared.local.fail(&self.nfs, session, why);
        Opened::ThisIoOverRpc
    }

    /// A buffer for a read of `len` bytes on the engine: a spare one if
    /// one is kept, else a new one (aligned for the kernel's fast copy).
    fn spare_buffer(&self, len: usize) -> BytesMut {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        match spare.iter().position(|b| b.capacity() >= len) {
            Some(i) => spare.swap_remove(i),
            None => aligned_bytes_mut(len, COPY_ALIGN),
        }
    }

    /// Keeps `buf` for the next read, up to [`MAX_SPARE_BYTES`].
    fn recycle(&self, mut buf: BytesMut) {
        buf.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let kept: usize = spare.iter().map(BytesMut::capacity).sum();
        if kept + buf.capacity() <= MAX_SPARE_BYTES {
            spare.push(buf);
        }
    }

    /// Reads `len` bytes at `offset` locally into new buffers the caller
    /// keeps, in pieces of `max_io_size` bytes with `io_window` in flight
    /// (pieces read ahead are taken as they are); `None` if the read must
    /// go over RPC. The pieces are in order; fewer bytes only at end of
    /// file. For callers that keep the data ([`crate::File::read_at_bytes`]).
    pub(crate) async fn read(&self, offset: u64, len: usize) -> Option<Vec<BytesMut>> {
        let local = self.way(false).await?;
        let config = &self.nfs.shared.config;
        let piece = self.piece();
        let policy = self.policy();
        let epoch = local.session.epoch;
        let c = &self.nfs.shared.counters;
        let reads = (0..len).step_by(piece).map(|start| {
            let n = piece.min(len - start);
            let at = offset + start as u64;
            let ahead = self.readahead.take(at, n, epoch);
            let local = &local;
            async move {
                let data = match ahead {
                    Some(pending) => {
                        Counters::add(&c.local_readahead_reads, 1);
                        pending.await?
                    }
                    None => {
                        let read = Read::new(Arc::clone(&local.file), at, n).direct(policy);
                        local.engine.submit(read).await.await?
                    }
                };
                Ok::<_, IoError>((n, data))
            }
        });
        let done = match windowed(reads, config.io_window).await {
            Ok(done) => done,
            Err(e) => {
                self.read_failed(&local, &e);
                return None;
            }
        };
        let mut out = Vec::with_capacity(done.len());
        let mut got = 0;
        for (want, data) in done {
            got += data.len();
            let short = data.len() < want;
            out.push(data);
            if short {
                break;
            }
        }
        self.count_read(out.len() as u64, got);
        let window = config.readahead;
        self.queue_readahead(&local, offset, len, got, piece.min(len), window)
            .await;
        Some(out)
    }

    /// Reads into `buf` at `offset` locally; `None` if the read must go
    /// over RPC. No allocation and one copy, into `buf`: each piece
    /// (`max_io_size`) is first read in the caller from the page cache
    /// ([`IoEngine::read_cached`]: it cannot block); only what would block
    /// goes to the engine's workers, into a recycled buffer, and is copied
    /// from there (as is a piece read ahead). Pieces run `io_window` at a
    /// time.
    pub(crate) async fn read_into(&self, offset: u64, buf: &mut [u8]) -> Option<usize> {
        let local = self.way(false).await?;
        let piece = self.piece();
        let len = buf.len();
        let got = if len <= piece {
            self.read_piece(&local, offset, buf)
                .await
                .map(|(_, n, cached)| (n, cached))
        } else {
            // A loop over disjoint chunks, not `map` (see `RpcRoute::read_into`).
            let mut reads = Vec::with_capacity(len.div_ceil(piece));
            let mut at = offset;
            for chunk in buf.chunks_mut(piece) {
                let n = chunk.len() as u64;
                reads.push(self.read_piece(&local, at, chunk));
                at += n;
            }
            windowed(reads, self.nfs.shared.config.io_window)
                .await
                .map(|done| {
                    let mut total = 0;
                    let mut all_cached = true;
                    for (want, got, cached) in done {
                        total += got;
                        all_cached &= cached;
                        if got < want {
                            break;
                        }
                    }
                    (total, all_cached)
                })
        };
        let (got, cached) = match got {
            Ok(done) => done,
            Err(e) => {
                self.read_failed(&local, &e);
                return None;
            }
        };
        self.count_read(len.div_ceil(piece) as u64, got);
        // Reading ahead is for data the page cache does not hold: a read
        // done in the caller from the cache has the next one done there
        // too (and the caller's read itself starts the kernel's own
        // read-ahead on the server's file).
        let window = if cached {
            0
        } else {
            self.nfs.shared.config.readahead
        };
        self.queue_readahead(&local, offset, len, got, len.min(piece), window)
            .await;
        Some(got)
    }

    /// One piece of [`LocalRoute::read_into`]: (its length, bytes read,
    /// whether it was all read in the caller from the page cache). Reads
    /// that go to the workers use a recycled buffer
    /// ([`IoEngine::read_into_with`]).
    async fn read_piece(
        &self,
        local: &Local,
        offset: u64,
        buf: &mut [u8],
    ) -> std::result::Result<(usize, usize, bool), IoError> {
        let len = buf.len();
        if let Some(pending) = self.readahead.take(offset, len, local.session.epoch) {
            Counters::add(&self.nfs.shared.counters.local_readahead_reads, 1);
            let data = pending.await?;
            let n = data.len().min(len);
            buf[..n].copy_from_slice(&data[..n]);
            self.recycle(data);
            return Ok((len, n, false));
        }
        let spare = |n| self.spare_buffer(n);
        let (n, used) = local
            .engine
            .read_into_with(&local.file, offset, buf, self.policy(), spare)
            .await?;
        let cached = used.is_none();
        if let Some(data) = used {
            self.recycle(data);
        }
        Ok((len, n, cached))
    }

    /// A local read failed: nothing read ahead is trusted, and the mount
    /// goes over RPC (the caller redoes the read there).
    fn read_failed(&self, local: &Local, e: &IoError) {
        self.readahead.clear();
        self.fall_back(&local.session, &format!("read: {e}"));
    }

    fn count_read(&self, reads: u64, bytes: usize) {
        let c = &self.nfs.shared.counters;
        Counters::add(&c.local_reads, reads);
        Counters::add(&c.local_read_bytes, bytes as u64);
    }

    /// Queues the reads ahead that a read of `len` bytes at `offset`
    /// (which got `got`) calls for, in pieces of `unit` bytes, up to
    /// `window` bytes ahead (0: none, and what was queued is dropped),
    /// into recycled buffers.
    async fn queue_readahead(
        &self,
        local: &Local,
        offset: u64,
        len: usize,
        got: usize,
        unit: usize,
        window: usize,
    ) {
        let policy = self.policy();
        let epoch = local.session.epoch;
        for (at, n) in self.readahead.advance(offset, len, got, unit, window) {
            let read = Read::new(Arc::clone(&local.file), at, n)
                .direct(policy)
                .buffer(self.spare_buffer(n));
            let pending = local.engine.submit(read).await;
            self.readahead.insert(at, n, epoch, pending);
        }
    }

    /// Drops the data read ahead: the file is about to change through
    /// this client (a write, a resize) or is being synced.
    pub(crate) fn forget_readahead(&self) {
        self.readahead.clear();
    }

    /// Writes the data `data` makes at `offset` locally (UNSTABLE: page
    /// cache) and returns its length; `Ok(None)` if the write must go over
    /// RPC (all of it: nothing is reported written unless all of it was).
    /// `data` is called only when the write goes local. Writes of at least
    /// [`WRITE_BEHIND_MIN`] bytes, up to `write_behind` bytes queued, are
    /// answered once queued (see [`WriteBehind`]); a queued write that
    /// fails is redone through `rpc`; an error is that of an earlier
    /// written-behind write that failed there too.
    pub(crate) async fn write(
        &self,
        rpc: &RpcRoute,
        data: impl FnOnce() -> Bytes,
        offset: u64,
    ) -> Result<Option<usize>> {
        let nfs = &self.nfs;
        let mut queue = self.behind.lock().await;
        if let Some(e) = queue.take_error() {
            return Err(e);
        }
        let Some(local) = self.way(true).await else {
            // Over RPC, after what is queued here.
            queue.settle_all(nfs, rpc).await;
            return match queue.take_error() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let data = data();
        let len = data.len();
        let config = &nfs.shared.config;
        let piece = self.piece();
        let limit = config.write_behind;
        let behind = (WRITE_BEHIND_MIN..=limit).contains(&len);
        queue.settle_done(nfs, rpc).await;
        let room = if behind { len } else { 0 };
        queue.settle_for(nfs, rpc, offset, len, room, limit).await;
        if let Some(e) = queue.take_error() {
            return Err(e);
        }
        if behind {
            for start in (0..len).step_by(piece) {
                let part = data.slice(start..(start + piece).min(len));
                let at = offset + start as u64;
                queue
                    .push(&local.engine, &local.file, &local.session, at, part)
                    .await;
            }
        } else {
            drop(queue);
            if let Err(e) = self.write_now(&local, &data, offset).await {
                self.fall_back(&local.session, &format!("write: {e}"));
                return Ok(None);
            }
        }
        let c = &nfs.shared.counters;
        Counters::add(&c.local_writes, len.div_ceil(piece) as u64);
        Counters::add(&c.local_write_bytes, len as u64);
        let mut unsynced = self.unsynced();
        if !unsynced.iter().any(|f| Arc::ptr_eq(f, &local.file)) {
            unsynced.push(Arc::clone(&local.file));
        }
        Ok(Some(len))
    }

    /// Writes `data` at `offset` on the engine and waits for it: pieces of
    /// `max_io_size` bytes, `io_window` in flight.
    async fn write_now(
        &self,
        local: &Local,
        data: &Bytes,
        offset: u64,
    ) -> std::result::Result<(), IoError> {
        let len = data.len();
        let piece = self.piece();
        let write = |start: usize| {
            let part = data.slice(start..(start + piece).min(len));
            async move {
                let n = part.len();
                let at = offset + start as u64;
                let wrote = local.engine.write(&local.file, at, part, false).await?;
                if wrote != n {
                    return Err(short_write(at, n, wrote));
                }
                Ok(())
            }
        };
        if len <= piece {
            return write(0).await;
        }
        let writes = (0..len).step_by(piece).map(write);
        windowed(writes, self.nfs.shared.config.io_window)
            .await
            .map(drop)
    }

    /// Waits for the written-behind writes that overlap `len` bytes at
    /// `offset` (all of them with `None`), so a read or a GETATTR sees
    /// them; one that fails is redone through `rpc`.
    pub(crate) async fn settle_writes(&self, rpc: &RpcRoute, range: Option<(u64, usize)>) {
        if self.behind.is_empty() {
            return;
        }
        let mut queue = self.behind.lock().await;
        match range {
            Some((offset, len)) => {
                queue
                    .settle_for(&self.nfs, rpc, offset, len, 0, usize::MAX)
                    .await
            }
            None => queue.settle_all(&self.nfs, rpc).await,
        }
    }

    /// Makes the local writes durable: `fsync` of every fd that took some
    /// (on the engine). A write-back error is returned as the NFS error a
    /// COMMIT would give; any other failure COMMITs the whole file through
    /// `rpc` instead (the server's `fsync` covers our pages too). Writes
    /// redone over RPC are left for `rpc`'s own COMMIT.
    pub(crate) async fn sync(&self, rpc: &RpcRoute, path: &str) -> Result<()> {
        {
            let mut queue = self.behind.lock().await;
            queue.settle_all(&self.nfs, rpc).await;
            if let Some(e) = queue.take_error() {
                return Err(e);
            }
        }
        let files = std::mem::take(&mut *self.unsynced());
        if files.is_empty() {
            return Ok(());
        }
        let keep = |me: &Self, from: usize| me.unsynced().extend(files[from..].iter().cloned());
        let Some(engine) = self.nfs.shared.local.engine() else {
            if let Err(e) = rpc.commit_whole_file().await {
                keep(self, 0);
                return Err(e);
            }
            return Ok(());
        };
        for (i, file) in files.iter().enumerate() {
            let Err(e) = engine.fsync(file, false).await else {
                Counters::add(&self.nfs.shared.counters.local_commits, 1);
                continue;
            };
            if let Some(status) = writeback_status(&e) {
                // Not known durable: the next sync tries again.
                keep(self, i);
                tracing::warn!("{path}: LOCALIO fsync failed: {e}");
                return Err(Error::nfs(status, "COMMIT", path));
            }
            tracing::info!("LOCALIO fsync failed ({e}); COMMIT over RPC");
            if let Err(e) = rpc.commit_whole_file().await {
                keep(self, i);
                return Err(e);
            }
            return Ok(());
        }
        Ok(())
    }
}

/// The NFS status a COMMIT gives for an `fsync` failure that is about
/// the data (write-back failed, no space, over quota); `None` for a
/// failure of the local path itself.
fn writeback_status(e: &IoError) -> Option<Nfsstat3> {
    use rustix::io::Errno;
    let errno = e.raw_os_error();
    if errno == Some(Errno::NOSPC.raw_os_error()) {
        Some(Nfsstat3::Nospc)
    } else if errno == Some(Errno::DQUOT.raw_os_error()) {
        Some(Nfsstat3::Dquot)
    } else if matches!(e, IoError::Io { .. }) {
        Some(Nfsstat3::Io)
    } else {
        None
    }
}

/// What an open over the channel came to.
enum Opened {
    /// Verified fds.
    Fds(Arc<IoFile>),
    /// The server refused this access to this file (remembered for the
    /// session: the IO goes over RPC, which answers for itself).
    Refused,
    /// This IO goes over RPC (the session may have ended).
    ThisIoOverRpc,
}
