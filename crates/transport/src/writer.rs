//! A connection's reply path. The thread that finishes a call writes its
//! reply to the socket itself (a non-blocking write) when nothing is queued
//! ahead of it, so a reply costs no hand-off to another thread; whatever the
//! socket cannot take at once goes, in order, to the connection's writer
//! task, which waits for the socket to drain. Replies therefore go out in
//! completion order and never interleave. File ranges of a reply
//! ([`Results::push_file`](crate::Results::push_file)) go out with
//! `sendfile`; only a reply that must be queued has them read in first.

use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use rustix::fs::sendfile;
use rustix::net::{sendmsg, SendAncillaryBuffer, SendFlags};
use tokio::io::Interest;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tracing::debug;

use crate::buffer_pool::{BufferPool, PooledBuf};
use crate::dispatch::Reply;
use nfsl_rpc_service::{shrunk, Part};

/// Most replies gathered into one write by the writer task.
const MAX_BATCH: usize = 64;

/// A reply plus the in-flight permit of its call, released once written.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) reply: Reply,
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// A reply partly written directly: `written` bytes of it are on the wire.
#[derive(Debug)]
struct Direct {
    out: Outgoing,
    written: usize,
}

/// The next thing to send of a [`Direct`] reply.
enum Piece<'a> {
    /// Bytes up to the next file range or the end; `more` if a file range
    /// follows them.
    Bytes {
        slices: Vec<IoSlice<'a>>,
        more: bool,
    },
    /// `len` bytes at `offset` of a file.
    File {
        file: &'a OwnedFd,
        offset: u64,
        len: usize,
    },
}

impl Direct {
    /// What to send next, or `None` once all is written.
    fn next_piece(&self) -> Option<Piece<'_>> {
        let reply = &self.out.reply;
        let parts = std::iter::once(Part::Bytes(&reply.head[..])).chain(reply.body.parts());
        let mut pos = 0;
        let mut slices = Vec::new();
        for part in parts {
            let len = match &part {
                Part::Bytes(b) => b.len(),
                Part::File(f) => f.len(),
            };
            if pos + len <= self.written {
                pos += len;
                continue;
            }
            let skip = self.written.saturating_sub(pos);
            pos += len;
            match part {
                Part::Bytes(b) => slices.push(IoSlice::new(&b[skip..])),
                Part::File(f) if slices.is_empty() => {
                    return Some(Piece::File {
                        file: f.file(),
                        offset: f.offset().saturating_add(skip as u64),
                        len: f.len() - skip,
                    })
                }
                Part::File(_) => return Some(Piece::Bytes { slices, more: true }),
            }
        }
        (!slices.is_empty()).then_some(Piece::Bytes {
            slices,
            more: false,
        })
    }

    /// The rest as bytes for the writer task, file ranges read in (into a
    /// buffer from `pool`).
    fn into_queued(self, pool: &Arc<BufferPool>) -> io::Result<Queued> {
        let Outgoing { reply, _permit } = self.out;
        let body = reply.body.into_bytes_with(|len| pool.take(len))?;
        Ok(Queued {
            head: reply.head,
            body: PooledBuf::new(body, pool.clone()),
            written: self.written,
            _permit,
        })
    }
}

/// A reply handed to the writer task: bytes only, `written` of them
/// already on the wire.
#[derive(Debug)]
struct Queued {
    head: Bytes,
    body: PooledBuf,
    written: usize,
    _permit: OwnedSemaphorePermit,
}

impl Queued {
    /// The unwritten rest, as at most two slices.
    fn rest(&self) -> impl Iterator<Item = IoSlice<'_>> {
        let (head, body) = (&self.head[..], &self.body[..]);
        let skip_head = self.written.min(head.len());
        let skip_body = (self.written - skip_head).min(body.len());
        [&head[skip_head..], &body[skip_body..]]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(IoSlice::new)
    }

    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }
}

/// Who may write to the socket now.
#[derive(Debug, Default)]
struct WriteState {
    /// Replies handed to the writer task and not yet fully written. While
    /// non-zero, only the writer task writes.
    queued: usize,
    /// The socket failed; replies are dropped.
    failed: bool,
}

/// State shared by a connection's [`ReplySink`]s and its writer task. The
/// write half is shut down when the last holder drops it.
#[derive(Debug)]
struct SinkShared {
    socket: OwnedWriteHalf,
    state: Mutex<WriteState>,
    failed: watch::Sender<bool>,
    /// Where queued replies get their buffers.
    buffers: Arc<BufferPool>,
}

impl SinkShared {
    fn state(&self) -> MutexGuard<'_, WriteState> {
        // Every critical section leaves the state consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops all writing and closes the connection both ways now, even
    /// though calls still running hold the socket.
    fn close(&self) {
        self.state().failed = true;
        self.failed.send_replace(true);
        let _ = rustix::net::shutdown(self.socket.as_ref(), rustix::net::Shutdown::Both);
    }

    fn fail(&self, state: &mut WriteState, e: &io::Error) {
        if !state.failed {
            debug!(error = %e, "write failed; closing connection");
        }
        state.failed = true;
        self.failed.send_replace(true);
    }
}

/// Where a connection's replies go; cheap to share between the threads
/// that execute its calls.
#[derive(Debug)]
pub(crate) struct ReplySink {
    shared: Arc<SinkShared>,
    queue: UnboundedSender<Queued>,
}

impl ReplySink {
    /// A sink writing to `socket` (taking the buffers of replies it must
    /// queue from `buffers`), its writer task's future (to spawn), and a
    /// receiver that turns `true` once writing has failed.
    pub(crate) fn new(
        socket: OwnedWriteHalf,
        buffers: Arc<BufferPool>,
    ) -> (
        ReplySink,
        impl std::future::Future<Output = ()> + Send + 'static,
        watch::Receiver<bool>,
    ) {
        let (failed, failed_rx) = watch::channel(false);
        let shared = Arc::new(SinkShared {
            socket,
            state: Mutex::new(WriteState::default()),
            failed,
            buffers,
        });
        let (queue, rx) = unbounded_channel();
        let writer = write_loop(shared.clone(), rx);
        (ReplySink { shared, queue }, writer, failed_rx)
    }

    /// A handle that can close the connection while calls are running,
    /// without keeping the socket alive itself.
    pub(crate) fn closer(&self) -> SinkCloser {
        SinkCloser(Arc::downgrade(&self.shared))
    }

    /// Sends a reply: written at once, as far as the socket takes it, if
    /// nothing is queued ahead; otherwise (or for the rest) queued for the
    /// writer task. Never blocks on the peer, but reads the reply's file
    /// ranges in if they must be queued, so a reply with file ranges must be
    /// sent from a thread that may block. Dropped if the socket failed.
    ///
    /// The connection's write state stays locked meanwhile, so a sender
    /// may wait for another's write, which is non-blocking on the socket
    /// but reads its file ranges (from the page cache, or from disk if
    /// they are not cached). The reader task itself sends only
    /// transport-level replies (rare, and without file ranges).
    pub(crate) fn send(&self, out: Outgoing) {
        let mut state = self.shared.state();
        if state.failed {
            return;
        }
        let mut direct = Direct { out, written: 0 };
        if state.queued == 0 {
            match write_now(&self.shared.socket, &mut direct) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => return self.shared.fail(&mut state, &e),
            }
        }
        let queued = match direct.into_queued(&self.shared.buffers) {
            Ok(q) => q,
            // The reply cannot be completed and the stream cannot skip it.
            Err(e) => return self.shared.fail(&mut state, &e),
        };
        state.queued += 1;
        // The receiver is gone only if the writer task failed (then
        // `failed` is set) or was aborted; the reply is dropped either way.
        let _ = self.queue.send(queued);
    }
}

/// Closes a connection's socket if anything still holds it.
#[derive(Debug)]
pub(crate) struct SinkCloser(Weak<SinkShared>);

impl SinkCloser {
    /// Marks the sink failed (replies still to come are dropped) and shuts
    /// the socket down both ways, if any call still holds it.
    pub(crate) fn close(&self) {
        if let Some(shared) = self.0.upgrade() {
            shared.close();
        }
    }
}

/// Writes as much of `d` as the socket takes without blocking; `Ok(true)`
/// once all of it is written. File ranges go with `sendfile`, and the bytes
/// before one with `MSG_MORE`, so a header and its data share segments.
fn write_now(socket: &OwnedWriteHalf, d: &mut Direct) -> io::Result<bool> {
    let stream: &TcpStream = socket.as_ref();
    while let Some(piece) = d.next_piece() {
        let sent = match piece {
            Piece::Bytes {
                slices,
                more: false,
            } => socket.try_write_vectored(&slices),
            Piece::Bytes { slices, more: true } => stream.try_io(Interest::WRITABLE, || {
                let flags = SendFlags::MORE | SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
                let mut control = SendAncillaryBuffer::default();
                Ok(sendmsg(stream, &slices, &mut control, flags)?)
            }),
            Piece::File { file, offset, len } => stream.try_io(Interest::WRITABLE, || {
                let mut offset = offset;
                match sendfile(stream, file, Some(&mut offset), len)? {
                    0 => Err(shrunk()),
                    n => Ok(n),
                }
            }),
        };
        match sent {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => d.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Writes queued replies until every [`ReplySink`] is gone or the socket
/// fails (then drops whatever is queued).
async fn write_loop(shared: Arc<SinkShared>, mut rx: UnboundedReceiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let result = write_batch(&shared.socket, &mut batch).await;
        let done = batch.len();
        batch.clear(); // releases the calls' permits
        let mut state = shared.state();
        state.queued -= done;
        if let Err(e) = result {
            return shared.fail(&mut state, &e);
        }
    }
}

async fn write_batch(socket: &OwnedWriteHalf, batch: &mut [Queued]) -> io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        socket.writable().await?;
        let slices: Vec<IoSlice<'_>> = batch[first..].iter().flat_map(Queued::rest).collect();
        let mut n = match socket.try_write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        drop(slices);
        while n > 0 {
            let p = &mut batch[first];
            let take = n.min(p.len() - p.written);
            p.written += take;
            n -= take;
            if p.written == p.len() {
                first += 1;
            }
        }
    }
    Ok(())
}
