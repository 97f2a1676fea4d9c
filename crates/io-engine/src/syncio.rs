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
///
/// A write of at least [`STREAMING_WRITE`] bytes that extends the file
/// (a copy, a log: pages nobody has cached yet) is made with
/// `RWF_DONTCACHE` (Linux 6.14), as the server does for large WRITEs: its
/// writeback starts at once and its pages leave the cache once written, so
/// a large copy's data is on its way to the disk while the copy runs,
/// instead of piling up dirty for COMMIT (`fsync`) to flush all at once
/// (measured before: a 1 GiB LOCALIO copy was slower to be durable than
/// the same copy over RPC). It is still a buffered write: it does not wait
/// for the device. A file system without it (`EOPNOTSUPP`) gets a plain
/// `pwrite`. A large write inside the file stays a plain buffered write:
/// it most likely rewrites cached pages, which `RWF_DONTCACHE` would write
/// back and drop (rewriting a cached 256 MiB file in 1 MiB pieces ran at
/// 0.52x of `pwrite` with it, 0.78x without; `docs/BENCHMARKS.md`). The
/// `fstat` that tells costs well under a microsecond, next to the tens a
/// 256 KiB copy takes. The second value says whether `RWF_DONTCACHE` was
/// used.
pub(crate) fn sync_write(fd: BorrowedFd<'_>, data: &[u8], offset: u64) -> (i32, bool) {
    let chunk = &data[..data.len().min(MAX_IO_BYTES)];
    if chunk.len() >= STREAMING_WRITE && extends(fd, offset, chunk.len()) {
        let iov = [std::io::IoSlice::new(chunk)];
        match rustix::io::pwritev2(fd, &iov, offset, dontcache()) {
            Ok(n) => return (n as i32, true),
            Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(e) => return (-e.raw_os_error(), true),
        }
    }
    match rustix::io::pwrite(fd, chunk, offset) {
        Ok(n) => (n as i32, false),
        Err(e) => (-e.raw_os_error(), false),
    }
}

/// Whether `len` bytes at `offset` reach past the file's end (`false`
/// if `fstat` fails: the write is then a plain one).
fn extends(fd: BorrowedFd<'_>, offset: u64, len: usize) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|st| (st.st_size as u64) < offset.saturating_add(len as u64))
}

/// Buffered writes at least this large are streamed with `RWF_DONTCACHE`:
/// bulk data (a copy writes 1 MiB pieces), while small writes stay cached
/// for the reads and rewrites likely to follow (the server's threshold).
pub(crate) const STREAMING_WRITE: usize = 256 << 10;

/// `RWF_DONTCACHE` (rustix has no name for it).
fn dontcache() -> rustix::io::ReadWriteFlags {
    rustix::io::ReadWriteFlags::from_bits_retain(libc::RWF_DONTCACHE as u32)
}

/// The most one read(2)/write(2) moves (Linux's MAX_RW_COUNT).
const MAX_IO_BYTES: usize = 0x7fff_f000;
