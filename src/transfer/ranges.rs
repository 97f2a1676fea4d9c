//! Local file -> NFS without reading the file in this process: the
//! client library sends [`CHUNK`]-sized ranges of it with `sendfile(2)`
//! (page cache -> socket) and its journal keeps the ranges, not copies of
//! the data, until COMMIT. Measured on `nfsl cp` of a cached 1 GiB file
//! over loopback: the client's CPU per GiB drops by about half (no
//! `pread` copy, no copy into socket buffers from user memory).

use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use nfsl_client::FileRange;

use super::CHUNK;
use crate::progress::Progress;

/// Chunks being written at once: 16 MiB, sixteen 1 MiB WRITEs. Measured
/// against `nfsl serve` on loopback (1 GiB, interleaved runs), two chunks
/// in flight took ~1.25x as long as four; six or eight were no faster.
const RANGES_IN_FLIGHT: usize = 4;

/// Copies the first `len` bytes of `src` (its size when the copy starts)
/// to `dst` at the same offsets, [`RANGES_IN_FLIGHT`] chunks at once; returns
/// the bytes copied. `src` must not change until `dst` is synced (a
/// re-send after a server restart reads it again); if it shrinks, the
/// copy fails. Does not sync `dst`: the caller closes it (COMMIT).
pub async fn copy_file_ranges(
    src: Arc<std::fs::File>,
    len: u64,
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
            ops.push(async move { dst.write_from_file(range, at).await });
            next += n as u64;
        }
        let Some(done) = ops.next().await else {
            return Ok(copied);
        };
        let n = done? as u64;
        copied += n;
        progress.add(n);
    }
}
