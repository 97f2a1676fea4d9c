//! Typed errors of the IO engine.

use std::fmt;
use std::path::PathBuf;

/// Which kind of request an [`IoError::Io`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A [`Read`](crate::Read) request.
    Read,
    /// A [`Write`](crate::Write) request.
    Write,
    /// An [`Fsync`](crate::Fsync) request.
    Fsync,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Fsync => "fsync",
        })
    }
}

/// Everything that can go wrong when starting the engine or running a request.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The kernel failed the IO (after the engine's own retries: EINTR/EAGAIN
    /// are resubmitted, an EINVAL from a direct IO is retried buffered).
    #[error("{op} of {len} bytes at offset {offset} failed: {source}")]
    Io {
        /// The request kind.
        op: OpKind,
        /// The request's file offset.
        offset: u64,
        /// The request's length in bytes (0 for fsync).
        len: usize,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
    },
    /// A write on an [`IoFile`](crate::IoFile) whose fds are read-only.
    #[error("the file is open read-only: writes are refused")]
    ReadOnly,
    /// A request larger than [`EngineConfig::max_request_bytes`](crate::EngineConfig).
    #[error("request of {len} bytes exceeds the engine's limit of {max} bytes")]
    TooLarge {
        /// The requested length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// `offset + len` does not fit in a file offset (`i64::MAX`).
    #[error("range at offset {offset} of {len} bytes goes past the largest file offset")]
    OutOfRange {
        /// The requested offset.
        offset: u64,
        /// The requested length.
        len: usize,
    },
    /// The engine was dropped while the request was still queued: it was never started.
    #[error("the IO engine shut down before the request started")]
    ShutDown,
    /// The worker that owned the request went away without answering
    /// (only if a worker thread died; the request's outcome is unknown).
    #[error("the IO engine lost the request: its worker thread exited")]
    WorkerLost,
    /// [`EngineConfig`](crate::EngineConfig) has an unusable value.
    #[error("invalid IO engine configuration: {0}")]
    Config(&'static str),
    /// A worker could not be started (thread spawn, io_uring or eventfd setup).
    #[error("cannot start the IO engine: {0}")]
    Start(#[source] std::io::Error),
    /// The fd given as the direct one is not open with `O_DIRECT`.
    #[error("the direct fd is not open with O_DIRECT")]
    NotDirect,
    /// The buffered and direct fds refer to different files.
    #[error("the buffered and direct fds refer to different files")]
    FdMismatch,
    /// The buffered fd is open for writing but the direct fd is read-only.
    #[error("the buffered fd is writable but the direct fd is read-only")]
    DirectReadOnly,
    /// Inspecting an fd (`fcntl`, `statx`) failed.
    #[error("cannot inspect the file descriptor: {0}")]
    Inspect(#[source] std::io::Error),
    /// [`IoFile::open`](crate::IoFile::open) failed.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
    },
}

impl IoError {
    /// The errno that best describes this error, for callers that must answer
    /// with a POSIX or NFS status (e.g. `ReadOnly` is `EBADF`, as the kernel
    /// would say for a write on a read-only fd).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            IoError::Io { source, .. }
            | IoError::Start(source)
            | IoError::Inspect(source)
            | IoError::Open { source, .. } => source.raw_os_error(),
            IoError::ReadOnly => Some(libc::EBADF),
            IoError::TooLarge { .. } | IoError::OutOfRange { .. } => Some(libc::EFBIG),
            IoError::Config(_)
            | IoError::NotDirect
            | IoError::FdMismatch
            | IoError::DirectReadOnly => Some(libc::EINVAL),
            IoError::ShutDown | IoError::WorkerLost => Some(libc::EIO),
        }
    }
}
