//! What the engine does IO on: a file's buffered fd, its optional O_DIRECT fd
//! and its direct-IO alignment.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use nfsl_localio::DioAlignment;
use rustix::fs::{self, Mode, OFlags};

use crate::strand::WriteStrand;

use crate::IoError;

/// An open file the engine reads and writes: a buffered fd, optionally an
/// `O_DIRECT` fd of the same file, and the file's [`DioAlignment`].
///
/// Share it as `Arc<IoFile>`: requests hold a reference until they complete,
/// so the fds stay open while IO is in flight.
#[derive(Debug)]
pub struct IoFile {
    buffered: OwnedFd,
    direct: Option<OwnedFd>,
    align: DioAlignment,
    writable: bool,
    /// One worker at a time writes buffered data to the file.
    pub(crate) strand: WriteStrand,
    /// Write requests queued or in flight on the engine (see [`QueuedWrite`]):
    /// while any is, a write is not tried in the caller, so it cannot
    /// overtake one submitted before it.
    queued_writes: AtomicUsize,
    /// The file system refused `RWF_NOWAIT` on a buffered write (ext4,
    /// tmpfs): later writes go straight to the workers.
    nowait_writes_refused: AtomicBool,
}

/// Counts a write request of a file from submission until it is answered
/// (done, failed or dropped).
#[derive(Debug)]
pub(crate) struct QueuedWrite(Arc<IoFile>);

impl QueuedWrite {
    pub(crate) fn new(file: &Arc<IoFile>) -> QueuedWrite {
        file.queued_writes.fetch_add(1, Ordering::AcqRel);
        QueuedWrite(Arc::clone(file))
    }
}

impl Drop for QueuedWrite {
    /// Dropped only once no IO of the request is in flight (see
    /// `InFlight::answer`), before its answer is sent.
    fn drop(&mut self) {
        self.0.queued_writes.fetch_sub(1, Ordering::AcqRel);
    }
}

impl IoFile {
    /// Wraps fds received from elsewhere (e.g. over SCM_RIGHTS), with the
    /// alignment the sender reported. Checks that `direct`, if given, is
    /// open with `O_DIRECT` and is the same file as `buffered`. The file is
    /// writable when `buffered` was opened for writing.
    pub fn new(
        buffered: OwnedFd,
        direct: Option<OwnedFd>,
        align: DioAlignment,
    ) -> Result<IoFile, IoError> {
        let flags = fs::fcntl_getfl(&buffered).map_err(|e| IoError::Inspect(e.into()))?;
        let writable = flags & OFlags::RWMODE != OFlags::RDONLY;
        if let Some(d) = &direct {
            let dflags = fs::fcntl_getfl(d).map_err(|e| IoError::Inspect(e.into()))?;
            if !dflags.contains(OFlags::DIRECT) {
                return Err(IoError::NotDirect);
            }
            let a = fs::fstat(&buffered).map_err(|e| IoError::Inspect(e.into()))?;
            let b = fs::fstat(d).map_err(|e| IoError::Inspect(e.into()))?;
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
                return Err(IoError::FdMismatch);
            }
            // A write through a read-only direct fd would fail: treat the
            // file as writable only if both fds are.
            if writable && dflags & OFlags::RWMODE == OFlags::RDONLY {
                return Err(IoError::DirectReadOnly);
            }
        }
        Ok(IoFile {
            strand: WriteStrand::default(),
            queued_writes: AtomicUsize::new(0),
            nowait_writes_refused: AtomicBool::new(false),
            buffered,
            direct,
            align,
            writable,
        })
    }

    /// Like [`IoFile::new`], probing the alignment with statx.
    pub fn from_fds(buffered: OwnedFd, direct: Option<OwnedFd>) -> Result<IoFile, IoError> {
        let align = DioAlignment::probe(&buffered).map_err(IoError::Inspect)?;
        IoFile::new(buffered, direct, align)
    }

    /// Opens `path` twice, buffered and `O_DIRECT` (read-only or read-write;
    /// never creates). A file system that refuses `O_DIRECT` (EINVAL) gives
    /// a file without a direct fd: all its IO is buffered.
    pub fn open(path: impl AsRef<Path>, writable: bool) -> Result<IoFile, IoError> {
        let path = path.as_ref();
        let mode = if writable {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        let open = |extra: OFlags| {
            fs::open(path, mode | OFlags::CLOEXEC | extra, Mode::empty()).map_err(|e| {
                IoError::Open {
                    path: path.to_path_buf(),
                    source: e.into(),
                }
            })
        };
        let buffered = open(OFlags::empty())?;
        let align = DioAlignment::probe(&buffered).map_err(IoError::Inspect)?;
        let direct = match open(OFlags::DIRECT) {
            Ok(fd) => Some(fd),
            Err(IoError::Open { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
                None
            }
            Err(e) => return Err(e),
        };
        IoFile::new(buffered, direct, align)
    }

    /// The buffered fd.
    pub fn buffered_fd(&self) -> BorrowedFd<'_> {
        self.buffered.as_fd()
    }

    /// The `O_DIRECT` fd, if there is one.
    pub fn direct_fd(&self) -> Option<BorrowedFd<'_>> {
        self.direct.as_ref().map(|d| d.as_fd())
    }

    /// The direct-IO alignment.
    pub fn alignment(&self) -> DioAlignment {
        self.align
    }

    /// True if the engine may use direct IO on this file at all.
    pub fn direct_capable(&self) -> bool {
        self.direct.is_some() && self.align.supports_direct()
    }

    /// True if the fds were opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// True once the file system refused a non-blocking buffered write
    /// (`RWF_NOWAIT`) on this file: [`IoEngine::write`](crate::IoEngine::write)
    /// then sends every write to the workers without trying.
    pub fn nowait_writes_refused(&self) -> bool {
        self.nowait_writes_refused.load(Ordering::Relaxed)
    }

    /// Remembers that the file system refuses non-blocking buffered writes.
    pub(crate) fn refuse_nowait_writes(&self) {
        self.nowait_writes_refused.store(true, Ordering::Relaxed);
    }

    /// True while a write request of this file is queued or in flight.
    pub(crate) fn has_queued_writes(&self) -> bool {
        self.queued_writes.load(Ordering::Acquire) > 0
    }
}
