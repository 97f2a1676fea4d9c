//! Persistent, authenticated NFS file handles.
//!
//! A handle (at most [`FHSIZE`] = 64 bytes, `NFS3_FHSIZE`) names a file
//! within one export and survives server restarts. It carries the export's
//! [`ExportId`](crate::exports::ExportId), a payload naming the file, and a 16-byte MAC keyed with the
//! server secret ([`HandleKey`]), so clients cannot forge handles for files
//! they were never given (e.g. outside the export on the same filesystem).
//!
//! Two schemes, chosen per export when its [`ExportFs`] is opened:
//!
//! - [`Scheme::Kernel`] (primary): the kernel's own handles from
//!   `name_to_handle_at(2)`, resolved with `open_by_handle_at(2)`, as knfsd
//!   does. Needs CAP_DAC_READ_SEARCH and a filesystem that supports
//!   exporting (ext4, xfs, btrfs, tmpfs...). No subtree checking: a handle
//!   stays valid when its file is renamed anywhere on the filesystem (as
//!   with knfsd's default `no_subtree_check`).
//! - [`Scheme::Inode`] (fallback, used when the startup probe gets EPERM or
//!   EOPNOTSUPP): the handle carries the inode number and a generation
//!   taken from the birth time (`statx` btime; 0 where the filesystem has
//!   none, in which case a reused inode number is not detected), and the
//!   same for the directory the file was found in. Resolution uses an
//!   in-memory table of directory entries, filled by an index of the
//!   export's directories made when the export is opened (at most
//!   [`DEFAULT_INDEX_LIMIT`] entries visited) and as handles are issued;
//!   on a miss it reads the handle's parent directory once, never more:
//!   unlike unfs3's walk of the whole export, no handle (a deleted file's,
//!   say) can make the server do work that grows with the export. Limits:
//!   a file moved to another directory behind the server's back (not by
//!   NFS RENAME) is stale until the export is opened again.
//!
//! Like knfsd with `no_subtree_check` (the default), a file or directory
//! moved out of the export to elsewhere on the same filesystem stays
//! reachable through handles clients already hold (with the kernel scheme;
//! the inode scheme opens only paths beneath the root); the MAC only
//! guarantees that every handle was issued by this server. But `..` never
//! leads above the export: every `..` is checked to be the root or beneath
//! it ([`ExportFs::check_within`]) before its handle is given out, so a
//! directory moved out is a dead end, not a way out. The `subtree_check`
//! export option applies the same check to every handle a request uses.
//!
//! Both schemes confine handles to the export's mount: a file on another
//! mount (a mount point inside the export) gets
//! [`HandleError::OtherFilesystem`] instead of a handle.
//!
//! Privileges: [`ExportFs::resolve`] must run with the server's own
//! credentials (before [`Credentials::assume`](crate::creds::Credentials::assume));
//! [`ExportFs::handle_for_child`] and [`ExportFs::handle_for_fd`] may run
//! under the caller's credentials (so LOOKUP gets the kernel's search
//! permission check).

mod export_fs;
mod format;
mod inode;
mod kernel;
mod sys;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_inode;

use std::fmt;
use std::io;

pub use export_fs::ExportFs;
pub use format::handle_export_id;
pub use inode::{DEFAULT_INDEX_LIMIT, DEFAULT_SCAN_LIMIT};

/// Largest file handle, in bytes (`NFS3_FHSIZE`).
pub const FHSIZE: usize = 64;

/// The key that authenticates handles (derived from the server secret).
#[derive(Clone)]
pub struct HandleKey([u8; 32]);

impl HandleKey {
    /// Derives the handle MAC key from the server's 32-byte secret (a
    /// separate derived key, so the secret can serve other purposes too).
    pub fn new(secret: [u8; 32]) -> HandleKey {
        HandleKey(blake3::derive_key("nfsl 2025 file handle MAC v1", &secret))
    }

    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandleKey(..)")
    }
}

/// An issued file handle: up to [`FHSIZE`] bytes, no allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileHandle {
    len: u8,
    buf: [u8; FHSIZE],
}

impl FileHandle {
    /// The handle's bytes, as sent on the wire (`nfs_fh3` data).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len).min(FHSIZE)]
    }
}

impl AsRef<[u8]> for FileHandle {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileHandle(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// How [`ExportFs`] implements handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `name_to_handle_at`/`open_by_handle_at`.
    Kernel,
    /// Inode number + generation (and the parent's), resolved through a
    /// table of directory entries and at most one directory read.
    Inode,
}

/// How [`ExportFs::resolve`] opens the file.
///
/// `Read`, `Write` and `ReadWrite` open as the server, without a kernel
/// permission check for the caller: check access first (under the caller's
/// credentials, with NFS's owner override), or re-open
/// `/proc/self/fd/N` of a `Path` descriptor under the caller's credentials
/// to have the kernel check. They are refused (EINVAL) for files other
/// than regular files and directories, so a handle can never open a device
/// or FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `O_PATH`: for `*at()` calls, `fstat`, `readlinkat(fd, "")` on
    /// symlinks (a symlink's handle opens the link itself).
    Path,
    /// `O_RDONLY`: READ, READDIR.
    Read,
    /// `O_WRONLY`.
    Write,
    /// `O_RDWR`: WRITE, COMMIT.
    ReadWrite,
}

/// Why a handle could not be issued or resolved.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Not a handle we issued: wrong size, version or scheme, or a MAC
    /// mismatch. Answer `NFS3ERR_BADHANDLE`.
    #[error("malformed or forged file handle")]
    BadHandle,
    /// A genuine handle whose file no longer exists, or that belongs to
    /// another export or scheme. Answer `NFS3ERR_STALE`.
    #[error("stale file handle")]
    Stale,
    /// The file is on another mount than the export (a mount point inside
    /// it); nfsl does not cross mounts.
    #[error("file is on a different filesystem than the export")]
    OtherFilesystem,
    /// The filesystem's handles are larger than fit in an NFSv3 handle.
    #[error("kernel file handle of {0} bytes does not fit in an NFSv3 handle")]
    TooBig(usize),
    /// A system call failed (map the errno to an NFS status).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<rustix::io::Errno> for HandleError {
    fn from(e: rustix::io::Errno) -> Self {
        HandleError::Io(e.into())
    }
}
