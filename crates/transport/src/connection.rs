//! One TCP connection: a reader that reassembles records and dispatches
//! calls, concurrently and bounded, and a writer task for the replies.
//!
//! The reader stops reading while the connection may hold no more: calls
//! in flight at their limit, unsent replies over their budget (the peer
//! does not read them), or no record memory left for it (the server's
//! budget or its address's share, see [`crate::limits`]). A connection
//! with no call in flight that receives nothing for the idle timeout is
//! closed, whatever it holds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nfsl_rpc::ReadTarget;
use nfsl_rpc::RecordDecoder;
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::TransportConfig;
use crate::dispatch::{execute, triage, try_execute, Attempt, Reply, ServerCore, Triage};
use crate::limits::Admitted;
use crate::pool::{PoolBuffers, PooledBuf};
use crate::socket::{RecvLowat, RCVLOWAT_BIG};
use crate::writer::{Outgoing, ReplySink, SinkCloser};
use nfsl_rpc_service::RpcService;

/// Aborts the writer and closes the socket if the connection task is itself
/// aborted (shutdown timeout), so the socket is closed rather than kept by
/// the writer or by calls still running.
struct AbortOnDrop(JoinHandle<()>, SinkCloser);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
        self.1.close();
    }
}

/// Resolves once shutdown has been requested (or the server is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Serves one connection until the peer closes it, it breaks, a record is
/// oversized, or shutdown is requested; then waits for the calls already
/// started to be answered.
pub(crate) async fn run<S: RpcService>(
    stream: TcpStream,
    peer: SocketAddr,
    mut admitted: Admitted,
    shared: Arc<ServerCore<S>>,
    config: Arc<TransportConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            warn!(%peer, error = %e, "cannot read local address; dropping connection");
            return;
        }
    };
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    debug!(%peer, %local, "connection accepted");
    let (rd, wr) = stream.into_split();
    let limits = admitted.limits().clone();
    let (sink, write_loop, mut write_failed) =
        ReplySink::new(wr, shared.buffers.clone(), limits.clone());
    let sink = Arc::new(sink);
    let mut writer = AbortOnDrop(tokio::spawn(write_loop), sink.closer());
    let max_in_flight = config.max_in_flight_per_connection.max(1);
    let permits = Arc::new(Semaphore::new(max_in_flight));
    // `block_in_place` panics on a current-thread runtime.
    let may_block_in_place = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    let mut decoder =
        RecordDecoder::new(config.max_record_len).with_buffers(PoolBuffers(shared.buffers.clone()));
    // The one record-reading strategy of both sides (the client's too):
    // small records through a small buffer, a large payload (a 1 MiB
    // WRITE) read straight into its record, the kernel waking the reader
    // once per RCVLOWAT_BIG bytes of it rather than once per segment.
    let mut rd = BufReader::with_capacity(config.read_buffer_size.max(4096), rd);
    let mut lowat = RecvLowat::default();
    // Replies of calls answered on this task since the last read, sent
    // together (one write) before the task next waits.
    let mut answered: Vec<Outgoing> = Vec::new();

    'conn: loop {
        loop {
            let record = match decoder.next_record() {
                Ok(Some(record)) => PooledBuf::new(record, Some(shared.buffers.clone())),
                Ok(None) => break,
                Err(e) => {
                    warn!(%peer, error = %e, "closing connection");
                    break 'conn;
                }
            };
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    // The replies held here hold permits too.
                    flush_answered(&sink, &mut answered);
                    tokio::select! {
                        biased;
                        _ = stopped(&mut shutdown) => break 'conn,
                        p = permits.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break 'conn,
                        },
                    }
                }
            };
            let call = match triage(&shared, record, peer, local) {
                Triage::Drop => continue,
                Triage::Reply(reply) => {
                    send_from_reader(&sink, reply, permit);
                    continue;
                }
                Triage::Execute(call) => call,
            };
            // A call that can finish without waiting (a READ of cached
            // data) runs here, however many are in flight: no hand-off to
            // another thread and back.
            let call = match try_execute(&shared, &call) {
                Attempt::Done(Some(reply)) if !reply.body.has_files() => {
                    answered.push(Outgoing {
                        reply,
                        _permit: permit,
                    });
                    if answered.len() >= MAX_ANSWERED {
                        flush_answered(&sink, &mut answered);
                    }
                    continue;
                }
                Attempt::Done(reply) => {
                    if let Some(reply) = reply {
                        send_from_reader(&sink, reply, permit);
                    }
                    continue;
                }
                Attempt::WouldBlock => call,
            };
            if may_block_in_place
                && answered.is_empty()
                && permits.available_permits() + 1 == max_in_flight
                && decoder.is_empty()
                && rd.buffer().is_empty()
                && shared
                    .service
                    .is_quick(call.ctx.program, call.ctx.version, call.ctx.procedure)
            {
                // The only call in flight, nothing more buffered, and
                // quick: run it here and reply at once, sparing the
                // hand-offs to and from the blocking pool.
                tokio::task::block_in_place(|| {
                    if let Some(reply) = execute(&shared, call) {
                        sink.send(Outgoing {
                            reply,
                            _permit: permit,
                        });
                    }
                });
            } else {
                let (shared, sink) = (shared.clone(), sink.clone());
                tokio::task::spawn_blocking(move || {
                    if let Some(reply) = execute(&shared, call) {
                        sink.send(Outgoing {
                            reply,
                            _permit: permit,
                        });
                    }
                });
            }
        }
        // Records still buffered are read without waiting: their replies
        // join the batch.
        if rd.buffer().is_empty() {
            flush_answered(&sink, &mut answered);
        }
        // Back-pressure: while the peer leaves too many replies unread
        // (or all peers together do, and this one has some unread too: a
        // peer that reads its replies is never held up by others), read no
        // further requests. A peer that takes none of them for the idle
        // timeout is disconnected, so it cannot hold its share forever.
        let over_budget = |queued: usize| {
            queued >= config.reply_memory_per_connection
                || (queued > 0 && !limits.replies_within_budget())
        };
        if over_budget(sink.queued_bytes()) {
            flush_answered(&sink, &mut answered);
            let _paused = Gauge::raise(&limits.stats.paused_for_replies);
            let mut last = sink.queued_bytes();
            let mut deadline = tokio::time::Instant::now() + config.idle_timeout;
            loop {
                let released = limits.released();
                let queued = sink.queued_bytes();
                if !over_budget(queued) {
                    break;
                }
                if queued < last {
                    // The peer is reading: it is slow, not stalled.
                    last = queued;
                    deadline = tokio::time::Instant::now() + config.idle_timeout;
                }
                tokio::select! {
                    biased;
                    _ = stopped(&mut shutdown) => break 'conn,
                    _ = write_failed.wait_for(|failed| *failed) => break 'conn,
                    _ = released => {}
                    _ = tokio::time::sleep_until(deadline) => {
                        debug!(%peer, "closed: took none of its replies for the idle timeout");
                        limits.stats.reaped_connections.fetch_add(1, Ordering::AcqRel);
                        // Its writer waits for the peer: end that too, so
                        // the queued replies are freed.
                        writer.1.close();
                        break 'conn;
                    }
                }
            }
        }
        // Wake up once per RCVLOWAT_BIG bytes while at least that much of
        // a large fragment is still to come (never more than the peer is
        // bound to send, or the wait would never end).
        let to_come = decoder
            .payload_remaining()
            .map_or(0, |r| r.saturating_sub(rd.buffer().len()));
        lowat.want(
            rd.get_ref().as_ref(),
            if to_come >= RCVLOWAT_BIG {
                RCVLOWAT_BIG
            } else {
                1
            },
        );
        let idle = tokio::time::sleep(config.idle_timeout);
        let read = tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            _ = write_failed.wait_for(|failed| *failed) => break,
            r = read_some(&mut rd, &mut decoder) => r,
            _ = idle, if permits.available_permits() == max_in_flight => {
                debug!(%peer, timeout = ?config.idle_timeout, "idle connection closed");
                limits.stats.reaped_connections.fetch_add(1, Ordering::AcqRel);
                break;
            }
        };
        match read {
            Ok(0) => {
                if decoder.is_mid_record() {
                    debug!(%peer, "connection closed in the middle of a record");
                }
                break;
            }
            Ok(n) => decoder.filled(n),
            Err(e) => {
                debug!(%peer, error = %e, "read failed");
                break;
            }
        }
        // Charge the partial record's memory (reserved for its whole
        // fragment as soon as the marker arrived, before the call can be
        // authenticated); without room, read nothing more until some is
        // given back, or the connection is reaped as idle.
        let deadline = tokio::time::Instant::now() + config.idle_timeout;
        loop {
            let released = limits.released();
            if admitted.hold_record_bytes(decoder.buffered_capacity()) {
                break;
            }
            flush_answered(&sink, &mut answered);
            let _waiting = Gauge::raise(&limits.stats.waiting_for_memory);
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break 'conn,
                _ = released => {}
                _ = tokio::time::sleep_until(deadline), if permits.available_permits() == max_in_flight => {
                    debug!(%peer, "closed: waited for record memory longer than the idle timeout");
                    limits.stats.reaped_connections.fetch_add(1, Ordering::AcqRel);
                    break 'conn;
                }
            }
        }
    }
    flush_answered(&sink, &mut answered);
    // Partial records are dropped with the decoder: give their memory back.
    drop(decoder);
    drop(rd);
    admitted.hold_record_bytes(0);
    // The writer ends once every in-flight call has sent its reply and
    // dropped its sink.
    drop(sink);
    if let Err(e) = (&mut writer.0).await {
        warn!(%peer, error = %e, "connection writer failed");
    }
    debug!(%peer, "connection closed");
}

/// Most replies of calls answered on the reader task held for one write.
const MAX_ANSWERED: usize = 32;

/// Sends the replies of calls answered on the reader task together, or,
/// if another sender holds the turn, from the blocking pool.
fn flush_answered(sink: &Arc<ReplySink>, answered: &mut Vec<Outgoing>) {
    if answered.is_empty() {
        return;
    }
    if let Err(batch) = sink.try_send_batch(std::mem::take(answered)) {
        let sink = sink.clone();
        tokio::task::spawn_blocking(move || batch.into_iter().for_each(|out| sink.send(out)));
    }
}

/// Sends a reply from the connection's reader task, which must never wait
/// for the disk or for another sender that may: a reply of bytes only is
/// written now if the sending turn is free; otherwise, and for a reply
/// with file ranges (`sendfile` may read from the disk), a thread of the
/// blocking pool sends it.
fn send_from_reader(sink: &Arc<ReplySink>, reply: Reply, permit: OwnedSemaphorePermit) {
    let out = Outgoing {
        reply,
        _permit: permit,
    };
    let out = if out.reply.body.has_files() {
        out
    } else {
        match sink.try_send(out) {
            Ok(()) => return,
            Err(out) => out,
        }
    };
    let sink = sink.clone();
    tokio::task::spawn_blocking(move || sink.send(out));
}

/// A count of connections in some state, raised while this value lives.
struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    fn raise(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Gauge(counter)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads from the socket into wherever the decoder wants the next bytes.
async fn read_some(
    rd: &mut BufReader<OwnedReadHalf>,
    decoder: &mut RecordDecoder,
) -> std::io::Result<usize> {
    match decoder.read_target() {
        ReadTarget::Marker(buf) => rd.read(buf).await,
        ReadTarget::Payload(mut limit) => rd.read_buf(&mut limit).await,
        ReadTarget::Failed => Ok(0),
    }
}
