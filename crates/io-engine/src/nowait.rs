//! Reads the page cache can answer at once, done in the caller.
//!
//! Why: a cached 4 KiB read costs about a microsecond in `pread`, while a
//! trip to a worker and back costs tens (two thread wake-ups). io_uring
//! itself first tries every IO inline with `IOCB_NOWAIT` and hands it to a
//! worker only when it would block; this does the same with
//! `preadv2(RWF_NOWAIT)`, which returns `EAGAIN` (or a short count) instead
//! of waiting for a page to be read from the device, for a page lock, or
//! for memory reclaim to write anything back. So the loop-device rule the
//! engine exists for still holds: the caller never waits on nested IO; a
//! read that would block goes to the workers' queue as before.

use std::os::fd::BorrowedFd;

use rustix::io::{preadv2, Errno, ReadWriteFlags};

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
