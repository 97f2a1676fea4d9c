//! IO that cannot block, done in the caller: reads the page cache holds,
//! and buffered writes on file systems with non-blocking buffered writes.
//!
//! Why: a cached 4 KiB read costs about a microsecond in `pread`, a 4 KiB
//! buffered overwrite a few, while a trip to a worker and back costs tens
//! (two thread wake-ups). io_uring itself first tries every IO inline with
//! `IOCB_NOWAIT` and hands it to a worker only when it would block; this
//! does the same with `preadv2`/`pwritev2` and `RWF_NOWAIT`. So the
//! loop-device rule the engine exists for still holds: the caller never
//! waits on nested IO; an IO that would block goes to the workers' queue.
//!
//! # What `RWF_NOWAIT` promises (Linux 6.18 sources)
//! Reads: `EAGAIN` (or a short count) instead of waiting for a page to be
//! read from the device, for a page lock, or for memory reclaim.
//!
//! Buffered writes, on file systems that declare them (`FOP_BUFFER_WASYNC`:
//! XFS, btrfs; `generic_write_checks_count` in fs/read_write.c refuses the
//! others with `EINVAL`, and ext4's `ext4_buffered_write_iter` in
//! fs/ext4/file.c returns `EOPNOTSUPP` before taking any lock; tmpfs has no
//! `FMODE_NOWAIT`, so `kiocb_set_rw_flags` answers `EOPNOTSUPP`):
//! - dirty-page throttling: iomap's `iomap_write_iter` (fs/iomap/
//!   buffered-io.c, XFS) and `btrfs_buffered_write` (fs/btrfs/file.c) call
//!   `balance_dirty_pages_ratelimited_flags` with `BDP_ASYNC`, and
//!   `balance_dirty_pages` (mm/page-writeback.c) returns `-EAGAIN` where it
//!   would sleep (`io_schedule_timeout`) for writeback to catch up;
//! - page locks and reclaim: the page-cache lookup gets `FGP_NOWAIT`, so
//!   `__filemap_get_folio` (mm/filemap.c) only try-locks the folio and
//!   allocates a new one with `GFP_NOWAIT` (no direct reclaim, which could
//!   write dirty pages back), answering `-EAGAIN` instead (btrfs masks
//!   `__GFP_DIRECT_RECLAIM` itself in `get_prepare_gfp_flags`);
//! - the inode lock: `xfs_ilock_iocb` and btrfs's `BTRFS_ILOCK_TRY` only
//!   try-lock it;
//! - metadata: `file_modified_flags` (fs/inode.c) returns `-EAGAIN` when
//!   the write would have to update mtime/ctime (a transaction): about the
//!   first write of each clock tick to a file, which then goes to a worker;
//!   XFS's write checks also refuse a write that must zero past EOF.
//!
//! A short count means the rest would block: it goes to the workers.

use std::os::fd::BorrowedFd;

use rustix::io::{preadv2, pwritev2, Errno, ReadWriteFlags};

/// Reads into `buf` at `offset` only if no part of it would block: the
/// number of bytes read (from the page cache), which may be fewer than
/// `buf.len()` (a page not cached, or end of file), or `None` when the
/// kernel refused outright (`EAGAIN`, or a file system without
/// non-blocking reads: `EOPNOTSUPP`) or failed (the queued read then gets
/// and reports the error itself).
pub(crate) fn read_cached(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Option<usize> {
    let mut iov = [std::io::IoSliceMut::new(buf)];
    loop {
        match preadv2(fd, &mut iov, offset, ReadWriteFlags::NOWAIT) {
            Ok(n) => return Some(n),
            Err(Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
}

/// What a buffered write tried with `RWF_NOWAIT` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NowaitWrite {
    /// This many bytes went into the page cache (maybe fewer than asked,
    /// never 0).
    Wrote(usize),
    /// Nothing written: it would have blocked this time (`EAGAIN`), or
    /// failed (the queued write then gets and reports the error itself).
    WouldBlock,
    /// The file system never does non-blocking buffered writes
    /// (`EOPNOTSUPP`, or `EINVAL` from `generic_write_checks_count`).
    Unsupported,
}

/// Writes `data` at `offset` through the buffered fd only as far as that
/// cannot block (see the module documentation).
pub(crate) fn write_cached(fd: BorrowedFd<'_>, data: &[u8], offset: u64) -> NowaitWrite {
    let iov = [std::io::IoSlice::new(data)];
    loop {
        match pwritev2(fd, &iov, offset, ReadWriteFlags::NOWAIT) {
            Ok(0) => return NowaitWrite::WouldBlock,
            Ok(n) => return NowaitWrite::Wrote(n),
            Err(Errno::INTR) => continue,
            Err(Errno::OPNOTSUPP | Errno::INVAL) => return NowaitWrite::Unsupported,
            Err(_) => return NowaitWrite::WouldBlock,
        }
    }
}
