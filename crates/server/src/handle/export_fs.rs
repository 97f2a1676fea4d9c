//! [`ExportFs`]: one export's root and the handles within it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use super::format::{self, Payload};
use super::inode::{InodeTable, Located, DEFAULT_INDEX_LIMIT};
use super::sys::{self, FileId};
use super::{kernel, Access, FileHandle, HandleError, HandleKey, Scheme};
use crate::exports::ExportId;
use crate::names::{validate_name, Name, NameError};

enum Backend {
    Kernel { mount_id: i32 },
    Inode(InodeTable),
}

/// One export opened for serving: its root directory, id, handle key and
/// handle scheme. Create one per export at startup; share it (`Arc`)
/// between request threads.
pub struct ExportFs {
    id: ExportId,
    key: HandleKey,
    root: OwnedFd,
    /// The root's canonical path (for [`ExportFs::check_within`]).
    root_path: PathBuf,
    root_id: FileId,
    root_handle: FileHandle,
    backend: Backend,
}

impl std::fmt::Debug for ExportFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportFs")
            .field("id", &self.id)
            .field("scheme", &self.scheme())
            .finish_non_exhaustive()
    }
}

/// Errors from the kernel meaning "that file is gone".
fn stale(e: io::Error) -> HandleError {
    match e.raw_os_error() {
        Some(libc::ESTALE | libc::ENOENT) => HandleError::Stale,
        _ => HandleError::Io(e),
    }
}

fn name_errno(e: NameError) -> io::Error {
    io::Error::from_raw_os_error(match e {
        NameError::TooLong => libc::ENAMETOOLONG,
        _ => libc::EINVAL,
    })
}

impl ExportFs {
    /// Opens the export at `path` (a directory, normally canonicalized by
    /// [`ExportTable::validate`](crate::exports::ExportTable::validate)),
    /// choosing [`Scheme::Kernel`] when the kernel lets us use handles here
    /// and [`Scheme::Inode`] when the probe fails with EPERM (no
    /// CAP_DAC_READ_SEARCH), EOPNOTSUPP (filesystem cannot export) or
    /// ENOSYS (syscall filtered).
    pub fn open(path: &Path, id: ExportId, key: HandleKey) -> io::Result<ExportFs> {
        match Self::open_with_scheme(path, id, key.clone(), Scheme::Kernel) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS)
                ) =>
            {
                tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "kernel file handles unavailable; using inode-number handles"
                );
                Self::open_with_scheme(path, id, key, Scheme::Inode)
            }
            other => other,
        }
    }

    /// Opens the export at `path` with the given scheme. For
    /// [`Scheme::Kernel`], fails unless `open_by_handle_at` works on it.
    pub fn open_with_scheme(
        path: &Path,
        id: ExportId,
        key: HandleKey,
        scheme: Scheme,
    ) -> io::Result<ExportFs> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::open(path, flags, Mode::empty())?;
        let root_id = sys::stat_fd(root.as_fd())?;
        let root_path = std::fs::canonicalize(path)?;
        let (backend, payload_handle) = match scheme {
            Scheme::Kernel => {
                let kh = kernel::name_to_handle_at(root.as_fd(), OsStr::new(""))?;
                // The probe: fails with EPERM without CAP_DAC_READ_SEARCH.
                kernel::open_by_handle_at(root.as_fd(), kh.handle_type, kh.bytes(), OFlags::PATH)?;
                let payload = Payload::Kernel {
                    handle_type: kh.handle_type,
                    bytes: kh.bytes(),
                };
                let fh = format::encode(&key, id, payload).map_err(io::Error::other)?;
                (
                    Backend::Kernel {
                        mount_id: kh.mount_id,
                    },
                    fh,
                )
            }
            Scheme::Inode => {
                let payload = Payload::Inode {
                    ino: root_id.ino,
                    generation: root_id.generation,
                    parent: Some((root_id.ino, root_id.generation)),
                };
                let fh = format::encode(&key, id, payload).map_err(io::Error::other)?;
                let table = InodeTable::new(root_path.clone(), &root_id);
                table.index_directories(root.as_fd(), DEFAULT_INDEX_LIMIT);
                (Backend::Inode(table), fh)
            }
        };
        Ok(ExportFs {
            id,
            key,
            root,
            root_path,
            root_id,
            root_handle: payload_handle,
            backend,
        })
    }

    /// Limits how many entries of the parent directory one
    /// [`Scheme::Inode`] resolution may read (default
    /// [`DEFAULT_SCAN_LIMIT`](super::DEFAULT_SCAN_LIMIT)). No effect on
    /// [`Scheme::Kernel`].
    pub fn with_scan_limit(mut self, entries: usize) -> ExportFs {
        if let Backend::Inode(t) = &mut self.backend {
            t.scan_limit = entries;
        }
        self
    }

    /// Directories read to resolve handles since the last call (tests).
    #[cfg(test)]
    pub(crate) fn take_dir_reads(&self) -> u64 {
        match &self.backend {
            Backend::Inode(t) => t.dir_reads.swap(0, std::sync::atomic::Ordering::Relaxed),
            Backend::Kernel { .. } => 0,
        }
    }

    /// The export's id (as carried in its handles).
    pub fn id(&self) -> ExportId {
        self.id
    }

    /// The handle scheme in use.
    pub fn scheme(&self) -> Scheme {
        match self.backend {
            Backend::Kernel { .. } => Scheme::Kernel,
            Backend::Inode(_) => Scheme::Inode,
        }
    }

    /// The export root directory (`O_RDONLY | O_DIRECTORY`).
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// The root's handle (what MOUNT returns).
    pub fn root_handle(&self) -> &FileHandle {
        &self.root_handle
    }

    /// Whether `fd` is the export root directory.
    pub fn is_root(&self, fd: impl AsFd) -> io::Result<bool> {
        Ok(sys::stat_fd(fd.as_fd())?.same_file(&self.root_id))
    }

    /// The handle of an open file (any kind, `O_PATH` descriptors included).
    pub fn handle_for_fd(&self, fd: impl AsFd) -> Result<FileHandle, HandleError> {
        let fd = fd.as_fd();
        match &self.backend {
            Backend::Kernel { mount_id } => {
                let kh = kernel::name_to_handle_at(fd, OsStr::new(""))?;
                self.kernel_handle(*mount_id, &kh)
            }
            Backend::Inode(t) => {
                let found = t.note_fd(self.root(), &self.root_id, fd)?;
                self.inode_handle(&found)
            }
        }
    }

    /// The handle of `name` in directory `dir`, without following a final
    /// symlink. `name` is validated again here ([`validate_name`]; invalid
    /// names give EINVAL or ENAMETOOLONG). `.` is `dir` itself; `..` of the
    /// export root is the root (a client cannot climb out of the export).
    /// Missing files give `Io(ENOENT)`.
    pub fn handle_for_child(&self, dir: impl AsFd, name: &[u8]) -> Result<FileHandle, HandleError> {
        let dir = dir.as_fd();
        let name = validate_name(name).map_err(name_errno)?;
        match name {
            Name::Dot => return self.handle_for_fd(dir),
            Name::DotDot if self.is_root(dir)? => return Ok(self.root_handle.clone()),
            Name::DotDot => {
                // `dir` may have been moved out of the export while a
                // client held its handle: its parent is only handed out
                // once shown to be the root or beneath it.
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                let parent = rustix::fs::openat(dir, "..", flags, Mode::empty())?;
                self.check_within(&parent)?;
                return self.handle_for_fd(&parent);
            }
            _ => {}
        }
        match &self.backend {
            Backend::Kernel { mount_id } => {
                let kh = kernel::name_to_handle_at(dir, name.as_os_str())?;
                self.kernel_handle(*mount_id, &kh)
            }
            Backend::Inode(t) => {
                let found = t.note_child(&self.root_id, dir, name)?;
                self.inode_handle(&found)
            }
        }
    }

    /// Records that `name` in `dir` was just renamed there (NFS RENAME), so
    /// that the [`Scheme::Inode`] table follows the move; nothing to do for
    /// [`Scheme::Kernel`]. Best effort: a failure only costs a later
    /// resolution its fast path.
    pub fn note_renamed(&self, dir: impl AsFd, name: &[u8]) {
        if let Backend::Inode(_) = &self.backend {
            let _ = self.handle_for_child(dir, name);
        }
    }

    /// Whether the open file `fd` is the export root or beneath it, now;
    /// [`HandleError::Stale`] if not (moved out of the export, or deleted).
    ///
    /// A directory is checked by following `..` up to the root (its
    /// depth in `openat` + `statx` calls, no `/proc`); another file by
    /// its name in `/proc/self/fd`, which must be beneath the root's path
    /// and open to the same file again from the root without following
    /// symlinks (`openat2` with `RESOLVE_BENEATH`). A file whose only
    /// known name is outside the export (a hard link there, or a dentry
    /// the kernel has not connected yet) is refused.
    /// Must run with the server's own credentials.
    pub fn check_within(&self, fd: impl AsFd) -> Result<(), HandleError> {
        let fd = fd.as_fd();
        let id = sys::stat_fd(fd)?;
        if !id.same_mount(&self.root_id) {
            return Err(HandleError::Stale);
        }
        if id.same_file(&self.root_id) {
            return Ok(());
        }
        if id.file_type == FileType::Directory {
            return self.directory_within(fd, id);
        }
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let rel = link
            .strip_prefix(&self.root_path)
            .map_err(|_| HandleError::Stale)?;
        let again = sys::open_beneath(self.root(), rel, sys::oflags(Access::Path))
            .map_err(|_| HandleError::Stale)?;
        if sys::stat_fd(again.as_fd())?.same_file(&id) {
            Ok(())
        } else {
            Err(HandleError::Stale)
        }
    }

    /// [`ExportFs::check_within`] for a directory: `..` up to the root.
    fn directory_within(&self, fd: BorrowedFd<'_>, mut id: FileId) -> Result<(), HandleError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut cur = rustix::fs::openat(fd, "..", flags, Mode::empty())?;
        // `PATH_MAX` allows at most 2048 levels below `/`.
        for _ in 0..2048 {
            let parent = sys::stat_fd(cur.as_fd())?;
            if parent.same_file(&self.root_id) {
                return Ok(());
            }
            // The top of the file system (its own parent) or of the mount.
            if parent.same_file(&id) || !parent.same_mount(&self.root_id) {
                return Err(HandleError::Stale);
            }
            id = parent;
            cur = rustix::fs::openat(&cur, "..", flags, Mode::empty())?;
        }
        Err(HandleError::Stale)
    }

    /// Authenticates `fh` and opens the file it names.
    ///
    /// Errors: [`HandleError::BadHandle`] for anything we did not issue;
    /// [`HandleError::Stale`] for a genuine handle of another export or
    /// scheme, or whose file is gone or now on another device. Must run
    /// with the server's own credentials (see the module docs).
    pub fn resolve(&self, fh: &[u8], access: Access) -> Result<OwnedFd, HandleError> {
        let (export, payload) = format::decode(&self.key, fh)?;
        if export != self.id {
            return Err(HandleError::Stale);
        }
        match (payload, &self.backend) {
            (Payload::Kernel { handle_type, bytes }, Backend::Kernel { .. }) => {
                let open = |access| {
                    kernel::open_by_handle_at(self.root(), handle_type, bytes, sys::oflags(access))
                        .map_err(stale)
                };
                let fd = open(Access::Path)?;
                let fid = sys::stat_fd(fd.as_fd())?;
                if !fid.same_mount(&self.root_id) {
                    return Err(HandleError::Stale);
                }
                if access == Access::Path {
                    return Ok(fd);
                }
                sys::check_openable(fid.file_type, access)?;
                open(access)
            }
            (
                Payload::Inode {
                    ino,
                    generation,
                    parent,
                },
                Backend::Inode(t),
            ) => {
                if ino == self.root_id.ino && generation == self.root_id.generation {
                    sys::check_openable(FileType::Directory, access)?;
                    return Ok(sys::open_beneath(
                        self.root(),
                        Path::new(""),
                        sys::oflags(access),
                    )?);
                }
                let id = |ino, generation| FileId {
                    ino,
                    generation,
                    ..self.root_id
                };
                let parent = parent.map(|(i, g)| id(i, g));
                t.resolve(self.root(), &id(ino, generation), parent.as_ref(), access)
            }
            _ => Err(HandleError::Stale),
        }
    }

    fn kernel_handle(
        &self,
        mount_id: i32,
        kh: &kernel::KernelHandle,
    ) -> Result<FileHandle, HandleError> {
        if kh.mount_id != mount_id {
            return Err(HandleError::OtherFilesystem);
        }
        let payload = Payload::Kernel {
            handle_type: kh.handle_type,
            bytes: kh.bytes(),
        };
        format::encode(&self.key, self.id, payload)
    }

    fn inode_handle(&self, found: &Located) -> Result<FileHandle, HandleError> {
        let payload = Payload::Inode {
            ino: found.file.ino,
            generation: found.file.generation,
            parent: Some((found.parent.ino, found.parent.generation)),
        };
        format::encode(&self.key, self.id, payload)
    }
}
