//! A connection's reply path. The thread that finishes a call writes its
//! reply to the socket itself (a non-blocking write) when nothing is queued
//! ahead of it, so a reply costs no hand-off to another thread; whatever the
//! socket cannot take at once goes, in order, to the connection's writer
//! task, which waits for the socket to drain. Replies therefore go out in
//! completion order and never interleave. Replies of calls the
//! connection's reader task answered itself go out together, one vectored
//! write for all of them ([`ReplySink::try_send_batch`]). File ranges of a reply
//! ([`Results::push_file`](nfsl_rpc_service::Results::push_file)) go out
//! with `sendfile`; only a reply that must be queued has them read in
//! first.
//!
//! Writing a file range can wait for the disk (`sendfile` or `pread` of
//! pages not cached), and senders take turns under a lock while they do.
//! So only threads that may block take that turn (the blocking pool, or a
//! call run in place with `block_in_place`); the connection's reader task
//! tries it ([`ReplySink::try_send`]) and hands the reply to the blocking
//! pool if another sender holds it, and the writer task never takes it
//! (its bookkeeping is atomic). No runtime worker waits behind disk IO.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};

use bytes::Bytes;
use rustix::fs::sendfile;
use rustix::net::{sendmsg, SendAncillaryBuffer, SendFlags};
use tokio::io::Interest;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tracing::debug;

use crate::dispatch::Reply;
use crate::limits::Limits;
use crate::pool::{BufferPool, PooledBuf};
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

    /// The reply's length on the wire.
    fn wire_len(&self) -> usize {
        self.out.reply.head.len() + self.out.reply.body.wire_len()
    }

    /// The rest as bytes for the writer task, file ranges read in (into a
    /// buffer from `pool`).
    fn into_queued(self, pool: &Arc<BufferPool>) -> io::Result<Queued> {
        let Outgoing { reply, _permit } = self.out;
        let body = reply.body.into_bytes_with(|len| pool.take(len))?;
        Ok(Queued {
            head: reply.head,
            body: PooledBuf::new(body, Some(pool.clone())),
            written: self.written,
            _permit,
            charge: None,
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
    /// Its bytes, counted as queued until it is written or dropped.
    charge: Option<ReplyCharge>,
}

/// Bytes of a queued reply, counted against the connection's and the
/// server's reply budgets while it exists.
#[derive(Debug)]
struct ReplyCharge {
    bytes: usize,
    connection: Arc<AtomicUsize>,
    limits: Arc<Limits>,
}

impl ReplyCharge {
    fn new(bytes: usize, connection: &Arc<AtomicUsize>, limits: &Arc<Limits>) -> Self {
        connection.fetch_add(bytes, Ordering::AcqRel);
        limits.add_queued_replies(bytes);
        ReplyCharge {
            bytes,
            connection: Arc::clone(connection),
            limits: Arc::clone(limits),
        }
    }
}

impl Drop for ReplyCharge {
    fn drop(&mut self) {
        self.connection.fetch_sub(self.bytes, Ordering::AcqRel);
        self.limits.remove_queued_replies(self.bytes);
    }
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

/// State shared by a connection's [`ReplySink`]s and its writer task. The
/// write half is shut down when the last holder drops it.
#[derive(Debug)]
struct SinkShared {
    socket: OwnedWriteHalf,
    /// Held by the sender whose turn it is to write directly or to queue
    /// (only threads that may block wait for it).
    turn: Mutex<()>,
    /// Replies handed to the writer task and not yet fully written. Raised
    /// by a sender holding the turn, lowered by the writer task once they
    /// are written; while non-zero, only the writer task writes.
    queued: AtomicUsize,
    /// Bytes of the replies handed to the writer task and not yet written
    /// (what a peer that does not read makes the server hold).
    queued_bytes: Arc<AtomicUsize>,
    /// The server's limits, charged with `queued_bytes` too.
    limits: Arc<Limits>,
    /// The socket failed; replies are dropped.
    failed_flag: AtomicBool,
    failed: watch::Sender<bool>,
    /// Where queued replies get their buffers.
    buffers: Arc<BufferPool>,
}

impl SinkShared {
    fn turn(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data, only the order of writers.
        self.turn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn has_failed(&self) -> bool {
        self.failed_flag.load(Ordering::Acquire)
    }

    /// Stops all writing and closes the connection both ways now, even
    /// though calls still running hold the socket.
    fn close(&self) {
        self.failed_flag.store(true, Ordering::Release);
        self.failed.send_replace(true);
        let _ = rustix::net::shutdown(self.socket.as_ref(), rustix::net::Shutdown::Both);
    }

    fn fail(&self, e: &io::Error) {
        if !self.failed_flag.swap(true, Ordering::AcqRel) {
            debug!(error = %e, "write failed; closing connection");
        }
        self.failed.send_replace(true);
    }

    /// Writes (or queues) `out`; the caller holds the turn.
    fn send_in_turn(&self, queue: &UnboundedSender<Queued>, out: Outgoing) {
        if self.has_failed() {
            return;
        }
        let mut direct = Direct { out, written: 0 };
        if self.queued.load(Ordering::Acquire) == 0 {
            match write_now(&self.socket, &mut direct) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => return self.fail(&e),
            }
        }
        self.queue_rest(queue, direct);
    }

    /// Writes (or queues) a batch of replies of bytes only with as few
    /// writes as the socket allows (one, usually); the caller holds the
    /// turn.
    fn send_batch_in_turn(&self, queue: &UnboundedSender<Queued>, batch: Vec<Outgoing>) {
        if self.has_failed() {
            return;
        }
        let mut pending: VecDeque<Direct> = batch
            .into_iter()
            .map(|out| Direct { out, written: 0 })
            .collect();
        if self.queued.load(Ordering::Acquire) == 0 {
            if let Err(e) = write_batch_now(&self.socket, &mut pending) {
                return self.fail(&e);
            }
        }
        for direct in pending {
            self.queue_rest(queue, direct);
        }
    }

    /// Hands what is unwritten of `direct` to the writer task; the caller
    /// holds the turn.
    fn queue_rest(&self, queue: &UnboundedSender<Queued>, direct: Direct) {
        if self.has_failed() {
            return;
        }
        let mut queued = match direct.into_queued(&self.buffers) {
            Ok(q) => q,
            // The reply cannot be completed and the stream cannot skip it.
            Err(e) => return self.fail(&e),
        };
        queued.charge = Some(ReplyCharge::new(
            queued.len() - queued.written,
            &self.queued_bytes,
            &self.limits,
        ));
        self.queued.fetch_add(1, Ordering::AcqRel);
        // The receiver is gone only if the writer task failed (then
        // `failed` is set) or was aborted; the reply is dropped either way.
        let _ = queue.send(queued);
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
        limits: Arc<Limits>,
    ) -> (
        ReplySink,
        impl std::future::Future<Output = ()> + Send + 'static,
        watch::Receiver<bool>,
    ) {
        let (failed, failed_rx) = watch::channel(false);
        let shared = Arc::new(SinkShared {
            socket,
            turn: Mutex::new(()),
            queued: AtomicUsize::new(0),
            queued_bytes: Arc::default(),
            limits,
            failed_flag: AtomicBool::new(false),
            failed,
            buffers,
        });
        let (queue, rx) = unbounded_channel();
        let writer = write_loop(shared.clone(), rx);
        (ReplySink { shared, queue }, writer, failed_rx)
    }

    /// Bytes of replies waiting for the peer to read them.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Acquire)
    }

    /// A handle that can close the connection while calls are running,
    /// without keeping the socket alive itself.
    pub(crate) fn closer(&self) -> SinkCloser {
        SinkCloser(Arc::downgrade(&self.shared))
    }

    /// Sends a reply: written at once, as far as the socket takes it, if
    /// nothing is queued ahead; otherwise (or for the rest) queued for the
    /// writer task. Never blocks on the peer, but may wait for the disk: it
    /// reads the reply's file ranges in if they must be queued, and waits
    /// for another sender doing so. So it must be called from a thread that
    /// may block; the reader task uses [`try_send`](ReplySink::try_send).
    /// Dropped if the socket failed.
    pub(crate) fn send(&self, out: Outgoing) {
        let _turn = self.shared.turn();
        self.shared.send_in_turn(&self.queue, out);
    }

    /// Sends replies without file ranges together (one write for all, as
    /// far as the socket takes them), if no other sender holds the turn
    /// now; otherwise gives them back. Never waits.
    pub(crate) fn try_send_batch(&self, batch: Vec<Outgoing>) -> Result<(), Vec<Outgoing>> {
        debug_assert!(batch.iter().all(|o| !o.reply.body.has_files()));
        let _turn = match self.shared.turn.try_lock() {
            Ok(t) => t,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(batch),
        };
        self.shared.send_batch_in_turn(&self.queue, batch);
        Ok(())
    }

    /// [`send`](ReplySink::send) if no other sender holds the turn now;
    /// otherwise gives `out` back (to be sent from a thread that may
    /// block). For a reply without file ranges, which then never waits.
    pub(crate) fn try_send(&self, out: Outgoing) -> Result<(), Outgoing> {
        let _turn = match self.shared.turn.try_lock() {
            Ok(t) => t,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(out),
        };
        self.shared.send_in_turn(&self.queue, out);
        Ok(())
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

/// Writes as much of `pending` (replies of bytes only) as the socket takes
/// without blocking, with one vectored write per try; what is fully
/// written leaves `pending`, the first reply left may be partly written.
fn write_batch_now(socket: &OwnedWriteHalf, pending: &mut VecDeque<Direct>) -> io::Result<()> {
    while !pending.is_empty() {
        let slices: Vec<IoSlice<'_>> = pending
            .iter()
            .filter_map(|d| match d.next_piece() {
                Some(Piece::Bytes { slices, .. }) => Some(slices),
                _ => None,
            })
            .flatten()
            .collect();
        let mut n = match socket.try_write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        drop(slices);
        while n > 0 {
            let Some(d) = pending.front_mut() else { break };
            let left = d.wire_len() - d.written;
            if n < left {
                d.written += n;
                break;
            }
            n -= left;
            pending.pop_front();
        }
    }
    Ok(())
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
        batch.clear(); // releases the calls' permits, buffers and charges
        shared.queued.fetch_sub(done, Ordering::AcqRel);
        if let Err(e) = result {
            return shared.fail(&e);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use tokio::sync::Semaphore;

    /// The reader task's path: while another sender holds the turn (as
    /// one reading a file range from disk does), `try_send` gives the reply
    /// back at once instead of waiting; once the turn is free it writes.
    #[tokio::test]
    async fn try_send_never_waits_for_another_senders_turn() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (mut client, server) = (client.unwrap(), accepted.unwrap().0);
        let (_rd, wr) = server.into_split();
        let limits = Arc::new(Limits::new(
            &crate::TransportConfig::default(),
            Arc::default(),
        ));
        let (sink, writer, _failed) = ReplySink::new(wr, BufferPool::new(1), limits);
        let writer = tokio::spawn(writer);
        let permits = Arc::new(Semaphore::new(2));
        let reply = |b: &'static [u8]| Outgoing {
            reply: Reply::whole(Bytes::from_static(b)),
            _permit: permits.clone().try_acquire_owned().unwrap(),
        };
        let held = sink.shared.turn();
        let back = sink.try_send(reply(b"late")).expect_err("must not wait");
        drop(held);
        drop(back);
        sink.try_send(reply(b"now!")).expect("free turn: sent");
        drop(sink);
        writer.await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"now!");
    }
}
