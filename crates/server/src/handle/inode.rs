//! The fallback handle scheme: inode number + generation, plus the parent
//! directory's, resolved through an in-memory directory-entry table.
//!
//! Without `open_by_handle_at` there is no way to open a file by inode
//! number, only by name. The table maps inode numbers to (parent inode,
//! name) entries, like a small dcache, so a directory renamed through the
//! server updates one entry and every path below it follows. It is filled
//! by an index of the export's directories built when the export is opened
//! (not on request: no remote input may make the server read the whole
//! export), and by every handle issued or resolved.
//!
//! Resolving a handle costs at most one directory read: a cached path is
//! opened and its inode and generation checked; on a miss or mismatch, the
//! parent named in the handle (which must itself be cached, or be the
//! root) is scanned once for the inode, at most `scan_limit` entries.
//! Anything else is STALE. Limits: a file moved to another directory
//! behind the server's back (not by NFS RENAME) is stale until the
//! export is opened again (a restart or a reload that re-adds it), and so
//! is a file in a directory created behind its back, deeper than the
//! index reached.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rustix::fs::{Dir, FileType, OFlags};

use super::sys::{self, FileId};
use super::{Access, HandleError};
use crate::names::Name;

/// Directory entries the index of an export's directories visits when it
/// is opened; directories beyond are learnt as clients look them up.
pub const DEFAULT_INDEX_LIMIT: usize = 1_000_000;

/// Entries one resolution may read from the parent directory before
/// answering STALE (a resolution reads one directory at most).
pub const DEFAULT_SCAN_LIMIT: usize = 1_000_000;

/// Entries kept; when full, non-directories are dropped first (a
/// directory's handle cannot be found again without its parent's entry,
/// a file's can, by scanning its parent).
const CACHE_LIMIT: usize = 1 << 20;

/// Deepest path the table follows (a loop guard; `PATH_MAX` allows less).
const MAX_DEPTH: usize = 4096;

/// One name of an inode in its parent directory.
struct Dentry {
    parent: u64,
    name: Box<[u8]>,
    is_dir: bool,
}

/// Inode number -> where it was last seen. Entries are hints: every use
/// re-checks inode and generation.
pub(super) struct InodeTable {
    root_path: PathBuf,
    root_ino: u64,
    entries: Mutex<HashMap<u64, Dentry>>,
    pub(super) scan_limit: usize,
    /// Directories read to resolve handles (the cost a client can cause).
    pub(super) dir_reads: AtomicU64,
}

/// The file a handle names and the directory it was found in.
pub(super) struct Located {
    pub file: FileId,
    pub parent: FileId,
}

impl InodeTable {
    /// A table for the export whose canonical root is `root_path`.
    pub fn new(root_path: PathBuf, root: &FileId) -> InodeTable {
        InodeTable {
            root_path,
            root_ino: root.ino,
            entries: Mutex::new(HashMap::new()),
            scan_limit: DEFAULT_SCAN_LIMIT,
            dir_reads: AtomicU64::new(0),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<u64, Dentry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, ino: u64, parent: u64, name: &[u8], is_dir: bool) {
        if ino == self.root_ino || name.is_empty() || name == b"." || name == b".." {
            return;
        }
        let mut c = self.cache();
        if c.len() >= CACHE_LIMIT && !c.contains_key(&ino) {
            c.retain(|_, d| d.is_dir);
            if c.len() >= CACHE_LIMIT {
                c.clear();
            }
        }
        c.insert(
            ino,
            Dentry {
                parent,
                name: name.into(),
                is_dir,
            },
        );
    }

    /// The path of `ino` relative to the root, from the table alone.
    fn cached_path(&self, ino: u64) -> Option<PathBuf> {
        if ino == self.root_ino {
            return Some(PathBuf::new());
        }
        let c = self.cache();
        let mut names: Vec<&[u8]> = Vec::new();
        let mut cur = ino;
        while cur != self.root_ino {
            if names.len() >= MAX_DEPTH {
                return None;
            }
            let d = c.get(&cur)?;
            names.push(&d.name);
            cur = d.parent;
        }
        Some(names.iter().rev().map(|n| OsStr::from_bytes(n)).collect())
    }

    /// Indexes the export's directories (breadth-first, at most `limit`
    /// entries visited, never following symlinks or entering other
    /// mounts), so handles of directories and their files resolve after a
    /// restart. Runs when the export is opened, never for a request.
    pub fn index_directories(&self, root_fd: BorrowedFd<'_>, limit: usize) {
        let mut queue = VecDeque::from([(PathBuf::new(), self.root_ino)]);
        let mut budget = limit;
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        while let Some((rel, dir_ino)) = queue.pop_front() {
            let Ok(fd) = sys::open_beneath(root_fd, &rel, dir_flags) else {
                continue;
            };
            let Ok(mut dir) = Dir::new(fd) else {
                continue;
            };
            while let Some(Ok(entry)) = dir.read() {
                let name = entry.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                let Some(left) = budget.checked_sub(1) else {
                    return;
                };
                budget = left;
                let mut file_type = entry.file_type();
                if file_type == FileType::Unknown {
                    let Some(found) = dir
                        .fd()
                        .ok()
                        .and_then(|d| sys::stat_at(d, OsStr::from_bytes(name)).ok())
                    else {
                        continue;
                    };
                    file_type = found.file_type;
                }
                if file_type == FileType::Directory {
                    self.remember(entry.ino(), dir_ino, name, true);
                    queue.push_back((rel.join(OsStr::from_bytes(name)), entry.ino()));
                }
            }
        }
    }

    /// The path of an open file relative to the export root, from the
    /// kernel's record of its current name (`/proc/self/fd`); `None` if it
    /// is not beneath the root or has been deleted.
    fn path_of_fd(&self, fd: BorrowedFd<'_>) -> Option<PathBuf> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let rel = link.strip_prefix(&self.root_path).ok()?;
        (!link.as_os_str().as_bytes().ends_with(b" (deleted)")).then(|| rel.to_path_buf())
    }

    /// Identifies an open file for a handle, remembering its name. A file
    /// that is not (or no longer) beneath the export root is STALE.
    pub fn note_fd(
        &self,
        root_fd: BorrowedFd<'_>,
        root: &FileId,
        fd: BorrowedFd<'_>,
    ) -> Result<Located, HandleError> {
        let file = sys::stat_fd(fd)?;
        if !file.same_mount(root) {
            return Err(HandleError::OtherFilesystem);
        }
        if file.same_file(root) {
            return Ok(Located { file, parent: file });
        }
        let rel = self.path_of_fd(fd).ok_or(HandleError::Stale)?;
        let (Some(parent_rel), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(HandleError::Stale);
        };
        let parent = if parent_rel.as_os_str().is_empty() {
            *root
        } else {
            let pfd = sys::open_beneath(root_fd, parent_rel, sys::oflags(Access::Path))
                .map_err(|_| HandleError::Stale)?;
            sys::stat_fd(pfd.as_fd())?
        };
        self.remember(
            file.ino,
            parent.ino,
            name.as_bytes(),
            file.file_type == FileType::Directory,
        );
        Ok(Located { file, parent })
    }

    /// Identifies `name` in `dir` for a handle, remembering its name.
    /// `name` is neither `.` nor `..` (see [`super::ExportFs::handle_for_child`]).
    pub fn note_child(
        &self,
        root: &FileId,
        dir: BorrowedFd<'_>,
        name: Name<'_>,
    ) -> Result<Located, HandleError> {
        let file = sys::stat_at(dir, name.as_os_str())?;
        if !file.same_mount(root) {
            return Err(HandleError::OtherFilesystem);
        }
        if file.same_file(root) {
            return Ok(Located { file, parent: file });
        }
        let parent = sys::stat_fd(dir)?;
        self.remember(
            file.ino,
            parent.ino,
            name.as_os_str().as_bytes(),
            file.file_type == FileType::Directory,
        );
        Ok(Located { file, parent })
    }

    /// Opens the file `want`, found in directory `parent` when the handle
    /// was issued (`None` for handles that do not say).
    pub fn resolve(
        &self,
        root_fd: BorrowedFd<'_>,
        want: &FileId,
        parent: Option<&FileId>,
        access: Access,
    ) -> Result<OwnedFd, HandleError> {
        if let Some(rel) = self.cached_path(want.ino) {
            if let Some(fd) = open_verified(root_fd, &rel, want, access)? {
                return Ok(fd);
            }
        }
        let parent = parent.ok_or(HandleError::Stale)?;
        let parent_rel = self.cached_path(parent.ino).ok_or(HandleError::Stale)?;
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let dir = open_verified_with(root_fd, &parent_rel, parent, dir_flags)?
            .ok_or(HandleError::Stale)?;
        let (name, found) = self.scan(dir, want).ok_or(HandleError::Stale)?;
        self.remember(
            want.ino,
            parent.ino,
            &name,
            found.file_type == FileType::Directory,
        );
        let rel = parent_rel.join(OsStr::from_bytes(&name));
        open_verified(root_fd, &rel, want, access)?.ok_or(HandleError::Stale)
    }

    /// Reads directory `dir` (one read, at most `scan_limit` entries) for
    /// the entry that is `want`.
    fn scan(&self, dir: OwnedFd, want: &FileId) -> Option<(Vec<u8>, FileId)> {
        self.dir_reads.fetch_add(1, Ordering::Relaxed);
        let mut dir = Dir::new(dir).ok()?;
        let mut budget = self.scan_limit;
        while let Some(Ok(entry)) = dir.read() {
            budget = budget.checked_sub(1)?;
            let name = entry.file_name().to_bytes();
            if entry.ino() != want.ino || name == b"." || name == b".." {
                continue;
            }
            let found = dir
                .fd()
                .ok()
                .and_then(|d| sys::stat_at(d, OsStr::from_bytes(name)).ok())?;
            if found.same_file(want) {
                return Some((name.to_vec(), found));
            }
        }
        None
    }
}

/// Opens `rel` if it is still the file `want`; `None` if it is not (moved,
/// replaced, gone).
fn open_verified(
    root_fd: BorrowedFd<'_>,
    rel: &Path,
    want: &FileId,
    access: Access,
) -> Result<Option<OwnedFd>, HandleError> {
    let Ok(fd) = sys::open_beneath(root_fd, rel, sys::oflags(Access::Path)) else {
        return Ok(None);
    };
    let fid = sys::stat_fd(fd.as_fd())?;
    if !fid.same_file(want) {
        return Ok(None);
    }
    if access == Access::Path {
        return Ok(Some(fd));
    }
    sys::check_openable(fid.file_type, access)?;
    open_verified_with(root_fd, rel, want, sys::oflags(access))
}

/// Opens `rel` with `flags` if it is the file `want`.
fn open_verified_with(
    root_fd: BorrowedFd<'_>,
    rel: &Path,
    want: &FileId,
    flags: OFlags,
) -> Result<Option<OwnedFd>, HandleError> {
    let Ok(fd) = sys::open_beneath(root_fd, rel, flags) else {
        return Ok(None);
    };
    let again = sys::stat_fd(fd.as_fd())?;
    Ok(again.same_file(want).then_some(fd))
}
