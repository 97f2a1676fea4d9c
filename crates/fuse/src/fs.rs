//! [`NfsFs`]: the fuser [`Filesystem`] whose requests run as tasks on a
//! tokio runtime, each with the caller's identity (see [`crate::identity`]).
//! The operations themselves are in `names.rs` (the namespace),
//! `io.rs` (open files) and `dirs.rs` (directory streams).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileHandle as Fh, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use nfsl_client::{FileHandle, Metadata, Nfs};

use crate::attr::{age, file_attr};
use crate::dirs::DirStream;
use crate::errno::from_error;
use crate::identity::{Identity, Sessions};
use crate::inodes::InodeTable;
use crate::io::{Backing, OpenFile};
use crate::options::{MountOptions, PassthroughMode};
use crate::stats::MountStats;

/// Largest WRITE the kernel sends in one request.
const MAX_WRITE: u32 = 1 << 20;

/// State shared by every request.
pub(crate) struct Inner {
    pub rt: tokio::runtime::Handle,
    pub sessions: Sessions,
    pub opts: MountOptions,
    pub inodes: Mutex<InodeTable>,
    pub files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    pub dirs: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<DirStream>>>>,
    /// The passthrough backing of each inode that has one open: the
    /// kernel allows one backing file per inode.
    pub backings: Mutex<HashMap<u64, std::sync::Weak<Backing>>>,
    /// Opens served by the daemon through the page cache, per inode.
    pub cached_opens: Mutex<HashMap<u64, usize>>,
    /// Change attributes at which the kernel's cached pages were good.
    pub stamps: Mutex<HashMap<u64, crate::io::Stamp>>,
    /// Hidden names of unlinked files still open, per inode.
    pub silly: Mutex<HashMap<u64, Vec<crate::io::SillyName>>>,
    pub next_fh: AtomicU64,
    /// Requests running now, and a wake-up when one ends.
    pub inflight: std::sync::atomic::AtomicUsize,
    pub idle: tokio::sync::Notify,
    pub stats: Arc<MountStats>,
    /// The kernel accepted passthrough at init.
    pub passthrough: std::sync::atomic::AtomicBool,
}

/// A request's context: the shared state and who asked.
pub(crate) struct Ctx {
    pub inner: Arc<Inner>,
    pub who: Identity,
}

impl Ctx {
    /// The session speaking as the caller.
    pub async fn nfs(&self) -> Result<Nfs, Errno> {
        self.inner.sessions.get(&self.who).await.map_err(|e| {
            tracing::warn!("session for uid {}: {e}", self.who.uid);
            from_error(&e)
        })
    }
}

impl Inner {
    /// The handle of node `ino` (ESTALE if the kernel forgot it).
    pub fn handle(&self, ino: INodeNo) -> Result<FileHandle, Errno> {
        self.inodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .handle(ino.0)
            .ok_or(Errno::ESTALE)
    }

    /// How long the kernel may keep `md` (attributes and the name).
    pub fn ttl(&self, md: &Metadata) -> Duration {
        self.opts.attr_timeout(md.is_dir(), age(md))
    }

    /// Answers a lookup-like request with `handle` and `md`, counting the
    /// kernel's new reference.
    pub fn reply_entry(&self, reply: ReplyEntry, handle: &FileHandle, md: &Metadata) {
        let ino = self
            .inodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(handle);
        reply.entry(&self.ttl(md), &file_attr(ino, md), Generation(0));
    }

    /// Answers with attributes of node `ino`.
    pub fn reply_attr(&self, reply: ReplyAttr, ino: INodeNo, md: &Metadata) {
        reply.attr(&self.ttl(md), &file_attr(ino.0, md));
    }
}

/// A handle on a mount that outlives its file system (which the FUSE
/// session owns): statistics, and the last work after the unmount.
#[derive(Clone)]
pub struct MountHandle {
    inner: Arc<Inner>,
}

impl MountHandle {
    /// The mount's counters and its client sessions' totals, as text.
    pub async fn render(&self) -> String {
        let sessions: Vec<_> = self
            .inner
            .sessions
            .all()
            .await
            .iter()
            .map(Nfs::stats)
            .collect();
        self.inner.stats.render(&sessions)
    }

    /// The mount's counters.
    pub fn counters(&self) -> &MountStats {
        &self.inner.stats
    }

    /// After the unmount: waits for the requests still running (releases
    /// the kernel sent last), then makes any file still open durable and
    /// removes the hidden names of unlinked open files.
    pub async fn finish(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.inflight.load(SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        let files: Vec<_> = self
            .inner
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, f)| f)
            .collect();
        for f in files {
            if let Err(e) = crate::io::sync_file(&f, false).await {
                tracing::warn!("at unmount, a file's data was not made durable: {e:?}");
            }
        }
        crate::io::remove_silly_names(&self.inner, None).await;
    }
}

/// The FUSE file system of one NFS mount.
pub struct NfsFs {
    inner: Arc<Inner>,
}

impl NfsFs {
    /// A file system over `base` (the mount's own session, speaking as
    /// `base_identity`), running requests on `rt`.
    /// `root` is the directory mounted (the export's root or one below).
    pub fn new(
        rt: tokio::runtime::Handle,
        base: Nfs,
        base_identity: Identity,
        root: FileHandle,
        opts: MountOptions,
    ) -> NfsFs {
        let fixed = opts.uid.is_some() || opts.gid.is_some();
        let stats = Arc::new(MountStats::default());
        NfsFs {
            inner: Arc::new(Inner {
                rt,
                sessions: Sessions::new(base, base_identity, fixed),
                opts,
                inodes: Mutex::new(InodeTable::new(root)),
                files: Mutex::new(HashMap::new()),
                dirs: Mutex::new(HashMap::new()),
                backings: Mutex::new(HashMap::new()),
                cached_opens: Mutex::new(HashMap::new()),
                stamps: Mutex::new(HashMap::new()),
                silly: Mutex::new(HashMap::new()),
                next_fh: AtomicU64::new(1),
                inflight: std::sync::atomic::AtomicUsize::new(0),
                idle: tokio::sync::Notify::new(),
                stats,
                passthrough: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// A handle on the mount's statistics that outlives the file system
    /// (which the FUSE session owns).
    pub fn handle(&self) -> MountHandle {
        MountHandle {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Runs `op` as a task with the caller's identity.
    fn spawn<F, Fut>(&self, req: &Request, op: F)
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let who = Identity::of_caller(req.uid(), req.gid(), req.pid());
        self.spawn_as(who, op);
    }

    /// Runs `op` on an open file or directory: its IO goes with the
    /// session it was opened with (as the kernel client uses the opener's
    /// credentials), so the caller's groups are not looked up.
    fn spawn_io<F, Fut>(&self, req: &Request, op: F)
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let who = Identity {
            uid: req.uid(),
            gid: req.gid(),
            gids: Vec::new(),
        };
        self.spawn_as(who, op);
    }

    fn spawn_as<F, Fut>(&self, who: Identity, op: F)
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ctx = Ctx {
            inner: Arc::clone(&self.inner),
            who,
        };
        let inner = Arc::clone(&self.inner);
        inner
            .inflight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fut = op(ctx);
        self.inner.rt.spawn(async move {
            fut.await;
            inner
                .inflight
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            inner.idle.notify_waiters();
        });
    }
}

/// Whether this process holds CAP_SYS_ADMIN (FUSE passthrough needs it).
fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

impl Filesystem for NfsFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(MAX_WRITE);
        let _ = config.set_max_readahead(MAX_WRITE);
        let _ = config.add_capabilities(
            InitFlags::FUSE_DO_READDIRPLUS
                | InitFlags::FUSE_PARALLEL_DIROPS
                | InitFlags::FUSE_ATOMIC_O_TRUNC,
        );
        let _ = config.add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP);
        let mode = self.inner.opts.passthrough;
        if mode == PassthroughMode::Off {
            self.inner.stats.passthrough_unavailable("passthrough=off");
            return Ok(());
        }
        let localio_off =
            self.inner.sessions.base().config().localio == nfsl_client::LocalioMode::Off;
        let why = if localio_off {
            Some("localio=off")
        } else if !has_cap_sys_admin() {
            // The usual case of a user's own mount (through fusermount3).
            Some(if rustix::process::geteuid().is_root() {
                "the daemon lacks CAP_SYS_ADMIN"
            } else {
                "an unprivileged mount: the daemon lacks CAP_SYS_ADMIN"
            })
        } else if config
            .add_capabilities(InitFlags::FUSE_PASSTHROUGH)
            .is_err()
        {
            Some("the kernel does not offer FUSE passthrough")
        } else if config.set_max_stack_depth(1).is_err() {
            Some("the kernel refused a passthrough stack depth of 1")
        } else {
            None
        };
        match why {
            None => {
                self.inner
                    .passthrough
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            Some(why) if mode == PassthroughMode::On => {
                Err(std::io::Error::other(format!("passthrough=on: {why}")))
            }
            Some(why) => {
                self.inner.stats.passthrough_unavailable(why);
                Ok(())
            }
        }
    }

    fn destroy(&mut self) {
        tracing::info!("unmounted");
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        self.spawn(
            req,
            move |c| async move { c.lookup(parent, name, reply).await },
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inner
            .inodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, fh: Option<Fh>, reply: ReplyAttr) {
        self.spawn(req, move |c| async move { c.getattr(ino, fh, reply).await });
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<Fh>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let change = crate::names::Change {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        self.spawn(req, move |c| async move {
            c.setattr(ino, change, fh, reply).await
        });
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(req, move |c| async move { c.readlink(ino, reply).await });
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        self.spawn(req, move |c| async move {
            c.mknod(parent, name, mode, rdev, reply).await
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        self.spawn(req, move |c| async move {
            c.mkdir(parent, name, mode, reply).await
        });
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(req, move |c| async move {
            c.remove(parent, name, false, reply).await
        });
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(req, move |c| async move {
            c.remove(parent, name, true, reply).await
        });
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let name = link_name.to_owned();
        let target = target.as_os_str().to_owned();
        self.spawn(req, move |c| async move {
            c.symlink(parent, name, target, reply).await
        });
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.bits() != 0 {
            // RENAME_NOREPLACE / EXCHANGE / WHITEOUT have no NFSv3 form.
            reply.error(Errno::EINVAL);
            return;
        }
        let (name, newname) = (name.to_owned(), newname.to_owned());
        self.spawn(req, move |c| async move {
            c.rename(parent, name, newparent, newname, reply).await
        });
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let newname = newname.to_owned();
        self.spawn(req, move |c| async move {
            c.link(ino, newparent, newname, reply).await
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(req, move |c| async move { c.open(ino, flags, reply).await });
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn_io(req, move |c| async move {
            c.read(fh, offset, size, reply).await
        });
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.spawn_io(req, move |c| async move {
            c.write(fh, offset, data, reply).await
        });
    }

    fn flush(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: Fh,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.spawn_io(req, move |c| async move { c.sync(fh, false, reply).await });
    }

    fn release(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: Fh,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn_io(req, move |c| async move { c.release(fh, reply).await });
    }

    fn fsync(&self, req: &Request, _ino: INodeNo, fh: Fh, datasync: bool, reply: ReplyEmpty) {
        self.spawn_io(
            req,
            move |c| async move { c.sync(fh, datasync, reply).await },
        );
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(req, move |c| async move { c.opendir(ino, reply).await });
    }

    fn readdirplus(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.spawn_io(req, move |c| async move {
            c.readdirplus(fh, offset, reply).await
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: Fh,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.inner
            .dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: Fh, _datasync: bool, reply: ReplyEmpty) {
        // Directory operations are synchronous on an NFSv3 server.
        reply.ok();
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // NFSv3 has no extended attributes: ENOSYS makes the kernel stop
        // asking (and answer EOPNOTSUPP itself).
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    fn statfs(&self, req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.spawn(req, move |c| async move { c.statfs(reply).await });
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        self.spawn(
            req,
            move |c| async move { c.access(ino, mask, reply).await },
        );
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let name = name.to_owned();
        self.spawn(req, move |c| async move {
            c.create(parent, name, mode, flags, reply).await
        });
    }
}

/// Flags of an open reply for a file the daemon serves.
pub(crate) fn daemon_open_flags(keep_cache: bool) -> FopenFlags {
    if keep_cache {
        FopenFlags::FOPEN_KEEP_CACHE
    } else {
        FopenFlags::empty()
    }
}
