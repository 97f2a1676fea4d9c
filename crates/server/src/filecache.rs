//! The open-file cache: READ and WRITE reuse a descriptor opened for an
//! earlier call on the same handle, with the access decisions made for
//! it, as knfsd's filecache (`nfsd_file`) does.
//!
//! Without it every READ resolves its handle anew (`open_by_handle_at`
//! twice, `statx`, `fstat`, `close`) and checks the caller's access under
//! switched credentials; with it, a READ of a cached file costs an `fstat`
//! (the reply's attributes, which also show whether the file is still
//! linked) and the read itself.
//!
//! What is cached, per (handle, read or write): an open descriptor of a
//! regular file and the access decisions made on it, each for one set of
//! credentials and valid only while the file's ctime, mode and owner are
//! what they were (every change of mode, owner or ACL changes the ctime).
//!
//! When entries go:
//! - a file whose link count is 0 when used (removed or replaced, here or
//!   behind the server's back) is dropped, and the handle resolved anew
//!   (STALE if it is gone);
//! - REMOVE, RMDIR and RENAME through the server drop the entries of the
//!   name they remove or replace at once (so its space is freed now);
//! - SETATTR drops the file's entries (decisions made under the old mode
//!   or owner);
//! - an exports reload drops everything (options and client lists may
//!   have changed);
//! - entries unused for [`IDLE`] are closed by a sweeper thread;
//! - at most `capacity` entries are kept (a quarter of the descriptor
//!   limit, at most [`MAX_ENTRIES`]): the least recently used go first,
//!   and when an open fails for lack of descriptors the cache is emptied
//!   and the open retried once.
//!
//! It does not cache directories, symlinks or `O_PATH` descriptors: only
//! READ and WRITE are frequent enough on one handle to gain.
//!
//! A READ answered on the transport's own thread (which must never wait)
//! may hold the last reference to a file just evicted; closing that can
//! take long (the last close of a removed file frees its blocks), so it
//! hands the file to the sweeper thread to close ([`FileCache::release`]).
//! Evictions close what they remove outside the cache's lock, so a
//! look-up never waits behind a close.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rustix::fs::Stat;

use crate::creds::Credentials;
use crate::handle::{Access, FHSIZE};

/// Most entries kept, whatever the descriptor limit.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// An entry unused this long is closed.
pub(crate) const IDLE: Duration = Duration::from_secs(2);

/// Access decisions kept per file (one per recent caller identity).
const GRANTS_PER_FILE: usize = 8;

/// A handle's bytes and whether the descriptor is for writing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    len: u8,
    fh: [u8; FHSIZE],
    write: bool,
}

impl Key {
    fn new(fh: &[u8], write: bool) -> Option<Key> {
        let mut k = Key {
            len: u8::try_from(fh.len()).ok()?,
            fh: [0; FHSIZE],
            write,
        };
        k.fh.get_mut(..fh.len())?.copy_from_slice(fh);
        Some(k)
    }
}

/// What an access decision depends on besides the caller: the file's
/// ctime (changed by every chmod, chown and ACL change), mode and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ctime: (i64, i64),
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Stamp {
    fn of(st: &Stat) -> Stamp {
        Stamp {
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }
}

/// An access mode granted to `creds` while the file's [`Stamp`] was
/// `stamp`.
struct Grant {
    creds: Credentials,
    mode: rustix::fs::Access,
    stamp: Stamp,
}

/// One cached open file.
pub(crate) struct OpenFile {
    fd: OwnedFd,
    /// Milliseconds since the cache's epoch at the last use.
    last_used: AtomicU64,
    grants: Mutex<Vec<Grant>>,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile").field("fd", &self.fd).finish()
    }
}

impl AsFd for OpenFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl OpenFile {
    fn grants(&self) -> MutexGuard<'_, Vec<Grant>> {
        self.grants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `mode` was granted to `creds` on the file as `st` shows it.
    pub(crate) fn granted(&self, creds: &Credentials, mode: rustix::fs::Access, st: &Stat) -> bool {
        let stamp = Stamp::of(st);
        self.grants()
            .iter()
            .any(|g| g.mode.contains(mode) && g.stamp == stamp && g.creds == *creds)
    }

    /// Records that `mode` is granted to `creds` on the file as `st`
    /// shows it.
    pub(crate) fn grant(&self, creds: &Credentials, mode: rustix::fs::Access, st: &Stat) {
        let stamp = Stamp::of(st);
        let mut grants = self.grants();
        grants.retain(|g| g.stamp == stamp);
        if let Some(g) = grants.iter_mut().find(|g| g.creds == *creds) {
            g.mode |= mode;
            return;
        }
        if grants.len() >= GRANTS_PER_FILE {
            grants.remove(0);
        }
        grants.push(Grant {
            creds: creds.clone(),
            mode,
            stamp,
        });
    }
}

/// The descriptor a request works on: its own, or a cached one.
#[derive(Debug)]
pub(crate) enum TargetFd {
    /// Opened for this request only (closed when it ends).
    Owned(OwnedFd),
    /// Shared with other requests through the cache.
    Cached(Arc<OpenFile>),
}

impl From<OwnedFd> for TargetFd {
    fn from(fd: OwnedFd) -> TargetFd {
        TargetFd::Owned(fd)
    }
}

impl AsFd for TargetFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            TargetFd::Owned(fd) => fd.as_fd(),
            TargetFd::Cached(f) => f.fd.as_fd(),
        }
    }
}

impl AsRawFd for TargetFd {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl TargetFd {
    /// The cached file, if this is one.
    pub(crate) fn cached(&self) -> Option<&OpenFile> {
        match self {
            TargetFd::Owned(_) => None,
            TargetFd::Cached(f) => Some(f),
        }
    }

    /// A descriptor this request owns (a duplicate for a cached file).
    pub(crate) fn into_owned(self) -> std::io::Result<OwnedFd> {
        match self {
            TargetFd::Owned(fd) => Ok(fd),
            TargetFd::Cached(f) => f.fd.try_clone(),
        }
    }
}

/// The cache (see the module docs). Shared by every request thread.
#[derive(Debug)]
pub(crate) struct FileCache {
    entries: Mutex<HashMap<Key, Arc<OpenFile>>>,
    capacity: usize,
    epoch: Instant,
    /// Files whose last reference a thread that must not wait gave up,
    /// for the sweeper to close.
    to_close: Arc<ToClose>,
}

/// Files for the sweeper thread to close, and its wake-up.
#[derive(Debug, Default)]
struct ToClose {
    files: Mutex<Vec<OpenFile>>,
    wake: Condvar,
    /// A sweeper runs (otherwise files are closed where released).
    sweeper: AtomicBool,
}

impl ToClose {
    fn files(&self) -> MutexGuard<'_, Vec<OpenFile>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FileCache {
    /// A cache of at most `capacity` open files (0 disables it).
    pub(crate) fn new(capacity: usize) -> FileCache {
        FileCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
            epoch: Instant::now(),
            to_close: Arc::default(),
        }
    }

    /// The capacity for this process: a quarter of its soft descriptor
    /// limit, at most [`MAX_ENTRIES`].
    pub(crate) fn default_capacity() -> usize {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        usize::try_from(limit / 4)
            .unwrap_or(MAX_ENTRIES)
            .min(MAX_ENTRIES)
    }

    /// Starts the thread that closes idle entries and the files handed
    /// to it ([`release`](FileCache::release)); it ends when the cache is
    /// dropped.
    pub(crate) fn start_sweeper(cache: &Arc<FileCache>) {
        let weak: Weak<FileCache> = Arc::downgrade(cache);
        let to_close = Arc::clone(&cache.to_close);
        to_close.sweeper.store(true, Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name("nfsl-filecache".into())
            .spawn(move || {
                let mut next_sweep = Instant::now() + IDLE / 2;
                loop {
                    let wait = next_sweep.saturating_duration_since(Instant::now());
                    let files = to_close.files();
                    let (mut files, _) = to_close
                        .wake
                        .wait_timeout_while(files, wait, |f| f.is_empty())
                        .unwrap_or_else(|e| e.into_inner());
                    let closing = std::mem::take(&mut *files);
                    drop(files);
                    drop(closing);
                    if Instant::now() < next_sweep {
                        continue;
                    }
                    next_sweep = Instant::now() + IDLE / 2;
                    match weak.upgrade() {
                        Some(c) => c.close_idle(IDLE),
                        None => return,
                    }
                }
            });
        if let Err(e) = spawned {
            cache.to_close.sweeper.store(false, Ordering::Release);
            tracing::warn!(error = %e, "no file cache sweeper: idle files stay open until evicted");
        }
    }

    /// Gives up a request's reference to a cached file without ever
    /// closing the file on this thread: if it was the last (the entry was
    /// evicted meanwhile), the sweeper thread closes it. (Without a
    /// sweeper, it is closed here.)
    pub(crate) fn release(&self, file: Arc<OpenFile>) {
        let Some(last) = Arc::into_inner(file) else {
            return;
        };
        if self.to_close.sweeper.load(Ordering::Acquire) {
            self.to_close.files().push(last);
            self.to_close.wake.notify_one();
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Key, Arc<OpenFile>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn key(fh: &[u8], access: Access) -> Option<Key> {
        match access {
            Access::Read => Key::new(fh, false),
            Access::Write => Key::new(fh, true),
            Access::Path | Access::ReadWrite => None,
        }
    }

    /// Whether `access` is one the cache keeps descriptors for.
    pub(crate) fn caches(&self, access: Access) -> bool {
        self.capacity > 0 && matches!(access, Access::Read | Access::Write)
    }

    /// The cached file for `fh` opened for `access`, if any.
    pub(crate) fn get(&self, fh: &[u8], access: Access) -> Option<Arc<OpenFile>> {
        let key = Self::key(fh, access)?;
        let f = self.map().get(&key).cloned()?;
        f.last_used.store(self.now_ms(), Ordering::Relaxed);
        Some(f)
    }

    /// Keeps `fd` (a regular file opened for `access` from `fh`) for later
    /// calls; returns it as the request's descriptor.
    pub(crate) fn insert(&self, fh: &[u8], access: Access, fd: OwnedFd) -> TargetFd {
        let Some(key) = Self::key(fh, access).filter(|_| self.capacity > 0) else {
            return TargetFd::Owned(fd);
        };
        let f = Arc::new(OpenFile {
            fd,
            last_used: AtomicU64::new(self.now_ms()),
            grants: Mutex::new(Vec::new()),
        });
        let mut map = self.map();
        let evicted = if map.len() >= self.capacity && !map.contains_key(&key) {
            evict_oldest(&mut map, self.capacity / 8 + 1)
        } else {
            Vec::new()
        };
        let replaced = map.insert(key, Arc::clone(&f));
        drop(map);
        drop((evicted, replaced));
        TargetFd::Cached(f)
    }

    /// Drops the entries of `fh` (both access modes).
    pub(crate) fn evict(&self, fh: &[u8]) {
        let mut map = self.map();
        let removed: Vec<_> = [false, true]
            .into_iter()
            .filter_map(|write| map.remove(&Key::new(fh, write)?))
            .collect();
        // Closed outside the lock.
        drop(map);
        drop(removed);
    }

    /// Drops every entry (an exports reload, or descriptor pressure).
    pub(crate) fn clear(&self) {
        // Closed outside the lock: close can take a while on some files.
        let old = std::mem::take(&mut *self.map());
        drop(old);
    }

    /// Closes the entries unused for `idle`.
    pub(crate) fn close_idle(&self, idle: Duration) {
        let cutoff = self
            .now_ms()
            .saturating_sub(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX));
        let mut closed = Vec::new();
        self.map().retain(|_, f| {
            let keep = f.last_used.load(Ordering::Relaxed) >= cutoff;
            if !keep {
                closed.push(Arc::clone(f));
            }
            keep
        });
        drop(closed);
    }

    /// Entries held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

/// Removes the `n` least recently used entries and returns them (to be
/// closed outside the lock).
fn evict_oldest(map: &mut HashMap<Key, Arc<OpenFile>>, n: usize) -> Vec<Arc<OpenFile>> {
    let mut ages: Vec<u64> = map
        .values()
        .map(|f| f.last_used.load(Ordering::Relaxed))
        .collect();
    let n = n.min(ages.len());
    if n == 0 {
        return Vec::new();
    }
    let (_, cutoff, _) = ages.select_nth_unstable(n - 1);
    let cutoff = *cutoff;
    let mut left = n;
    let mut evicted = Vec::with_capacity(n);
    map.retain(|_, f| {
        if left > 0 && f.last_used.load(Ordering::Relaxed) <= cutoff {
            left -= 1;
            evicted.push(Arc::clone(f));
            false
        } else {
            true
        }
    });
    evicted
}
