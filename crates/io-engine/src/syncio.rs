//! The IO a worker does itself rather than through its ring: buffered
//! unstable writes (see [`sync_write`]).

use std::os::fd::BorrowedFd;

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

/// The most one read(2)/write(2) moves (Linux's MAX_RW_COUNT).
const MAX_IO_BYTES: usize = 0x7fff_f000;
