//! Requests (small typed values, io-uring crate style: required fields in
//! `new`, optional ones as builder methods) and the future of their result.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use crate::file::QueuedWrite;
use crate::{DirectPolicy, IoError, IoFile};

/// Read `len` bytes at `offset`. Completes with the bytes read: fewer than
/// `len` only when the read reaches end of file.
#[derive(Debug, Clone)]
pub struct Read {
    file: Arc<IoFile>,
    offset: u64,
    len: usize,
    direct: Option<DirectPolicy>,
    buf: Option<BytesMut>,
}

impl Read {
    /// A read of `len` bytes at `offset` of `file`.
    pub fn new(file: Arc<IoFile>, offset: u64, len: usize) -> Read {
        Read {
            file,
            offset,
            len,
            direct: None,
            buf: None,
        }
    }

    /// Reads into `buf` (emptied first, grown if needed) instead of a new
    /// allocation: callers that recycle buffers avoid an allocation and the
    /// page faults of fresh memory on every read.
    pub fn buffer(mut self, buf: BytesMut) -> Read {
        self.buf = Some(buf);
        self
    }

    /// Overrides the engine's [`DirectPolicy`] for this request.
    pub fn direct(mut self, policy: DirectPolicy) -> Read {
        self.direct = Some(policy);
        self
    }
}

/// Write `data` at `offset`. Completes with the number of bytes written
/// (always all of them: short writes are continued).
#[derive(Debug, Clone)]
pub struct Write {
    file: Arc<IoFile>,
    offset: u64,
    data: Bytes,
    stable: bool,
    direct: Option<DirectPolicy>,
}

impl Write {
    /// A write of `data` at `offset` of `file` (not stable: see [`Write::stable`]).
    pub fn new(file: Arc<IoFile>, offset: u64, data: impl Into<Bytes>) -> Write {
        Write {
            file,
            offset,
            data: data.into(),
            stable: false,
            direct: None,
        }
    }

    /// Makes the data durable before completing (`RWF_DSYNC` on every part,
    /// buffered and direct), as an NFS `DATA_SYNC`/`FILE_SYNC` write needs.
    pub fn stable(mut self, stable: bool) -> Write {
        self.stable = stable;
        self
    }

    /// Overrides the engine's [`DirectPolicy`] for this request.
    pub fn direct(mut self, policy: DirectPolicy) -> Write {
        self.direct = Some(policy);
        self
    }
}

/// Flush the file to stable storage (`fsync`, or `fdatasync` with
/// [`Fsync::data_only`]): what an NFS COMMIT does.
#[derive(Debug, Clone)]
pub struct Fsync {
    file: Arc<IoFile>,
    data_only: bool,
}

impl Fsync {
    /// A full `fsync` of `file`.
    pub fn new(file: Arc<IoFile>) -> Fsync {
        Fsync {
            file,
            data_only: false,
        }
    }

    /// `fdatasync` instead of `fsync` (skips metadata not needed to read the data back).
    pub fn data_only(mut self, data_only: bool) -> Fsync {
        self.data_only = data_only;
        self
    }
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, IoError>>;

/// What a queued request asks for, with where its answer goes.
#[derive(Debug)]
pub(crate) enum JobOp {
    Read {
        offset: u64,
        len: usize,
        policy: Option<DirectPolicy>,
        buf: Option<BytesMut>,
        reply: Reply<BytesMut>,
    },
    Write {
        offset: u64,
        data: Bytes,
        stable: bool,
        policy: Option<DirectPolicy>,
        /// Counts the write as queued on its file until it is answered.
        queued: QueuedWrite,
        reply: Reply<usize>,
    },
    Fsync {
        data_only: bool,
        reply: Reply<()>,
    },
}

/// A request on its way to a worker (opaque outside the crate).
#[derive(Debug)]
pub struct Job {
    pub(crate) file: Arc<IoFile>,
    pub(crate) op: JobOp,
}

impl Job {
    /// True for a write a worker does with `pwrite` as a whole: unstable,
    /// and buffered by policy (`default` unless the request says) or
    /// because the file has no direct fd.
    pub(crate) fn is_buffered_write(&self, default: DirectPolicy) -> bool {
        match &self.op {
            JobOp::Write { stable, policy, .. } => {
                !*stable
                    && (policy.unwrap_or(default) == DirectPolicy::Never
                        || !self.file.direct_capable())
            }
            _ => false,
        }
    }
}

impl Job {
    /// Answers the request with `err` without doing it.
    pub(crate) fn fail(self, err: IoError) {
        // A dropped receiver means nobody waits for the answer: nothing to do.
        match self.op {
            JobOp::Read { reply, .. } => drop(reply.send(Err(err))),
            JobOp::Write { reply, queued, .. } => {
                drop(queued);
                drop(reply.send(Err(err)))
            }
            JobOp::Fsync { reply, .. } => drop(reply.send(Err(err))),
        }
    }

    /// Checks what can be checked before queuing.
    pub(crate) fn check(&self, max_bytes: usize) -> Result<(), IoError> {
        let (offset, len) = match &self.op {
            JobOp::Read { offset, len, .. } => (*offset, *len),
            JobOp::Write { offset, data, .. } => {
                if !self.file.is_writable() {
                    return Err(IoError::ReadOnly);
                }
                (*offset, data.len())
            }
            JobOp::Fsync { .. } => return Ok(()),
        };
        if len > max_bytes {
            return Err(IoError::TooLarge {
                len,
                max: max_bytes,
            });
        }
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > i64::MAX as u64)
        {
            return Err(IoError::OutOfRange { offset, len });
        }
        Ok(())
    }

    /// True if the request needs no IO (empty read or write): answered at once.
    pub(crate) fn answer_if_empty(self) -> Option<Job> {
        match self.op {
            JobOp::Read { len: 0, reply, .. } => drop(reply.send(Ok(BytesMut::new()))),
            JobOp::Write {
                data,
                reply,
                queued,
                ..
            } if data.is_empty() => {
                drop(queued);
                drop(reply.send(Ok(0)))
            }
            op => {
                return Some(Job {
                    file: self.file,
                    op,
                })
            }
        }
        None
    }
}

mod private {
    pub trait Sealed {}
}

/// A request the engine accepts: [`Read`], [`Write`] or [`Fsync`].
pub trait Request: private::Sealed + Send + 'static {
    /// What the request completes with.
    type Output: Send + 'static;

    /// Turns the request into a queued job and the receiver of its answer.
    #[doc(hidden)]
    fn into_job(self) -> (Job, Pending<Self::Output>);
}

impl private::Sealed for Read {}
impl private::Sealed for Write {}
impl private::Sealed for Fsync {}

impl Request for Read {
    type Output = BytesMut;
    fn into_job(self) -> (Job, Pending<BytesMut>) {
        let (reply, rx) = oneshot::channel();
        let op = JobOp::Read {
            offset: self.offset,
            len: self.len,
            policy: self.direct,
            buf: self.buf,
            reply,
        };
        (
            Job {
                file: self.file,
                op,
            },
            Pending { rx },
        )
    }
}

impl Request for Write {
    type Output = usize;
    fn into_job(self) -> (Job, Pending<usize>) {
        let (reply, rx) = oneshot::channel();
        let op = JobOp::Write {
            offset: self.offset,
            data: self.data,
            stable: self.stable,
            policy: self.direct,
            queued: QueuedWrite::new(&self.file),
            reply,
        };
        (
            Job {
                file: self.file,
                op,
            },
            Pending { rx },
        )
    }
}

impl Request for Fsync {
    type Output = ();
    fn into_job(self) -> (Job, Pending<()>) {
        let (reply, rx) = oneshot::channel();
        let op = JobOp::Fsync {
            data_only: self.data_only,
            reply,
        };
        (
            Job {
                file: self.file,
                op,
            },
            Pending { rx },
        )
    }
}

/// The result of a submitted request, to `.await` (or [`Pending::wait`] for
/// non-async callers).
///
/// Dropping it does not cancel the IO: the request still runs (its buffers
/// stay with the engine until the kernel is done) and its result is dropped.
#[derive(Debug)]
#[must_use = "the request runs anyway; await it to learn its result"]
pub struct Pending<T> {
    rx: oneshot::Receiver<Result<T, IoError>>,
}

impl<T> Pending<T> {
    /// True once the result has arrived: awaiting it will not wait.
    pub fn is_ready(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Blocks the calling thread until the request completes. Do not call
    /// it from async code (it panics inside a tokio runtime): `.await` instead.
    pub fn wait(self) -> Result<T, IoError> {
        self.rx.blocking_recv().unwrap_or(Err(IoError::WorkerLost))
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T, IoError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(IoError::WorkerLost)))
    }
}
