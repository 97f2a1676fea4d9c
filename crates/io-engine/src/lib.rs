//! nfsl's local IO engine: reads, writes and syncs on file descriptors it is
//! given, done by worker threads that each own an io_uring.
//!
//! # What it is for
//! When nfsl's client and server share a host (LOCALIO), the client does
//! READ, WRITE and COMMIT on the exported file itself; later the FUSE mount
//! will do the same. Both need the same thing: do IO on an open file, fast,
//! without doing it inline in the caller's context. This crate is that IO
//! path, and knows nothing about NFS.
//!
//! # How it works (the loop-device model)
//! Linux's LOCALIO developers learned that nested IO must not run inline in
//! the caller (a page-cache writeback or a memory-reclaim path can end up
//! waiting on itself). So, like the loop device:
//! - callers only **queue** a small typed request ([`Read`], [`Write`],
//!   [`Fsync`]) on a **bounded** queue ([`IoEngine::submit`] waits for
//!   space: backpressure, not unbounded memory) and get a [`Pending`]
//!   future of its result;
//! - [`EngineConfig::workers`] threads drain the queue; each first asks to
//!   be an IO flusher (`PR_SET_IO_FLUSHER`, best effort, see
//!   [`IoEngine::io_flusher`]), then owns its own io_uring, submits many
//!   requests without waiting for each, and answers them as completions
//!   arrive. A worker takes one request at a time and submits it at once,
//!   so another worker can take the next: cached reads (done inside the
//!   submission) of one caller's requests run in parallel. Unstable
//!   buffered writes, a copy into the page cache, are written by the worker
//!   itself (`pwrite`; from 256 KiB up with `RWF_DONTCACHE`, so a large
//!   copy's writeback runs during the copy, not all at its `fsync`), as
//!   the loop device does buffered IO: on file systems
//!   without non-blocking buffered writes (ext4) io_uring would hand each
//!   to an io-wq thread, a second hop that halved 1 MiB write throughput.
//!   One worker at a time writes a given file that way (the others leave
//!   their jobs for it to take): the inode lock would serialize them
//!   anyway, with the other worker spinning on it.
//!
//! Two exceptions, which keep the rule: [`IoEngine::read_into`] first
//! tries a buffered read in the caller with `preadv2(RWF_NOWAIT)`, which
//! the kernel answers only from the page cache and never blocks (no device
//! read, page lock or reclaim-driven writeback); and [`IoEngine::write`]
//! first tries a small unstable buffered write with `pwritev2(RWF_NOWAIT)`,
//! which on file systems with non-blocking buffered writes (XFS, btrfs)
//! returns `EAGAIN` instead of throttling on dirty pages
//! (`balance_dirty_pages`), waiting on a page or inode lock, or reclaiming
//! memory (the kernel sources are cited in `nowait.rs`). Only what would
//! block is queued; io_uring does the same (`IOCB_NOWAIT` first, a worker
//! only on `EAGAIN`). A write is not tried while an earlier write of its
//! file is queued (it would overtake it), and ext4 and tmpfs refuse such
//! writes (`EOPNOTSUPP`, checked on Linux 6.18): the refusal is remembered
//! per [`IoFile`], so there every write goes to a worker, as before. One
//! thing `RWF_NOWAIT` does not cover: a write to a frozen file system
//! (`fsfreeze`) waits in the caller until the thaw (measured on XFS).
//!
//! Direct IO is used by [`DirectPolicy`] when the [`IoFile`] has an
//! `O_DIRECT` fd. **Misaligned IO never fails the caller**: a request is cut
//! into a buffered head, an aligned direct middle and a buffered tail
//! ([`split::Split`], the approach of Linux's LOCALIO), with the read buffer
//! placed so the middle is memory-aligned (a buffered read's data at a cache
//! line: [`buffer`]) and misaligned write data copied
//! into an aligned bounce buffer; an EINVAL from a direct IO is redone
//! buffered. A write's direct middle is cut at page boundaries (not just at
//! the file's 512-byte `offset_align`) so that no page is written buffered
//! and direct at the same time: the kernel would fail to invalidate it and
//! report EIO on the next fsync. Reads stop at end of file, short IO is continued, stable writes
//! use `RWF_DSYNC`, [`Fsync`] (COMMIT) runs on a worker. [`IoEngine::stats`]
//! counts it all.
//!
//! # What it does not do
//! - No NFS: it does not open files, check permissions or map errors to NFS
//!   status codes (see [`IoError::raw_os_error`]); it is given open fds.
//! - No caching, read-ahead or write ordering: two overlapping writes in
//!   flight at once land in an unspecified order, and an [`Fsync`] covers
//!   only writes that completed before it was submitted (as with `fsync(2)`
//!   from several threads).
//! - No cancellation: dropping a [`Pending`] drops the result, not the IO.
//!
//! # Why hand-written on `io-uring`
//! tokio-uring and glommio own the thread's runtime (they replace tokio for
//! the caller), and a thread pool of blocking `pread`s needs one thread per
//! IO in flight. Here a couple of plain threads keep dozens of IOs in flight
//! each, callers stay on ordinary tokio, and the engine controls what the
//! LOCALIO design needs: IO flusher workers, the direct/buffered split, and
//! buffer ownership (every buffer the kernel touches is owned by the worker's
//! in-flight table until its completion arrives, also when shutting down).
//!
//! ```no_run
//! # async fn demo() -> Result<(), nfsl_io_engine::IoError> {
//! use std::sync::Arc;
//! use nfsl_io_engine::{EngineConfig, IoEngine, IoFile, Write};
//! let engine = IoEngine::start(EngineConfig::default())?;
//! let file = Arc::new(IoFile::open("/var/tmp/data", true)?);
//! let n = engine.submit(Write::new(file.clone(), 4096, vec![7u8; 8192]).stable(true)).await.await?;
//! let data = engine.read(&file, 4096, n).await?;
//! assert_eq!(&data[..], &[7u8; 8192][..]);
//! # Ok(()) }
//! ```

pub mod buffer;
mod config;
mod engine;
mod error;
mod file;
mod inflight;
mod nowait;
mod queue;
mod request;
pub mod split;
mod stats;
mod strand;
mod syncio;
mod worker;

pub use config::{DirectPolicy, EngineConfig};
pub use engine::{IoEngine, IoFlusherStatus};
pub use error::{IoError, OpKind};
pub use file::IoFile;
/// Re-exported from `nfsl-localio`, which sends it in an open reply.
pub use nfsl_localio::DioAlignment;
pub use request::{Fsync, Pending, Read, Request, Write};
pub use stats::EngineStats;
