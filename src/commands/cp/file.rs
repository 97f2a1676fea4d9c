//! Copying one regular file's bytes between any two sides, and what makes
//! the copy safe: the destination is opened (and truncated) only after the
//! source is open, and an NFS destination is closed with COMMIT before the
//! copy counts as done, so success is only reported for stable data.

use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use nfsl_client::OpenOptions;

use super::node::Node;
use crate::progress::Progress;
use crate::transfer::{
    copy, copy_file_ranges, ChunkReader, LocalReader, LocalWriter, NfsReader, NfsWriter,
    StreamWriter,
};

/// Where a copy's destination file stands when the copy was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing was there: the file is created, and a local one only if
    /// still nothing is there (`O_EXCL | O_NOFOLLOW`, as coreutils does
    /// for a new destination), so the copy never writes through a link
    /// that appeared meanwhile, e.g. one a hostile server's listing made
    /// it create under the same name.
    New,
    /// A file the user already has: truncated and rewritten (through a
    /// symlink, as `cp` does).
    Existing,
}

/// Copies the regular file `src` to `dst` (created with `mode` if new,
/// truncated if it exists); returns the bytes copied.
pub async fn copy_file(
    src: &Node,
    dst: &Node,
    target: Target,
    mode: u32,
    progress: &Progress,
) -> anyhow::Result<u64> {
    match src {
        Node::Local(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?;
            let meta = f
                .metadata()
                .with_context(|| format!("stat {}", p.display()))?;
            // A regular file with a size goes to NFS straight from the
            // page cache; anything else (a pipe, /proc's size-0 files)
            // is read until it ends.
            if let (Node::Nfs(r), true) = (dst, meta.is_file() && meta.len() > 0) {
                let writer = r.nfs.open(&r.path, &nfs_create(mode)).await?;
                let n = copy_file_ranges(Arc::new(f), meta.len(), &writer, progress).await?;
                // COMMIT: only now is the data safe on the server.
                writer.close().await?;
                return Ok(n);
            }
            copy_to(&LocalReader(Arc::new(f)), dst, target, mode, progress).await
        }
        Node::Nfs(r) => {
            let f = r.nfs.open(&r.path, &OpenOptions::new().read(true)).await?;
            copy_to(&NfsReader(f), dst, target, mode, progress).await
        }
    }
}

async fn copy_to<R: ChunkReader>(
    reader: &R,
    dst: &Node,
    target: Target,
    mode: u32,
    progress: &Progress,
) -> anyhow::Result<u64> {
    match dst {
        Node::Local(p) => {
            let existing_special = std::fs::metadata(p)
                .map(|m| {
                    let t = m.file_type();
                    t.is_char_device() || t.is_fifo() || t.is_socket() || t.is_block_device()
                })
                .unwrap_or(false);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).mode(mode);
            if target == Target::New {
                opts.create_new(true).custom_flags(libc::O_NOFOLLOW);
            } else if !existing_special {
                opts.create(true).truncate(true);
            }
            let f = opts
                .open(p)
                .with_context(|| format!("open {} for writing", p.display()))?;
            if existing_special {
                // /dev/null, a FIFO, ...: a stream without offsets.
                let w = StreamWriter(Arc::new(Mutex::new(f)));
                copy(reader, &w, progress).await
            } else {
                copy(reader, &LocalWriter(Arc::new(f)), progress).await
            }
        }
        Node::Nfs(r) => {
            let writer = NfsWriter(r.nfs.open(&r.path, &nfs_create(mode)).await?);
            let n = copy(reader, &writer, progress).await?;
            // COMMIT: only now is the data safe on the server.
            writer.0.close().await?;
            Ok(n)
        }
    }
}

/// How an NFS destination is opened: created with `mode` if new,
/// truncated if it exists.
fn nfs_create(mode: u32) -> OpenOptions {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
}
