//! Open files: OPEN (revalidated, close-to-open), CREATE, READ, WRITE,
//! flush/fsync (COMMIT) and RELEASE, with the choice between FUSE
//! passthrough onto the file's LOCALIO fd and IO served by the daemon.

use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    BackingId, Errno, FileAttr, FileHandle as Fh, FopenFlags, Generation, INodeNo, OpenAccMode,
    OpenFlags, ReplyCreate, ReplyData, ReplyEmpty, ReplyOpen, ReplyWrite,
};
use nfsl_client::nfs3::*;
use nfsl_client::{File, FileHandle, FileType, LocalBacking, Metadata, Nfs};

use crate::attr::file_attr;
use crate::errno::from_error;
use crate::fs::{daemon_open_flags, Ctx, Inner};
use crate::names::{attrs, dir_op, mode_only, ok};
use crate::stats::MountStats;

/// A passthrough backing: the kernel's id for the LOCALIO fd, and the fd
/// (kept open, and fsynced at flush, while any open of the inode uses it).
pub(crate) struct Backing {
    id: BackingId,
    local: LocalBacking,
}

/// One open of a regular file.
pub(crate) struct OpenFile {
    ino: u64,
    file: File,
    backing: Option<Arc<Backing>>,
    /// Opened for writing (only such an open makes the backing durable
    /// at flush: a reader's close has nothing to sync).
    write: bool,
    /// Served by the daemon with the kernel's page cache (counted, as a
    /// passthrough open of the same inode must not start meanwhile).
    cached: bool,
}

/// Why an open gets no passthrough backing.
enum NoBacking {
    /// The daemon serves it (with the kernel's page cache).
    Daemon,
    /// It cannot be opened now: the kernel requires every open of an inode
    /// open through passthrough to use the same backing, and that one
    /// cannot serve this open.
    Refused(Errno),
}

impl OpenFile {
    /// Current attributes (the file's written-behind data settled first).
    pub async fn metadata(&self) -> Result<Metadata, Errno> {
        self.file.metadata().await.map_err(|e| from_error(&e))
    }

    /// Truncates or extends through the file (its unstable data first).
    pub async fn set_len(&self, len: u64) -> Result<(), Errno> {
        self.file.set_len(len).await.map_err(|e| from_error(&e))
    }
}

/// What the change attributes of a file were when the kernel's cache of
/// it was last known good.
pub(crate) type Stamp = (SystemTime, SystemTime, u64);

fn stamp(md: &Metadata) -> Stamp {
    (md.mtime, md.ctime, md.size)
}

/// The reply to an OPEN or a CREATE.
enum Answer {
    Open(ReplyOpen),
    Create(ReplyCreate, FileAttr, Duration),
}

impl Answer {
    fn open_backing(&self, fd: &LocalBacking) -> std::io::Result<BackingId> {
        match self {
            Answer::Open(r) => r.open_backing(fd),
            Answer::Create(r, ..) => r.open_backing(fd),
        }
    }
    fn passthrough(self, fh: u64, id: &BackingId) {
        match self {
            Answer::Open(r) => r.opened_passthrough(Fh(fh), FopenFlags::empty(), id),
            Answer::Create(r, attr, ttl) => {
                r.created_passthrough(&ttl, &attr, Generation(0), Fh(fh), FopenFlags::empty(), id)
            }
        }
    }
    fn refuse(self, e: Errno) {
        match self {
            Answer::Open(r) => r.error(e),
            Answer::Create(r, ..) => r.error(e),
        }
    }

    fn daemon(self, fh: u64, flags: FopenFlags) {
        match self {
            Answer::Open(r) => r.opened(Fh(fh), flags),
            Answer::Create(r, attr, ttl) => r.created(&ttl, &attr, Generation(0), Fh(fh), flags),
        }
    }
}

impl Inner {
    /// The open file `fh`.
    pub fn open_file(&self, fh: Fh) -> Option<Arc<OpenFile>> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned()
    }
}

/// A name an open file was renamed to instead of being removed, and the
/// session to remove it with once the last open of it is released.
pub(crate) struct SillyName {
    nfs: Nfs,
    dir: FileHandle,
    name: OsString,
}

impl Ctx {
    /// Unlinking a file that is open here renames it to a hidden name in
    /// the same directory instead (`.nfsl` + its node id), removed at its
    /// last release: an NFS server forgets a removed file at once, and the
    /// opens still use it (the kernel NFS client's "silly rename").
    /// Returns whether it did so.
    pub(crate) async fn silly_rename(
        &self,
        nfs: &Nfs,
        dir: &FileHandle,
        name: &OsString,
    ) -> Result<bool, Errno> {
        let found = match ok(nfs
            .procedures()
            .lookup(&Lookup3Args {
                what: dir_op(dir, name),
            })
            .await)
        {
            Ok(f) => f,
            // The REMOVE that follows gives the right error.
            Err(_) => return Ok(false),
        };
        let handle = FileHandle::from(found.object);
        let Some(ino) = self
            .inner
            .inodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .peek(&handle)
        else {
            return Ok(false);
        };
        let open = self
            .inner
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|f| f.ino == ino);
        if !open {
            return Ok(false);
        }
        let n = self.inner.next_fh.fetch_add(1, Ordering::Relaxed);
        let hidden = OsString::from(format!(".nfsl{ino:08x}{n:04x}"));
        ok(nfs
            .procedures()
            .rename(&Rename3Args {
                from: dir_op(dir, name),
                to: dir_op(dir, &hidden),
            })
            .await)?;
        tracing::debug!("{name:?} is open: renamed to {hidden:?} until its last close");
        self.inner
            .silly
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ino)
            .or_default()
            .push(SillyName {
                nfs: nfs.clone(),
                dir: dir.clone(),
                name: hidden,
            });
        Ok(true)
    }

    pub(crate) async fn open(&self, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let write = flags.acc_mode() != OpenAccMode::O_RDONLY;
        let run = async {
            if write {
                self.read_only()?;
            }
            let handle = self.inner.handle(ino)?;
            let nfs = self.nfs().await?;
            // Close-to-open: the attributes now decide whether the kernel
            // may keep the pages it cached of this file.
            let md = nfs.getattr(&handle).await.map_err(|e| from_error(&e))?;
            match md.file_type {
                FileType::Regular => {}
                FileType::Directory => return Err(Errno::EISDIR),
                _ => return Err(Errno::ENXIO),
            }
            let mut mask = 0;
            if flags.acc_mode() != OpenAccMode::O_WRONLY {
                mask |= libc::R_OK;
            }
            if write {
                mask |= libc::W_OK;
            }
            let granted = self
                .check_access_and_ask(&nfs, &handle, mask, ACCESS3_MODIFY)
                .await?;
            let access = OpenAccess {
                write,
                may_write: granted & ACCESS3_MODIFY != 0 && self.read_only().is_ok(),
            };
            let mut md = md;
            if flags.0 & libc::O_TRUNC != 0 && write && md.size != 0 {
                let res = ok(nfs
                    .procedures()
                    .setattr(&Setattr3Args {
                        object: handle.to_wire(),
                        new_attributes: (&nfsl_client::SetAttr {
                            size: Some(0),
                            ..Default::default()
                        })
                            .into(),
                        guard: None,
                    })
                    .await)?;
                md = attrs(&nfs, &handle, res.obj_wcc.after).await?;
            }
            let keep = {
                let stamps = self.inner.stamps.lock().unwrap_or_else(|p| p.into_inner());
                stamps.get(&ino.0) == Some(&stamp(&md))
            };
            Ok::<_, Errno>((nfs, handle, md, keep, access))
        };
        match run.await {
            Ok((nfs, handle, md, keep, access)) => {
                self.answer_open(nfs, ino.0, handle, &md, access, keep, Answer::Open(reply))
                    .await
            }
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn create(
        &self,
        parent: INodeNo,
        name: OsString,
        mode: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let run = async {
            let (dir, nfs) = self.dir_and_session(parent).await?;
            let mut attrs_in = mode_only(mode);
            let how = if flags & libc::O_EXCL != 0 {
                CreateHow3::Guarded(attrs_in)
            } else {
                if flags & libc::O_TRUNC != 0 {
                    attrs_in.size = Some(0);
                }
                CreateHow3::Unchecked(attrs_in)
            };
            let made = ok(nfs
                .procedures()
                .create(&Create3Args {
                    location: dir_op(&dir, &name),
                    how,
                })
                .await)?;
            let fh = match made.obj {
                Some(fh) => FileHandle::from(fh),
                None => FileHandle::from(
                    ok(nfs
                        .procedures()
                        .lookup(&Lookup3Args {
                            what: dir_op(&dir, &name),
                        })
                        .await)?
                    .object,
                ),
            };
            let md = attrs(&nfs, &fh, made.obj_attributes).await?;
            if md.file_type != FileType::Regular {
                return Err(Errno::EISDIR);
            }
            Ok::<_, Errno>((nfs, fh, md))
        };
        match run.await {
            Ok((nfs, fh, md)) => {
                let ino = self
                    .inner
                    .inodes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .lookup(&fh);
                let attr = file_attr(ino, &md);
                let ttl = self.inner.ttl(&md);
                let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
                // The creator may write what it created.
                let access = OpenAccess {
                    write,
                    may_write: true,
                };
                self.answer_open(
                    nfs,
                    ino,
                    fh,
                    &md,
                    access,
                    false,
                    Answer::Create(reply, attr, ttl),
                )
                .await
            }
            Err(e) => reply.error(e),
        }
    }

    /// Answers an open of `handle` (node `ino`): passthrough when it can,
    /// else served by the daemon. `access` says what the opener asked for
    /// and what else it may do (see [`OpenAccess`]).
    #[allow(clippy::too_many_arguments)]
    async fn answer_open(
        &self,
        nfs: Nfs,
        ino: u64,
        handle: FileHandle,
        md: &Metadata,
        access: OpenAccess,
        keep_cache: bool,
        answer: Answer,
    ) {
        let file = nfs.open_handle(handle);
        let stats = &self.inner.stats;
        let fh = self.inner.next_fh.fetch_add(1, Ordering::Relaxed);
        let backing = match self
            .backing_for(&nfs, &file, ino, md, access, &answer)
            .await
        {
            Ok(b) => Some(b),
            Err(NoBacking::Daemon) => None,
            Err(NoBacking::Refused(e)) => return answer.refuse(e),
        };
        let cached = backing.is_none();
        let open = Arc::new(OpenFile {
            ino,
            file,
            backing: backing.clone(),
            write: access.write,
            cached,
        });
        if cached {
            *self
                .inner
                .cached_opens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(ino)
                .or_default() += 1;
        }
        self.inner
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, open);
        self.inner
            .stamps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ino, stamp(md));
        match backing {
            Some(b) => {
                MountStats::add(&stats.passthrough_opens, 1);
                answer.passthrough(fh, &b.id);
            }
            None => {
                MountStats::add(&stats.daemon_opens, 1);
                answer.daemon(fh, daemon_open_flags(keep_cache));
            }
        }
    }

    /// The passthrough backing for this open, or why not.
    async fn backing_for(
        &self,
        nfs: &Nfs,
        file: &File,
        ino: u64,
        md: &Metadata,
        access: OpenAccess,
        answer: &Answer,
    ) -> Result<Arc<Backing>, NoBacking> {
        if !self.inner.passthrough.load(Ordering::SeqCst) {
            return Err(NoBacking::Daemon);
        }
        let stats = &self.inner.stats;
        let existing = self
            .inner
            .backings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ino)
            .and_then(std::sync::Weak::upgrade);
        if let Some(b) = existing {
            if access.write && !b.local.is_writable() {
                // Only an opener that may not write (or an executable,
                // see `read_write_backing`) gets a read-only backing, and
                // the kernel takes no other for this inode until it is
                // closed: as a local file system refuses to write a
                // running program.
                tracing::info!(
                    "inode {ino}: open for writing refused (ETXTBSY): it is open read-only through passthrough"
                );
                return Err(NoBacking::Refused(Errno::ETXTBSY));
            }
            return Ok(b);
        }
        let cached_now = self
            .inner
            .cached_opens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ino)
            .copied()
            .unwrap_or(0);
        if cached_now > 0 {
            // The kernel refuses passthrough while a cached open exists.
            return Err(NoBacking::Daemon);
        }
        let write = access.write;
        // The backing serves every open of the inode while any is open, so
        // it is read-write whenever this opener may write, even to read:
        // a writer that comes next can then share it.
        let mut local = None;
        if write || read_write_backing(access, md) {
            local = file.local_backing(true).await.filter(|l| l.is_writable());
        }
        if local.is_none() && !write {
            local = file.local_backing(false).await;
        }
        let Some(local) = local else {
            let why = if nfs.stats().local_active {
                "the server refused a LOCALIO open (that file is served over RPC)"
            } else {
                "LOCALIO is not active (server not on this host, localio=off, or down)"
            };
            stats.passthrough_unavailable(why);
            return Err(NoBacking::Daemon);
        };
        let id = match answer.open_backing(&local) {
            Ok(id) => id,
            Err(e) => {
                stats.passthrough_unavailable(&format!("the kernel refused the backing fd: {e}"));
                return Err(NoBacking::Daemon);
            }
        };
        let b = Arc::new(Backing { id, local });
        self.inner
            .backings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ino, Arc::downgrade(&b));
        Ok(b)
    }

    pub(crate) async fn read(&self, fh: Fh, offset: u64, size: u32, reply: ReplyData) {
        let Some(f) = self.inner.open_file(fh) else {
            return reply.error(Errno::EBADF);
        };
        let mut buf = vec![0u8; size as usize];
        match f.file.read_at(&mut buf, offset).await {
            Ok(n) => {
                let s = &self.inner.stats;
                MountStats::add(&s.daemon_reads, 1);
                MountStats::add(&s.daemon_read_bytes, n as u64);
                reply.data(&buf[..n])
            }
            Err(e) => reply.error(from_error(&e)),
        }
    }

    pub(crate) async fn write(&self, fh: Fh, offset: u64, data: Vec<u8>, reply: ReplyWrite) {
        let Some(f) = self.inner.open_file(fh) else {
            return reply.error(Errno::EBADF);
        };
        match f.file.write_at(&data, offset).await {
            Ok(n) => {
                let s = &self.inner.stats;
                MountStats::add(&s.daemon_writes, 1);
                MountStats::add(&s.daemon_write_bytes, n as u64);
                reply.written(n as u32)
            }
            Err(e) => reply.error(from_error(&e)),
        }
    }

    /// flush (each close) and fsync: the data is made durable on the
    /// server (COMMIT; for a passthrough file, an fsync of the server's
    /// file, which is what its COMMIT does), so another client sees it.
    pub(crate) async fn sync(&self, fh: Fh, data_only: bool, reply: ReplyEmpty) {
        let Some(f) = self.inner.open_file(fh) else {
            return reply.error(Errno::EBADF);
        };
        match sync_file(&f, data_only).await {
            Ok(()) => {
                MountStats::add(&self.inner.stats.commits, 1);
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn release(&self, fh: Fh, reply: ReplyEmpty) {
        let f = self
            .inner
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        let Some(f) = f else {
            return reply.ok();
        };
        if let Err(e) = sync_file(&f, false).await {
            tracing::warn!("release of inode {}: data not made durable: {e:?}", f.ino);
        }
        if f.cached {
            let mut c = self
                .inner
                .cached_opens
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = c.get_mut(&f.ino) {
                *n -= 1;
                if *n == 0 {
                    c.remove(&f.ino);
                }
            }
        }
        let still_open = self
            .inner
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|o| o.ino == f.ino);
        if !still_open {
            remove_silly_names(&self.inner, Some(f.ino)).await;
        }
        // What the kernel cached is good for these attributes.
        if let Ok(md) = f.file.metadata().await {
            self.inner
                .stamps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(f.ino, stamp(&md));
        }
        reply.ok();
    }
}

/// Removes the hidden names kept for unlinked open files: those of inode
/// `ino`, or all.
pub(crate) async fn remove_silly_names(inner: &Inner, ino: Option<u64>) {
    let names: Vec<SillyName> = {
        let mut silly = inner.silly.lock().unwrap_or_else(|p| p.into_inner());
        match ino {
            Some(ino) => silly.remove(&ino).unwrap_or_default(),
            None => silly.drain().flat_map(|(_, v)| v).collect(),
        }
    };
    for s in names {
        let res = s
            .nfs
            .procedures()
            .remove(&Remove3Args {
                object: dir_op(&s.dir, &s.name),
            })
            .await;
        if let Err(e) = ok(res) {
            tracing::warn!("removing {:?} after its last close: {e:?}", s.name);
        }
    }
}

/// What an opener asked for, and whether the server lets it write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenAccess {
    /// Opened for writing.
    pub write: bool,
    /// ACCESS granted MODIFY (the opener could have opened it to write).
    pub may_write: bool,
}

/// Whether a read-only open asks for a read-write backing: when its
/// opener may write the file (so a writer that opens it meanwhile can
/// share the inode's one backing) and it is not an executable (a
/// read-write fd on a program makes running it fail with ETXTBSY on the
/// server's host).
fn read_write_backing(access: OpenAccess, md: &Metadata) -> bool {
    access.may_write && md.mode & 0o111 == 0
}

/// Makes `f`'s writes durable: the backing fd's (passthrough) and the
/// daemon's (COMMIT, with re-sends after a server restart).
pub(crate) async fn sync_file(f: &OpenFile, data_only: bool) -> Result<(), Errno> {
    if let Some(b) = &f.backing {
        if f.write && b.local.is_writable() {
            b.local.sync(data_only).await.map_err(Errno::from)?;
        }
    }
    f.file.sync().await.map_err(|e| from_error(&e))
}
