//! What the engine does IO on: a file's buffered fd, its optional O_DIRECT fd
//! and its direct-IO alignment.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self, AtFlags, Mode, OFlags, StatxFlags};

use crate::strand::WriteStrand;

use crate::IoError;

/// `STATX_DIO_READ_ALIGN` (Linux 6.14): `stx_dio_read_offset_align` is valid.
const STATX_DIO_READ_ALIGN: u32 = 0x0002_0000;

/// A file's direct-IO alignment, as statx reports it (`STATX_DIOALIGN`,
/// `STATX_DIO_READ_ALIGN`). 0 means "not reported / not supported".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DioAlignment {
    /// Alignment of the memory buffer of a direct IO.
    pub mem_align: u32,
    /// Alignment of the file offset and length of a direct IO.
    pub offset_align: u32,
    /// Alignment of the offset and length of a direct *read* when it is finer
    /// than `offset_align` (0: same as `offset_align`).
    pub read_offset_align: u32,
}

impl DioAlignment {
    /// Asks the kernel (statx on `fd`). A file system that reports nothing
    /// gives all zeros, meaning direct IO is not used.
    pub fn probe(fd: impl AsFd) -> Result<DioAlignment, IoError> {
        let mask = StatxFlags::DIOALIGN | StatxFlags::from_bits_retain(STATX_DIO_READ_ALIGN);
        let stx =
            fs::statx(fd, "", AtFlags::EMPTY_PATH, mask).map_err(|e| IoError::Inspect(e.into()))?;
        let got = stx.stx_mask;
        let mut align = DioAlignment::default();
        if got & StatxFlags::DIOALIGN.bits() != 0 {
            align.mem_align = stx.stx_dio_mem_align;
            align.offset_align = stx.stx_dio_offset_align;
        }
        if got & STATX_DIO_READ_ALIGN != 0 {
            align.read_offset_align = stx.stx_dio_read_offset_align;
        }
        Ok(align)
    }

    /// True if direct IO is possible at all (both alignments known, the
    /// memory one a power of two as allocators need).
    pub fn supports_direct(&self) -> bool {
        self.offset_align > 0 && self.mem_align > 0 && self.mem_align.is_power_of_two()
    }

    /// The offset/length alignment for reads.
    pub fn read_align(&self) -> u32 {
        if self.read_offset_align != 0 {
            self.read_offset_align
        } else {
            self.offset_align
        }
    }
}

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
            buffered,
            direct,
            align,
            writable,
        })
    }

    /// Like [`IoFile::new`], probing the alignment with statx.
    pub fn from_fds(buffered: OwnedFd, direct: Option<OwnedFd>) -> Result<IoFile, IoError> {
        let align = DioAlignment::probe(&buffered)?;
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
        let align = DioAlignment::probe(&buffered)?;
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
}
