//! Small filesystem helpers shared by both handle schemes.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Statx, StatxFlags};

use super::Access;

/// What identifies a file, from `statx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    pub dev: (u32, u32),
    pub mnt_id: Option<u64>,
    pub ino: u64,
    /// Birth time (seconds in the high 32 bits, nanoseconds in the low);
    /// 0 when the filesystem does not record it.
    pub generation: u64,
    pub file_type: FileType,
}

impl FileId {
    fn from_statx(s: &Statx) -> FileId {
        let mask = StatxFlags::from_bits_retain(s.stx_mask);
        let generation = if mask.contains(StatxFlags::BTIME) {
            ((s.stx_btime.tv_sec as u64) << 32) | u64::from(s.stx_btime.tv_nsec)
        } else {
            0
        };
        FileId {
            dev: (s.stx_dev_major, s.stx_dev_minor),
            mnt_id: mask.contains(StatxFlags::MNT_ID).then_some(s.stx_mnt_id),
            ino: s.stx_ino,
            generation,
            file_type: FileType::from_raw_mode(s.stx_mode.into()),
        }
    }

    /// Whether `self` is on the same mount as `other` (same device, and
    /// same mount id when both are known).
    pub fn same_mount(&self, other: &FileId) -> bool {
        self.dev == other.dev
            && match (self.mnt_id, other.mnt_id) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Whether `self` and `other` are the same file (same inode on the
    /// same mount, same generation).
    pub fn same_file(&self, other: &FileId) -> bool {
        self.same_mount(other) && self.ino == other.ino && self.generation == other.generation
    }
}

const MASK: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::INO)
    .union(StatxFlags::BTIME)
    .union(StatxFlags::MNT_ID);

/// `statx` of an open file (which may be an `O_PATH` descriptor).
pub(super) fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<FileId> {
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    Ok(FileId::from_statx(&rustix::fs::statx(fd, "", flags, MASK)?))
}

/// `statx` of `name` in `dir`, not following a final symlink.
pub(super) fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<FileId> {
    let flags = AtFlags::SYMLINK_NOFOLLOW;
    Ok(FileId::from_statx(&rustix::fs::statx(
        dir, name, flags, MASK,
    )?))
}

/// Opens `rel` (relative; empty means `root` itself) beneath `root`
/// without following any symlink or crossing any mount.
pub(super) fn open_beneath(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let resolve = ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV;
    Ok(rustix::fs::openat2(
        root,
        rel,
        flags,
        Mode::empty(),
        resolve,
    )?)
}

/// The open flags for `access`. Always close-on-exec, never following a
/// final symlink; no controlling terminal for I/O opens. (`openat2`
/// rejects any flag but `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC` with
/// `O_PATH`.)
pub(super) fn oflags(access: Access) -> OFlags {
    let base = OFlags::CLOEXEC | OFlags::NOFOLLOW;
    match access {
        Access::Path => base | OFlags::PATH,
        Access::Read => base | OFlags::NOCTTY | OFlags::RDONLY,
        Access::Write => base | OFlags::NOCTTY | OFlags::WRONLY,
        Access::ReadWrite => base | OFlags::NOCTTY | OFlags::RDWR,
    }
}

/// Refuses to open anything but regular files and directories for I/O,
/// and directories for writing.
pub(super) fn check_openable(file_type: FileType, access: Access) -> io::Result<()> {
    let errno = match (file_type, access) {
        (_, Access::Path) | (FileType::RegularFile, _) | (FileType::Directory, Access::Read) => {
            return Ok(())
        }
        (FileType::Directory, _) => libc::EISDIR,
        _ => libc::EINVAL,
    };
    Err(io::Error::from_raw_os_error(errno))
}
