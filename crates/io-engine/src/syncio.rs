//! The IO a worker does itself rather than through its ring: buffered
//! unstable writes (see [`sync_write`]) and the writeback hint after them.

use std::os::fd::{AsRawFd, BorrowedFd};

/// Writes `data` at `offset` through the buffered fd, here on the worker:
/// the result as a CQE would carry it (bytes written, or -errno).
///
/// Why not through the ring: file systems without non-blocking buffered
/// writes (ext4 among them) make io_uring hand every buffered write to one
/// of its io-wq threads, a second thread hop that halves 1 MiB write
/// throughput. An unstable buffered write is a copy into the page cache,
/// as in the loop device, whose worker does buffered IO synchronously; the
/// caller still only queued it. Stable (`RWF_DSYNC`) and direct writes,
/// which wait for the device, stay on the ring so the worker keeps many of
/// them in flight.
pub(crate) fn sync_write(fd: BorrowedFd<'_>, data: &[u8], offset: u64) -> i32 {
    let chunk = &data[..data.len().min(MAX_IO_BYTES)];
    match rustix::io::pwrite(fd, chunk, offset) {
        Ok(n) => n as i32,
        Err(e) => -e.raw_os_error(),
    }
}

/// Starts the writeback of `len` bytes at `offset` without waiting for it
/// (see [`crate::EngineConfig::writeback_after`]). Only a hint: an error shows
/// again at the next fsync, which is what reports write-back errors.
pub(crate) fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: usize) {
    // SAFETY: sync_file_range reads no memory of ours; the fd is valid
    // for the call (borrowed from the in-flight entry).
    unsafe {
        libc::sync_file_range(
            fd.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

/// The most one read(2)/write(2) moves (Linux's MAX_RW_COUNT).
const MAX_IO_BYTES: usize = 0x7fff_f000;
