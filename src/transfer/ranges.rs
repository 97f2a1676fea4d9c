//! Local file -> NFS without reading the file in this process: the
//! client library sends [`CHUNK`]-sized ranges of it with `sendfile(2)`
//! (page cache -> socket) and its journal keeps the ranges, not copies of
//! the data, until COMMIT. Measured on `nfsl cp` of a cached 1 GiB file
//! over loopback: the client's CPU per GiB drops from ~0.44 s to ~0.17 s
//! (no `pread` copy, no copy into socket buffers from user memory).
//!
//! A file with less data than its size says (a sysfs attribute reports
//! 4096 bytes and holds a few; a file that shrank meanwhile) is copied
//! up to its real end, as a copy that reads it would: the range that
//! found the end is read and written from memory instead (as is any range
//! `sendfile` refuses).

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use nfsl_client::{ErrorKind, FileRange};

use super::CHUNK;
use crate::progress::Progress;

/// Chunks being written at once: 16 MiB, sixteen 1 MiB WRITEs. Measured
/// against `nfsl serve` on loopback (1 GiB, interleaved runs), two chunks
/// in flight took ~1.25x as long as four; six or eight were no faster.
const RANGES_IN_FLIGHT: usize = 4;

/// Copies `src` (`len` bytes: its size when the copy starts) to `dst` at
/// the same offsets, [`RANGES_IN_FLIGHT`] chunks at once; returns the
/// bytes copied. `src` must not change until `dst` is synced (a re-send
/// after a server restart reads it again). Does not sync `dst`: the
/// caller closes it (COMMIT).
pub async fn copy_file_ranges(
    src: Arc<std::fs::File>,
    mut len: u64,
    dst: &nfsl_client::File,
    progress: &Progress,
) -> anyhow::Result<u64> {
    // Best effort: a larger readahead window for the kernel's reads.
    let _ = rustix::fs::fadvise(&*src, 0, None, rustix::fs::Advice::Sequential);
    let mut ops = FuturesUnordered::new();
    let (mut next, mut copied) = (0u64, 0u64);
    loop {
        while ops.len() < RANGES_IN_FLIGHT && next < len {
            let n = (len - next).min(CHUNK as u64) as usize;
            let range = FileRange::new(Arc::clone(&src), next, n)?;
            let at = next;
            ops.push(async move { (at, n, dst.write_from_file(range, at).await) });
            next += n as u64;
        }
        let Some((at, n, done)) = ops.next().await else {
            return Ok(copied);
        };
        let n = match done {
            Ok(_) => n as u64,
            // The file ended inside this chunk (or before it), or cannot
            // be sent with sendfile: read and write it from memory.
            Err(e) if e.kind() == ErrorKind::Source && at < len => {
                let data = read_up_to(&src, at, n).await?;
                let got = data.len();
                if got > 0 {
                    dst.write_at_bytes(data, at).await?;
                }
                if got < n {
                    len = at + got as u64;
                }
                got as u64
            }
            // A chunk past the end found above: nothing to copy there.
            Err(e) if e.kind() == ErrorKind::Source => 0,
            Err(e) => return Err(e.into()),
        };
        copied += n;
        progress.add(n);
    }
}

/// Up to `len` bytes of `file` at `offset` (fewer at its end), read on the
/// blocking pool.
async fn read_up_to(file: &Arc<std::fs::File>, offset: u64, len: usize) -> anyhow::Result<Bytes> {
    let file = Arc::clone(file);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(Bytes::from(buf))
    })
    .await
    .context("read task")?
    .context("read")
}
