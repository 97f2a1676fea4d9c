//! The fallback handle scheme: inode number + generation, resolved through
//! a path cache and, on a miss, a bounded breadth-first walk of the export.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rustix::fs::{Dir, FileType, OFlags};

use super::sys::{self, FileId};
use super::{Access, HandleError};
use crate::names::Name;

/// Directory entries one walk may visit before giving up (the file is
/// then reported stale).
pub const DEFAULT_WALK_LIMIT: usize = 1_000_000;

/// Cached paths kept before the cache is cleared and refilled.
const CACHE_LIMIT: usize = 1 << 18;

/// Inode number -> path relative to the export root. Entries are hints:
/// every use re-checks inode and generation.
pub(super) struct InodeTable {
    root_path: PathBuf,
    paths: Mutex<HashMap<u64, PathBuf>>,
    pub(super) walk_limit: usize,
}

impl InodeTable {
    /// A table for the export whose canonical root is `root_path`.
    pub fn new(root_path: PathBuf) -> InodeTable {
        InodeTable {
            root_path,
            paths: Mutex::new(HashMap::new()),
            walk_limit: DEFAULT_WALK_LIMIT,
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<u64, PathBuf>> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, ino: u64, rel: PathBuf) {
        let mut c = self.cache();
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(ino, rel);
    }

    fn cached(&self, ino: u64) -> Option<PathBuf> {
        self.cache().get(&ino).cloned()
    }

    /// The path of an open file relative to the export root, from the
    /// kernel's record of its current name (`/proc/self/fd`).
    fn path_of_fd(&self, fd: BorrowedFd<'_>) -> Option<PathBuf> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let rel = link.strip_prefix(&self.root_path).ok()?;
        (!link.as_os_str().as_bytes().ends_with(b" (deleted)")).then(|| rel.to_path_buf())
    }

    /// Identifies an open file for a handle, remembering its path.
    pub fn note_fd(&self, root: &FileId, fd: BorrowedFd<'_>) -> Result<FileId, HandleError> {
        let fid = sys::stat_fd(fd)?;
        if !fid.same_mount(root) {
            return Err(HandleError::OtherFilesystem);
        }
        if let Some(rel) = self.path_of_fd(fd) {
            self.remember(fid.ino, rel);
        }
        Ok(fid)
    }

    /// Identifies `name` in `dir` for a handle, remembering its path.
    /// `name` is not `.`, nor `..` of the export root.
    pub fn note_child(
        &self,
        root: &FileId,
        dir: BorrowedFd<'_>,
        name: Name<'_>,
    ) -> Result<FileId, HandleError> {
        let fid = sys::stat_at(dir, name.as_os_str())?;
        if !fid.same_mount(root) {
            return Err(HandleError::OtherFilesystem);
        }
        let dir_id = sys::stat_fd(dir)?;
        let dir_path = match self.cached(dir_id.ino) {
            Some(p) => Some(p),
            None => self.path_of_fd(dir),
        };
        if let Some(mut p) = dir_path {
            self.remember(dir_id.ino, p.clone());
            match name {
                Name::DotDot => {
                    p.pop();
                }
                _ => p.push(name.as_os_str()),
            }
            self.remember(fid.ino, p);
        }
        Ok(fid)
    }

    /// Opens the file with inode `ino` and generation `generation`.
    pub fn resolve(
        &self,
        root_fd: BorrowedFd<'_>,
        root: &FileId,
        ino: u64,
        generation: u64,
        access: Access,
    ) -> Result<OwnedFd, HandleError> {
        let want = FileId {
            ino,
            generation,
            ..*root
        };
        if let Some(rel) = self.cached(ino) {
            if let Some(fd) = open_verified(root_fd, &rel, &want, access)? {
                return Ok(fd);
            }
        }
        let Some(rel) = self.walk(root_fd, &want) else {
            return Err(HandleError::Stale);
        };
        let fd = open_verified(root_fd, &rel, &want, access)?.ok_or(HandleError::Stale)?;
        self.remember(ino, rel);
        Ok(fd)
    }

    /// Breadth-first search of the export for `want`, visiting at most
    /// `walk_limit` entries, never following symlinks or entering other
    /// mounts. Remembers the directories it passes.
    fn walk(&self, root_fd: BorrowedFd<'_>, want: &FileId) -> Option<PathBuf> {
        let mut queue = VecDeque::from([PathBuf::new()]);
        let mut budget = self.walk_limit;
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        while let Some(rel) = queue.pop_front() {
            let Ok(fd) = sys::open_beneath(root_fd, &rel, dir_flags) else {
                continue;
            };
            let Ok(mut dir) = Dir::new(fd) else {
                continue;
            };
            while let Some(Ok(entry)) = dir.read() {
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                budget = budget.checked_sub(1)?;
                let mut file_type = entry.file_type();
                if entry.ino() == want.ino || file_type == FileType::Unknown {
                    let Some(found) = dir.fd().ok().and_then(|d| sys::stat_at(d, name).ok()) else {
                        continue;
                    };
                    if found.same_file(want) {
                        return Some(rel.join(name));
                    }
                    file_type = found.file_type;
                }
                if file_type == FileType::Directory {
                    let child = rel.join(name);
                    self.remember(entry.ino(), child.clone());
                    queue.push_back(child);
                }
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
    let Ok(fd) = sys::open_beneath(root_fd, rel, sys::oflags(access)) else {
        return Ok(None);
    };
    let again = sys::stat_fd(fd.as_fd())?;
    Ok(again.same_file(want).then_some(fd))
}
