//! SETATTR, WRITE, COMMIT: changing a file's attributes and data.
//!
//! Handles are resolved as the server; every change is then made under
//! the caller's credentials so the kernel applies its own rules (who may
//! chown or chmod, which set-id bits a write or chown clears). The one
//! exception is data access, where NFS lets a file's owner write even
//! without write permission (knfsd's owner override): [`Target::may`]
//! decides that, and the descriptor used for the write is opened by the
//! server.
//!
//! [`set_attributes`] is shared with the create procedures, which apply a
//! new object's remaining attributes the same way SETATTR does.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timestamps, Uid, CWD};
use rustix::fs::{UTIME_NOW, UTIME_OMIT};
use rustix::io::{Errno, ReadWriteFlags};
use rustix::time::Timespec;

use super::attrs::wcc_attr;
use super::context::{Caller, Target};
use super::errors::nfsstat_from_errno;
use super::Nfs3;
use crate::handle::Access;

#[cfg(test)]
mod tests;

/// Largest byte offset a file can have (`off_t`'s maximum, knfsd's
/// `OFFSET_MAX`). Larger WRITE offsets or SETATTR sizes are FBIG; they
/// must never reach `pwritev2`, where an offset of `-1` means "the
/// descriptor's current position".
const OFFSET_MAX: u64 = i64::MAX as u64;

/// `(uid_t)-1`: "no change" to `chown`, so never a real owner to set.
const NO_ID: u32 = u32::MAX;

impl Nfs3 {
    pub(super) fn setattr(&self, c: &Caller, a: Setattr3Args) -> Setattr3Res {
        let t = match self.shared.target(c, &a.object, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, WccData::default()),
        };
        let result = t.check_writable().and_then(|()| {
            // The guard protects against a SETATTR replayed after another
            // client changed the file: ctime as the client last saw it.
            if a.guard.is_some_and(|g| g != ctime_of(&t)) {
                return Err(Nfsstat3::NotSync);
            }
            set_attributes(&t, &a.new_attributes)
        });
        // Access decided under the old mode or owner no longer holds.
        self.shared.files.evict(&a.object.0);
        match result {
            Ok(()) => NfsResult::Ok(Setattr3ResOk { obj_wcc: t.wcc() }),
            Err(s) => NfsResult::Err(s, t.wcc()),
        }
    }

    pub(super) fn write(&self, c: &Caller, a: Write3ArgsRef<'_>) -> Write3Res {
        // Opening for writing refuses directories (ISDIR) and anything but
        // regular files (INVAL) before any data is looked at.
        let t = match self.shared.target(c, &a.file, Access::Write) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, WccData::default()),
        };
        match write_data(&t, &a) {
            Ok(count) => NfsResult::Ok(Write3ResOk {
                file_wcc: t.wcc(),
                count,
                // With `async` the data may still be in the page cache,
                // yet the client is told what it asked for: that is what
                // `async` means (and what knfsd does).
                committed: a.stable,
                verf: self.shared.verifier.0,
            }),
            Err(s) => NfsResult::Err(s, t.wcc()),
        }
    }

    /// COMMIT syncs the whole file: RFC 1813 allows flushing more than the
    /// range asked for, and Linux has no fsync of a range that also
    /// covers the metadata needed to read the data back. Only regular
    /// files can hold unstable data: directories are ISDIR (as for WRITE,
    /// and as knfsd answers), other types INVAL. No permission check
    /// beyond export access: a sync changes nothing and reveals nothing.
    pub(super) fn commit(&self, c: &Caller, a: Commit3Args) -> Commit3Res {
        let t = match self.shared.target(c, &a.file, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, WccData::default()),
        };
        match commit_file(&t) {
            Ok(()) => NfsResult::Ok(Commit3ResOk {
                file_wcc: t.wcc(),
                verf: self.shared.verifier.0,
            }),
            Err(s) => NfsResult::Err(s, t.wcc()),
        }
    }
}

/// The file's ctime as the client sees it (what a SETATTR guard holds).
fn ctime_of(t: &Target) -> Nfstime3 {
    wcc_attr(&t.stat).ctime
}

/// Regular files only: directories are ISDIR, other types INVAL.
fn require_regular(t: &Target) -> Result<(), Nfsstat3> {
    match t.file_type() {
        FileType::RegularFile => Ok(()),
        FileType::Directory => Err(Nfsstat3::Isdir),
        _ => Err(Nfsstat3::Inval),
    }
}

/// Writes `a.data[..a.count]` at `a.offset` and makes it as durable as
/// `a.stable` asks (unless the export is `async`). Returns the bytes
/// written, which may be fewer than asked if the file system failed part
/// way: the client resends the rest and then gets the error.
fn write_data(t: &Target, a: &Write3ArgsRef<'_>) -> Result<u32, Nfsstat3> {
    let data = a.data.get(..a.count as usize).ok_or(Nfsstat3::Inval)?;
    let end = a.offset.checked_add(data.len() as u64);
    if a.offset > OFFSET_MAX || end.is_none_or(|e| e > OFFSET_MAX) {
        return Err(Nfsstat3::Fbig);
    }
    t.may(rustix::fs::Access::WRITE_OK)?;
    // RWF_DSYNC / RWF_SYNC sync just the range written, in the same call,
    // rather than every dirty page of the file as fdatasync/fsync would.
    let flags = match a.stable {
        _ if !t.options.sync => ReadWriteFlags::empty(),
        StableHow::Unstable => ReadWriteFlags::empty(),
        StableHow::DataSync => ReadWriteFlags::DSYNC,
        StableHow::FileSync => ReadWriteFlags::SYNC,
    };
    // Under the caller's credentials, so the kernel clears set-id bits as
    // it does when that user writes locally.
    let _guard = t.assume()?;
    if data.is_empty() {
        // Nothing to write, but a stable empty write still promises that
        // earlier data is durable.
        return sync_for(&t.fd, flags).map(|()| 0);
    }
    let mut flags = flags;
    if data.len() >= STREAMING_WRITE {
        flags |= dontcache();
    }
    let mut done = 0usize;
    while done < data.len() {
        let buf = [IoSlice::new(&data[done..])];
        match rustix::io::pwritev2(&t.fd, &buf, a.offset + done as u64, flags) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            // File systems (or kernels before 6.14) without uncached
            // buffered writes: write through the page cache as usual.
            Err(Errno::OPNOTSUPP) if flags.contains(dontcache()) => flags.remove(dontcache()),
            Err(_) if done > 0 => break,
            Err(e) => return Err(nfsstat_from_errno(e)),
        }
    }
    if done == 0 {
        return Err(Nfsstat3::Io);
    }
    // `done <= data.len() <= a.count`, a u32.
    Ok(u32::try_from(done).unwrap_or(a.count))
}

/// WRITEs at least this large are streamed with [`dontcache`]: bulk data
/// (Linux clients and libnfs send wsize-sized WRITEs, up to 1 MiB, when
/// streaming a file), whereas small writes (databases, editors, partial
/// pages) stay cached for the reads and rewrites likely to follow.
const STREAMING_WRITE: usize = 256 << 10;

/// `RWF_DONTCACHE` (Linux 6.14; rustix has no name for it): a buffered
/// write whose writeback starts at once and whose pages leave the cache
/// when it completes. Streaming a large file then neither evicts the rest
/// of the page cache nor piles up dirty pages for COMMIT to flush all at
/// once: writeback overlaps the transfer, and recycled pages are cheaper
/// than fresh ones. On a 1 GiB sequential write this made the kernel side
/// consistently several times faster than plain buffered writes, whose
/// time varied tenfold. Reads still see the data (from disk once
/// dropped); durability is unchanged: UNSTABLE data is only promised by
/// COMMIT. knfsd offers the same mode (`io_cache_write = dontcache`).
fn dontcache() -> ReadWriteFlags {
    ReadWriteFlags::from_bits_retain(libc::RWF_DONTCACHE as u32)
}

/// The sync an empty stable write asks for.
fn sync_for(fd: impl AsFd, flags: ReadWriteFlags) -> Result<(), Nfsstat3> {
    let r = if flags.contains(ReadWriteFlags::SYNC) {
        rustix::fs::fsync(fd)
    } else if flags.contains(ReadWriteFlags::DSYNC) {
        rustix::fs::fdatasync(fd)
    } else {
        Ok(())
    };
    r.map_err(nfsstat_from_errno)
}

/// COMMIT's work: `fsync` unless there can be nothing to flush (`async`
/// exports promise no durability, as knfsd's `nfsd_commit`; read-only
/// exports cannot have been written through).
fn commit_file(t: &Target) -> Result<(), Nfsstat3> {
    require_regular(t)?;
    if !t.options.sync || t.options.read_only {
        return Ok(());
    }
    // fsync needs a real descriptor (not O_PATH); a read-only one does.
    let fd = reopen(t.fd.as_fd(), OFlags::RDONLY)?;
    let _guard = t.assume()?;
    rustix::fs::fsync(&fd).map_err(nfsstat_from_errno)
}

/// `/proc/self/fd/N`: the path through which the kernel reaches exactly
/// the object `fd` refers to (used where an `O_PATH` descriptor cannot be
/// passed, e.g. `chmod`, re-opening, `linkat` without CAP_DAC_READ_SEARCH).
/// Accessible under any fsuid: a thread may always follow its own
/// process's descriptor links.
pub(super) fn proc_fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens the object `fd` refers to anew, as the server (no permission
/// check: callers check first). Only for regular files: re-opening a
/// device or FIFO would open the device.
fn reopen(fd: BorrowedFd<'_>, access: OFlags) -> Result<OwnedFd, Nfsstat3> {
    let flags = access | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    rustix::fs::openat(CWD, proc_fd_path(fd), flags, Mode::empty()).map_err(nfsstat_from_errno)
}

/// Applies `s` to `t`'s file in the order that keeps each change: size,
/// then owner, then mode (a chown clears set-id bits, so a mode asked for
/// in the same call must come after it), then times (truncating changes
/// mtime). Stops at the first failure, like knfsd, leaving earlier
/// changes made.
///
/// - size: regular files only (directories ISDIR, others INVAL); needs
///   write access with the owner override ([`Target::may`]), then
///   truncates through a descriptor the server opens.
/// - uid/gid: skipped when unchanged (so an owner's `chown` to itself, or
///   anyone's no-op, does not fail), and when `-1` (not an id).
/// - mode: ignored on symbolic links, as knfsd does (Linux has no symlink
///   modes).
/// - times: the kernel's rules: setting both to the server's time needs
///   only write access; explicit times need ownership.
pub(super) fn set_attributes(t: &Target, s: &Sattr3) -> Result<(), Nfsstat3> {
    if let Some(size) = s.size {
        truncate(t, size)?;
    }
    let uid = s.uid.filter(|&u| u != NO_ID && u != t.stat.st_uid);
    let gid = s.gid.filter(|&g| g != NO_ID && g != t.stat.st_gid);
    let mode = s.mode.filter(|_| t.file_type() != FileType::Symlink);
    let times = timestamps(s.atime, s.mtime)?;
    if uid.is_none() && gid.is_none() && mode.is_none() && times.is_none() {
        return Ok(());
    }
    let _guard = t.assume()?;
    if uid.is_some() || gid.is_some() {
        let (uid, gid) = (uid.map(Uid::from_raw), gid.map(Gid::from_raw));
        rustix::fs::chownat(&t.fd, "", uid, gid, AtFlags::EMPTY_PATH)
            .map_err(nfsstat_from_errno)?;
    }
    if let Some(mode) = mode {
        // fchmod refuses O_PATH descriptors; chmod follows the magic link
        // to the object itself.
        let mode = Mode::from_raw_mode(mode & 0o7777);
        rustix::fs::chmodat(CWD, proc_fd_path(t.fd.as_fd()), mode, AtFlags::empty())
            .map_err(nfsstat_from_errno)?;
    }
    if let Some(times) = times {
        // On the descriptor itself: a symlink's own times, never its target's.
        rustix::fs::utimensat(&t.fd, "", &times, AtFlags::EMPTY_PATH)
            .map_err(nfsstat_from_errno)?;
    }
    Ok(())
}

/// SETATTR's size change.
fn truncate(t: &Target, size: u64) -> Result<(), Nfsstat3> {
    require_regular(t)?;
    if size > OFFSET_MAX {
        return Err(Nfsstat3::Fbig);
    }
    t.may(rustix::fs::Access::WRITE_OK)?;
    let fd = reopen(t.fd.as_fd(), OFlags::WRONLY)?;
    // The caller's credentials, so the kernel clears set-id bits as it
    // would for that user.
    let _guard = t.assume()?;
    rustix::fs::ftruncate(&fd, size).map_err(nfsstat_from_errno)
}

/// The `utimensat` argument for SETATTR's times, `None` if neither
/// changes. Client nanoseconds must be below one second: larger values
/// include the kernel's UTIME_NOW/UTIME_OMIT markers, which a client must
/// not be able to smuggle in.
fn timestamps(atime: SetTime, mtime: SetTime) -> Result<Option<Timestamps>, Nfsstat3> {
    if atime == SetTime::DontChange && mtime == SetTime::DontChange {
        return Ok(None);
    }
    let spec = |t: SetTime| match t {
        SetTime::DontChange => Ok(Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        }),
        SetTime::ServerTime => Ok(Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        }),
        SetTime::ClientTime(t) if t.nseconds < 1_000_000_000 => Ok(Timespec {
            tv_sec: t.seconds.into(),
            tv_nsec: t.nseconds.into(),
        }),
        SetTime::ClientTime(_) => Err(Nfsstat3::Inval),
    };
    Ok(Some(Timestamps {
        last_access: spec(atime)?,
        last_modification: spec(mtime)?,
    }))
}
