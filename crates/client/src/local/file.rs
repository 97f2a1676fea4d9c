//! [`FileLocal`]: one [`crate::File`]'s LOCALIO side: its fds (opened over
//! the channel on first use, per session), reads and writes on the IO
//! engine, and the fsync of locally written data at COMMIT.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use nfsl_io_engine::{IoEngine, IoError, IoFile, Read};
use nfsl_localio::{Access, LocalFile, LocalioError};
use nfsl_proto::nfs3::{Commit3Args, Nfsstat3};

use super::io_policy;
use super::readahead::ReadAhead;
use super::route::{Session, LOCAL_WAIT};
use super::verify::{check_fds, FdMismatch, FdState};
use super::writebehind::WriteBehind;
use crate::error::{Error, Result};
use crate::procedures::ok;
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

/// The fds of the current session, and refusals remembered per session.
#[derive(Default)]
pub(crate) struct Cached {
    open: Option<(Arc<IoFile>, Access, u64)>,
    /// Epoch in which a read-write open was refused for this file.
    denied_rw: Option<u64>,
    /// Epoch in which a read-only open was refused.
    denied_ro: Option<u64>,
}

impl Cached {
    /// Drops the fds of session `epoch` (it ended): they are closed as
    /// soon as no IO in flight uses them.
    pub(crate) fn forget(&mut self, epoch: u64) {
        if matches!(&self.open, Some((_, _, e)) if *e == epoch) {
            self.open = None;
        }
    }
}

/// Where an IO goes.
struct Local {
    session: Arc<Session>,
    file: Arc<IoFile>,
    engine: Arc<IoEngine>,
}

/// A file's LOCALIO state.
pub(crate) struct FileLocal {
    /// Opened for writing: open read-write at once.
    writable: AtomicBool,
    /// Shared with the session that gave the fds, which drops them when
    /// it ends ([`Session::track`]).
    cache: Arc<Mutex<Cached>>,
    /// One open over the channel at a time per file.
    opening: tokio::sync::Mutex<()>,
    /// Fds that took local writes since the last sync.
    unsynced: Mutex<Vec<Arc<IoFile>>>,
    /// Reads queued ahead of a sequential reader.
    readahead: ReadAhead,
    /// Writes answered once queued on the engine.
    behind: WriteBehind,
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

impl FileLocal {
    pub(crate) fn new(writable: bool) -> FileLocal {
        FileLocal {
            writable: AtomicBool::new(writable),
            cache: Arc::new(Mutex::new(Cached::default())),
            opening: tokio::sync::Mutex::new(()),
            unsynced: Mutex::new(Vec::new()),
            readahead: ReadAhead::default(),
            behind: WriteBehind::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, Vec<Arc<IoFile>>> {
        self.unsynced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True if local writes have not been synced yet.
    pub(crate) fn has_unsynced(&self) -> bool {
        !self.unsynced().is_empty()
    }

    /// The fds to use for this IO, or `None`: go over RPC.
    async fn route(&self, nfs: &Nfs, handle: &FileHandle, write: bool) -> Option<Local> {
        let router = &nfs.shared.local;
        let session = router.session(nfs)?;
        let engine = router.engine()?;
        let usable = |c: &Cached| match &c.open {
            Some((f, access, epoch)) if *epoch == session.epoch => {
                (!write || *access == Access::ReadWrite).then(|| Arc::clone(f))
            }
            _ => None,
        };
        if let Some(file) = usable(&self.cache()) {
            return Some(Local {
                session,
                file,
                engine,
            });
        }
        let _one = self.opening.lock().await;
        if let Some(file) = usable(&self.cache()) {
            return Some(Local {
                session,
                file,
                engine,
            });
        }
        let epoch = session.epoch;
        let (denied_rw, denied_ro) = {
            let c = self.cache();
            (c.denied_rw == Some(epoch), c.denied_ro == Some(epoch))
        };
        let mut tries = Vec::with_capacity(2);
        if (write || self.writable.load(Ordering::Relaxed)) && !denied_rw {
            tries.push(Access::ReadWrite);
        }
        if !write && !denied_ro {
            tries.push(Access::Read);
        }
        let creds = nfs.localio_creds();
        for access in tries {
            // A server that stopped answering (but kept its socket) must
            // not hold the IO up longer than an RPC try would.
            let open = session.channel.open(handle.as_bytes(), access, &creds);
            let opened = match tokio::time::timeout(LOCAL_WAIT, open).await {
                Ok(opened) => opened,
                Err(_) => {
                    self.fall_back(nfs, &session, "open: no answer in time");
                    return None;
                }
            };
            let refused = match opened {
                Ok(local) => {
                    let local = match verified(nfs, &session, handle, local).await {
                        Ok(local) => local,
                        Err(Unverified::Session(why)) => {
                            tracing::warn!(
                                "LOCALIO: a received fd is not the file NFS names: {why}"
                            );
                            self.fall_back(nfs, &session, &format!("unverified fd: {why}"));
                            return None;
                        }
                        Err(Unverified::ThisIo(why)) => {
                            tracing::debug!("LOCALIO fds not used ({why}); this IO goes over RPC");
                            return None;
                        }
                    };
                    match IoFile::new(local.buffered, local.direct, local.alignment) {
                        Ok(file) => {
                            let file = Arc::new(file);
                            self.cache().open = Some((Arc::clone(&file), access, epoch));
                            session.track(&self.cache);
                            Counters::add(&nfs.shared.counters.localio_opens, 1);
                            return Some(Local {
                                session,
                                file,
                                engine,
                            });
                        }
                        Err(e) => {
                            self.fall_back(nfs, &session, &format!("unusable fds: {e}"));
                            return None;
                        }
                    }
                }
                Err(e) if refusal_is_per_file(&e) => e,
                Err(e) => {
                    self.fall_back(nfs, &session, &format!("open: {e}"));
                    return None;
                }
            };
            tracing::debug!("LOCALIO {access:?} open refused ({refused}); this IO goes over RPC");
            Counters::add(&nfs.shared.counters.localio_denied, 1);
            let mut c = self.cache();
            match access {
                Access::ReadWrite => c.denied_rw = Some(epoch),
                Access::Read => c.denied_ro = Some(epoch),
            }
        }
        None
    }

    /// The fd IO would use now (opened over the channel if need be), for
    /// a caller that does the IO itself; `None` if IO goes over RPC.
    pub(crate) async fn backing(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        write: bool,
    ) -> Option<crate::LocalBacking> {
        if write {
            self.writable.store(true, Ordering::Relaxed);
        }
        let local = self.route(nfs, handle, write).await?;
        let writable = self.cache().open.as_ref().is_some_and(|(f, access, _)| {
            Arc::ptr_eq(f, &local.file) && *access == Access::ReadWrite
        });
        Some(crate::LocalBacking {
            file: local.file,
            writable,
        })
    }

    fn fall_back(&self, nfs: &Nfs, session: &Arc<Session>, why: &str) {
        nfs.shared.local.fail(nfs, session, why);
    }

    /// Reads `len` bytes at `offset` locally, in pieces of `max_io_size`
    /// bytes with `io_window` in flight (pieces read ahead are taken as
    /// they are); `None` if the read must go over RPC. The pieces are in
    /// order; fewer bytes only at end of file. A read that continues the
    /// previous one queues the next `readahead` bytes (see [`ReadAhead`]).
    pub(crate) async fn read(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        offset: u64,
        len: usize,
    ) -> Option<Vec<BytesMut>> {
        let local = self.route(nfs, handle, false).await?;
        let config = &nfs.shared.config;
        let piece = (config.max_io_size as usize).max(1);
        let policy = io_policy(config.direct);
        let epoch = local.session.epoch;
        let c = &nfs.shared.counters;
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
                self.readahead.clear();
                self.fall_back(nfs, &local.session, &format!("read: {e}"));
                return None;
            }
        };
        let mut out = Vec::with_capacity(done.len());
        let mut got = 0;
        for (want, data) in done {
            Counters::add(&c.local_reads, 1);
            Counters::add(&c.local_read_bytes, data.len() as u64);
            got += data.len();
            let short = data.len() < want;
            out.push(data);
            if short {
                break;
            }
        }
        self.queue_readahead(&local, offset, len, got, piece.min(len), nfs)
            .await;
        Some(out)
    }

    /// Reads into `buf` at `offset` locally; `None` if the read must go over
    /// RPC. A read of at most one piece (`max_io_size`) that read-ahead did
    /// not queue is first tried in the caller from the page cache
    /// ([`IoEngine::read_into`]: it cannot block; what would block goes to
    /// the engine), without an allocation and with one copy, into `buf`.
    /// Larger reads go through [`FileLocal::read`] (pieces in parallel on
    /// the engine's workers) and are copied into `buf`.
    pub(crate) async fn read_into(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        offset: u64,
        buf: &mut [u8],
    ) -> Option<usize> {
        let config = &nfs.shared.config;
        let piece = (config.max_io_size as usize).max(1);
        let len = buf.len();
        if len > piece {
            let parts = self.read(nfs, handle, offset, len).await?;
            let mut n = 0;
            for part in parts {
                buf[n..n + part.len()].copy_from_slice(&part);
                n += part.len();
            }
            return Some(n);
        }
        let local = self.route(nfs, handle, false).await?;
        let policy = io_policy(config.direct);
        let epoch = local.session.epoch;
        let c = &nfs.shared.counters;
        let got = match self.readahead.take(offset, len, epoch) {
            Some(pending) => {
                Counters::add(&c.local_readahead_reads, 1);
                pending.await.map(|data| {
                    let n = data.len().min(len);
                    buf[..n].copy_from_slice(&data[..n]);
                    n
                })
            }
            None => {
                local
                    .engine
                    .read_into(&local.file, offset, buf, policy)
                    .await
            }
        };
        let got = match got {
            Ok(n) => n,
            Err(e) => {
                self.readahead.clear();
                self.fall_back(nfs, &local.session, &format!("read: {e}"));
                return None;
            }
        };
        Counters::add(&c.local_reads, 1);
        Counters::add(&c.local_read_bytes, got as u64);
        self.queue_readahead(&local, offset, len, got, len.min(piece), nfs)
            .await;
        Some(got)
    }

    /// Queues the reads ahead that a read of `len` bytes at `offset`
    /// (which got `got`) calls for, in pieces of `unit` bytes.
    async fn queue_readahead(
        &self,
        local: &Local,
        offset: u64,
        len: usize,
        got: usize,
        unit: usize,
        nfs: &Nfs,
    ) {
        let config = &nfs.shared.config;
        let policy = io_policy(config.direct);
        let epoch = local.session.epoch;
        for (at, n) in self
            .readahead
            .advance(offset, len, got, unit, config.readahead)
        {
            let read = Read::new(Arc::clone(&local.file), at, n).direct(policy);
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
    /// answered once queued (see [`WriteBehind`]);
    /// an error is that of an earlier written-behind write.
    pub(crate) async fn write(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        data: impl FnOnce() -> Bytes,
        offset: u64,
    ) -> Result<Option<usize>> {
        let mut queue = self.behind.lock().await;
        if let Some(e) = queue.take_error() {
            return Err(e);
        }
        let Some(local) = self.route(nfs, handle, true).await else {
            // Over RPC, after what is queued here.
            queue.settle_all(nfs, handle).await;
            return match queue.take_error() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let data = data();
        let len = data.len();
        let config = &nfs.shared.config;
        let piece = (config.max_io_size as usize).max(1);
        let limit = config.write_behind;
        let behind = (WRITE_BEHIND_MIN..=limit).contains(&len);
        queue.settle_done(nfs, handle).await;
        queue
            .settle_for(
                nfs,
                handle,
                offset,
                len,
                if behind { len } else { 0 },
                limit,
            )
            .await;
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
            if let Err(e) = self
                .write_now(&local, &data, offset, piece, config.io_window)
                .await
            {
                self.fall_back(nfs, &local.session, &format!("write: {e}"));
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
    /// `piece` bytes, `window` in flight.
    async fn write_now(
        &self,
        local: &Local,
        data: &Bytes,
        offset: u64,
        piece: usize,
        window: usize,
    ) -> std::result::Result<(), IoError> {
        let len = data.len();
        let writes = (0..len).step_by(piece).map(|start| {
            let part = data.slice(start..(start + piece).min(len));
            async move {
                let n = part.len();
                let at = offset + start as u64;
                let wrote = local.engine.write(&local.file, at, part, false).await?;
                if wrote != n {
                    return Err(IoError::Io {
                        op: nfsl_io_engine::OpKind::Write,
                        offset: at,
                        len: n,
                        source: std::io::Error::other(format!("short write: {wrote} of {n}")),
                    });
                }
                Ok(())
            }
        });
        windowed(writes, window).await.map(drop)
    }

    /// Waits for the written-behind writes that overlap `len` bytes at
    /// `offset` (all of them with `None`), so a read or a sync sees them.
    pub(crate) async fn settle_writes(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        range: Option<(u64, usize)>,
    ) {
        let mut queue = self.behind.lock().await;
        match range {
            Some((offset, len)) => {
                queue
                    .settle_for(nfs, handle, offset, len, 0, usize::MAX)
                    .await
            }
            None => queue.settle_all(nfs, handle).await,
        }
    }

    /// Makes the local writes durable: `fsync` of every fd that took some
    /// (on the engine). A write-back error is returned as the NFS error a
    /// COMMIT would give; any other failure COMMITs over RPC instead.
    pub(crate) async fn sync(&self, nfs: &Nfs, handle: &FileHandle, path: &str) -> Result<()> {
        {
            let mut queue = self.behind.lock().await;
            queue.settle_all(nfs, handle).await;
            if let Some(e) = queue.take_error() {
                return Err(e);
            }
        }
        let files = std::mem::take(&mut *self.unsynced());
        if files.is_empty() {
            return Ok(());
        }
        let Some(engine) = nfs.shared.local.engine() else {
            return self.commit_rpc(nfs, handle, path).await;
        };
        for (i, file) in files.iter().enumerate() {
            match engine.fsync(file, false).await {
                Ok(()) => Counters::add(&nfs.shared.counters.local_commits, 1),
                Err(e) => {
                    use rustix::io::Errno;
                    let errno = e.raw_os_error();
                    let status = if errno == Some(Errno::NOSPC.raw_os_error()) {
                        Some(Nfsstat3::Nospc)
                    } else if errno == Some(Errno::DQUOT.raw_os_error()) {
                        Some(Nfsstat3::Dquot)
                    } else if matches!(e, IoError::Io { .. }) {
                        Some(Nfsstat3::Io)
                    } else {
                        None
                    };
                    let keep = |me: &Self| me.unsynced().extend(files[i..].iter().cloned());
                    if let Some(status) = status {
                        // Not known durable: the next sync tries again.
                        keep(self);
                        tracing::warn!("{path}: LOCALIO fsync failed: {e}");
                        return Err(Error::nfs(status, "COMMIT", path));
                    }
                    tracing::info!("LOCALIO fsync failed ({e}); COMMIT over RPC");
                    if let Err(e) = self.commit_rpc(nfs, handle, path).await {
                        keep(self);
                        return Err(e);
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One COMMIT of the whole file over RPC (the server's fsync covers
    /// the pages written through our fds too).
    async fn commit_rpc(&self, nfs: &Nfs, handle: &FileHandle, path: &str) -> Result<()> {
        let res = nfs
            .shared
            .procs
            .commit(&Commit3Args {
                file: handle.to_wire(),
                offset: 0,
                count: 0,
            })
            .await?;
        ok(res, "COMMIT", path)?;
        Counters::add(&nfs.shared.counters.commits, 1);
        Ok(())
    }
}
