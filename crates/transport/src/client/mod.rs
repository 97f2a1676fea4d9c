//! The client side of the transport: one TCP connection at a time to one
//! server port, many calls in flight on it, reconnection and
//! retransmission with the original xid. Beside the server's dispatch, it
//! shares the socket set-up ([`crate::socket`]), the record reading (pull
//! style into the record, `SO_RCVLOWAT` on large records) and the buffer
//! pool ([`crate::pool`]); the sans-IO part (xid allocation, call
//! encoding, matching replies to calls) is [`exchange`].
//!
//! Each connection has a reader task (bytes -> [`RecordDecoder`] ->
//! [`PendingCalls`] -> the caller's oneshot channel) and a writer task
//! that batches queued calls into vectored writes (`send`). While a large
//! reply streams in, the reader raises the socket's `SO_RCVLOWAT` so the
//! kernel wakes it per 256 KiB rather than per segment (measured on 1 GiB
//! reads over loopback: ~20% less client and ~15% less server CPU), never
//! above what the server still owes of that record. Callers wait on their
//! channel with the per-try timeout. When a connection fails (EOF, socket
//! error, a malformed stream, or a try that timed out, which may mean a
//! half-open connection) every call waiting on it is told, and each
//! re-sends its own record, same xid, on the next connection; the
//! server's duplicate request cache then answers a retransmitted
//! non-idempotent call from its cache instead of running it twice. A
//! connection is re-established lazily by the first caller that needs it,
//! retrying refused connections with backoff within that try's deadline
//! (once a server has answered: it may be restarting).
//!
//! What uses up one of a call's `retries + 1` tries: no reply within the
//! timeout, or the connection failing under the call (the call may have
//! reached a server that then died). What does not: finding the
//! connection already closing before the call was queued on it, or the
//! client itself closing the connection because *another* call timed out
//! on it (or [`RpcClient::disconnect`]). Such a call goes again on the
//! next connection within the same try's deadline, so a race with a
//! closing connection can never burn tries without a wait, and a server
//! restart is covered by the tries that follow the crash (each waits up
//! to a whole timeout for the server to accept connections again).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nfsl_rpc::{OpaqueAuth, ReadTarget, RecordDecoder};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::{sleep, timeout_at, Instant};

use crate::pool::{BufferPool, PoolBuffers};
use crate::socket::{self, PortPolicy, RCVLOWAT_BIG};
use error::{CallError as Error, Result};
use exchange::{Delivery, OutgoingCall, PendingCalls, RegisterError, ReplyError};

pub use error::{CallError, RpcError};
pub use exchange::{ProcId, RpcReply, XidSource};
pub use payload::{FileRange, Payload};

/// Largest reply record accepted: a 1 MiB READ plus headers and slack.
/// Bigger records close the connection (they cannot be skipped).
pub const MAX_REPLY_RECORD: usize = (4 << 20) + (64 << 10);

/// Large reply buffers kept for reuse per client.
const REPLY_BUFFERS_KEPT: usize = 32;
/// Read buffer for small replies; larger payloads bypass it.
const READ_BUFFER: usize = 64 << 10;

/// How an [`RpcClient`] behaves.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// How long one try of a call waits for its reply.
    pub timeout: Duration,
    /// Tries after the first before a call fails.
    pub retries: u32,
    /// Calls in flight at once (more wait for a slot).
    pub max_in_flight: usize,
    /// Which local port connections bind.
    pub port_policy: PortPolicy,
    /// Largest reply record accepted ([`MAX_REPLY_RECORD`] normally).
    pub max_record_len: usize,
}

/// What an [`RpcClient`] counts (every field only grows).
#[derive(Debug, Default)]
pub struct CallCounters {
    /// Calls made (each once, however often sent).
    pub calls: AtomicU64,
    /// Calls sent again (same xid) after a timeout or a lost connection.
    pub retransmissions: AtomicU64,
    /// Connections made.
    pub connects: AtomicU64,
    /// Tries that got no reply in time.
    pub timeouts: AtomicU64,
    /// Replies that matched no pending call.
    pub unmatched_replies: AtomicU64,
}

impl CallCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Why a connection could not deliver a reply.
#[derive(Debug, Clone)]
enum Failure {
    /// The reply arrived but is not a success.
    Reply(ReplyError),
    /// The connection failed under the call (EOF, socket error): retry
    /// on a new one, using up a try.
    Lost(String),
    /// The client closed the connection (another call timed out on it, or
    /// `disconnect`): re-send on a new one within the same try.
    Dropped(String),
    /// The byte stream itself was malformed (do not retry).
    Stream(String),
    /// The local file a WRITE's data comes from failed (do not retry).
    Source(Arc<io::Error>),
}

type Waiter = oneshot::Sender<std::result::Result<RpcReply, Failure>>;

/// One live TCP connection.
struct Conn {
    pending: Mutex<PendingCalls<Waiter>>,
    pool: Arc<BufferPool>,
    tx: mpsc::UnboundedSender<OutgoingCall>,
    /// Set first thing by `close`, before waiters are failed, so a caller
    /// never picks a connection whose calls are already being failed.
    closed: AtomicBool,
    /// Tells the reader and writer tasks to stop.
    shutdown: watch::Sender<bool>,
    counters: Arc<CallCounters>,
}

impl Conn {
    fn start(
        stream: TcpStream,
        max_record_len: usize,
        pool: Arc<BufferPool>,
        counters: Arc<CallCounters>,
    ) -> Arc<Conn> {
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (shutdown, _) = watch::channel(false);
        let conn = Arc::new(Conn {
            pending: Mutex::new(PendingCalls::new()),
            pool,
            tx,
            closed: AtomicBool::new(false),
            shutdown,
            counters,
        });
        tokio::spawn(read_loop(Arc::clone(&conn), rd, max_record_len));
        tokio::spawn(send::write_loop(Arc::clone(&conn), rx, wr));
        conn
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, PendingCalls<Waiter>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Fails every waiting call with `failure` and stops both tasks.
    fn close(&self, failure: Failure) {
        self.closed.store(true, Ordering::Release);
        let reason = match &failure {
            Failure::Lost(r) | Failure::Dropped(r) | Failure::Stream(r) => r.clone(),
            Failure::Reply(_) | Failure::Source(_) => "closed".into(),
        };
        let waiters = self.pending().close(reason);
        for w in waiters {
            let _ = w.send(Err(failure.clone()));
        }
        self.shutdown.send_replace(true);
    }

    fn deliver(&self, record: Vec<u8>) {
        let delivery = self.pending().on_record(record);
        match delivery {
            Delivery::Reply { token, reply, .. } => {
                let reply = reply.map(|mut r| {
                    r.recycle_into(&self.pool);
                    r
                });
                let _ = token.send(reply.map_err(Failure::Reply));
            }
            Delivery::Unmatched { xid } => {
                CallCounters::add(&self.counters.unmatched_replies, 1);
                tracing::debug!("dropped a reply matching no pending call (xid {xid:?})");
            }
        }
    }
}

async fn read_loop(conn: Arc<Conn>, rd: OwnedReadHalf, max_record_len: usize) {
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let mut asm =
        RecordDecoder::new(max_record_len).with_buffers(PoolBuffers(Arc::clone(&conn.pool)));
    let mut shutdown = conn.shutdown.subscribe();
    let mut lowat = socket::RecvLowat::default();
    loop {
        loop {
            match asm.next_record() {
                Ok(Some(record)) => conn.deliver(record),
                Ok(None) => break,
                Err(e) => {
                    conn.close(Failure::Stream(format!("bad reply stream: {e}")));
                    return;
                }
            }
        }
        // Wake up once per RCVLOWAT_BIG bytes while at least that much
        // of a large fragment is still to come (never more than the
        // server is bound to send, or the wait would never end).
        let to_come = asm
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
        let read = tokio::select! {
            r = read_some(&mut rd, &mut asm) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match read {
            Ok(0) => {
                let why = if asm.is_mid_record() {
                    "the server closed the connection in the middle of a reply"
                } else {
                    "the server closed the connection"
                };
                conn.close(Failure::Lost(why.into()));
                return;
            }
            Ok(n) => asm.filled(n),
            Err(e) => {
                conn.close(Failure::Lost(format!("receiving: {e}")));
                return;
            }
        }
    }
}

async fn read_some(
    rd: &mut BufReader<OwnedReadHalf>,
    asm: &mut RecordDecoder,
) -> io::Result<usize> {
    match asm.read_target() {
        ReadTarget::Marker(buf) => rd.read(buf).await,
        ReadTarget::Payload(mut limit) => rd.read_buf(&mut limit).await,
        ReadTarget::Failed => Ok(0),
    }
}

/// An RPC client for one server address (one program or several: the
/// procedure is given per call).
pub struct RpcClient {
    addr: SocketAddr,
    settings: ClientSettings,
    credential: OpaqueAuth,
    xids: XidSource,
    in_flight: Semaphore,
    current: Mutex<Option<Arc<Conn>>>,
    connecting: tokio::sync::Mutex<()>,
    ever_connected: AtomicBool,
    /// The local port of the last connection, reused by the next one so
    /// the server's duplicate request cache recognises retransmissions.
    last_port: Mutex<Option<u16>>,
    counters: Arc<CallCounters>,
    pool: Arc<BufferPool>,
}

impl RpcClient {
    /// A client for `addr` sending `credential` with every call, counting
    /// into `counters`; it connects when first needed.
    pub fn new(
        addr: SocketAddr,
        settings: ClientSettings,
        credential: OpaqueAuth,
        counters: Arc<CallCounters>,
    ) -> RpcClient {
        RpcClient {
            addr,
            in_flight: Semaphore::new(settings.max_in_flight),
            settings,
            credential,
            xids: XidSource::random(),
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            ever_connected: AtomicBool::new(false),
            last_port: Mutex::new(None),
            counters,
            pool: BufferPool::new(REPLY_BUFFERS_KEPT),
        }
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects now (to fail early with a clear error) unless connected.
    pub async fn connect(&self) -> Result<()> {
        let deadline = Instant::now() + self.settings.timeout;
        self.connection(deadline).await.map(|_| ())
    }

    /// Closes the current connection, if any (pending calls retransmit).
    pub fn disconnect(&self) {
        let conn = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = conn {
            c.close(Failure::Dropped("connection closed by the client".into()));
        }
    }

    /// Whether a connection is open now (LOCALIO sessions end with it).
    pub fn is_connected(&self) -> bool {
        self.live().is_some()
    }

    fn live(&self) -> Option<Arc<Conn>> {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        cur.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    async fn connection(&self, deadline: Instant) -> Result<Arc<Conn>> {
        if let Some(c) = self.live() {
            return Ok(c);
        }
        let what = || format!("connecting to {}", self.addr);
        let Ok(_guard) = timeout_at(deadline, self.connecting.lock()).await else {
            return Err(Error::Connection {
                what: what(),
                source: io::Error::new(io::ErrorKind::TimedOut, "timed out waiting to reconnect"),
            });
        };
        if let Some(c) = self.live() {
            return Ok(c);
        }
        let mut delay = Duration::from_millis(50);
        loop {
            let previous_port = *self.last_port.lock().unwrap_or_else(|p| p.into_inner());
            let err = match timeout_at(
                deadline,
                socket::connect(self.addr, self.settings.port_policy, previous_port),
            )
            .await
            {
                Ok(Ok(stream)) => {
                    if let Ok(local) = stream.local_addr() {
                        *self.last_port.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(local.port());
                    }
                    let conn = Conn::start(
                        stream,
                        self.settings.max_record_len,
                        Arc::clone(&self.pool),
                        Arc::clone(&self.counters),
                    );
                    *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Arc::clone(&conn));
                    self.ever_connected.store(true, Ordering::Relaxed);
                    CallCounters::add(&self.counters.connects, 1);
                    return Ok(conn);
                }
                Ok(Err(e)) => e,
                Err(_) => io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out"),
            };
            // A first connection fails fast (wrong host or port); once a
            // server has answered, keep trying: it may be restarting.
            if !self.ever_connected.load(Ordering::Relaxed) || Instant::now() + delay >= deadline {
                return Err(Error::Connection {
                    what: what(),
                    source: err,
                });
            }
            tracing::debug!("{}: {err}; retrying in {delay:?}", what());
            sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Makes a call: `args` appends the encoded arguments, `payload` is
    /// bulk data sent after them (see [`OutgoingCall::encode`]). Returns
    /// the successful reply, or the error after every retry (see the
    /// module documentation for what uses up a try).
    pub async fn call(
        &self,
        proc_id: ProcId,
        args: impl FnOnce(&mut Vec<u8>),
        payload: impl Into<Payload>,
    ) -> Result<RpcReply> {
        let payload = payload.into();
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| Error::InvalidArgument("client is shut down".into()))?;
        let xid = self.xids.next();
        let call = OutgoingCall::encode(xid, proc_id, &self.credential, args, payload)
            .map_err(Error::InvalidArgument)?;
        CallCounters::add(&self.counters.calls, 1);
        let tries = self.settings.retries.saturating_add(1);
        let mut sent = false;
        let mut last_error = None;
        for attempt in 0..tries {
            let deadline = Instant::now() + self.settings.timeout;
            let error = match self.try_call(proc_id, &call, deadline, &mut sent).await {
                TryEnd::Finished(result) => return result,
                TryEnd::Lost(e) => {
                    // Give a dying server a moment before the next try
                    // (which then waits for it to accept connections).
                    if attempt + 1 < tries {
                        sleep(Duration::from_millis(20u64 << attempt.min(5))).await;
                    }
                    e
                }
                TryEnd::TimedOut => Error::TimedOut {
                    what: proc_id.name.into(),
                    tries: attempt + 1,
                },
                TryEnd::Unconnected(e) => e,
            };
            last_error = Some(error);
        }
        Err(match last_error {
            Some(Error::TimedOut { what, .. }) => Error::TimedOut { what, tries },
            Some(e) => e,
            None => Error::Connection {
                what: format!("{} to {}", proc_id.name, self.addr),
                source: io::Error::new(io::ErrorKind::NotConnected, "no connection"),
            },
        })
    }

    /// One try of `call`: sends it (again, after the connection closed
    /// before it was queued or was closed by the client) until a reply,
    /// a failure that ends the try, or `deadline`.
    async fn try_call(
        &self,
        proc_id: ProcId,
        call: &OutgoingCall,
        deadline: Instant,
        sent: &mut bool,
    ) -> TryEnd {
        let xid = call.xid();
        let mut resends = 0u32;
        loop {
            if resends > 0 {
                // A re-send within this try: pause, longer each time, so
                // connections that keep closing under the call are not
                // redialled in a tight loop; the deadline still ends it.
                let pause = Duration::from_millis(10u64 << resends.min(6));
                if Instant::now() + pause >= deadline {
                    return TryEnd::TimedOut;
                }
                sleep(pause).await;
            }
            let conn = match self.connection(deadline).await {
                Ok(c) => c,
                Err(e) if !self.ever_connected.load(Ordering::Relaxed) => {
                    return TryEnd::Finished(Err(e))
                }
                Err(e) => return TryEnd::Unconnected(e),
            };
            let (tx, rx) = oneshot::channel();
            // (The registry's lock is released before the match: the
            // `Closed` arm locks it again.)
            let registered = conn.pending().register(xid, tx);
            match registered {
                Ok(()) => {}
                Err(RegisterError::Closed(reason)) => {
                    // Nothing was sent. Mark it closed (it already is,
                    // unless `close` is still on its way) so the next
                    // `connection` dials anew.
                    tracing::debug!(
                        "{}: xid {xid:#x} found its connection closing ({reason}); sending on the next",
                        proc_id.name
                    );
                    conn.close(Failure::Dropped(reason));
                    resends += 1;
                    continue;
                }
                Err(RegisterError::DuplicateXid(x)) => {
                    return TryEnd::Finished(Err(Error::Protocol(format!(
                        "xid {x:#x} is already in flight"
                    ))))
                }
            }
            // If this future is dropped while waiting (the caller gave
            // up), the call must not stay registered.
            let registration = Registration { conn: &conn, xid };
            if conn.tx.send(call.clone()).is_err() {
                // The writer stopped: the connection is (being) closed;
                // make sure no caller picks it again.
                conn.close(Failure::Dropped("the connection's writer stopped".into()));
                resends += 1;
                continue;
            }
            if std::mem::replace(sent, true) {
                CallCounters::add(&self.counters.retransmissions, 1);
                tracing::debug!("{}: retransmitted xid {xid:#x}", proc_id.name);
            }
            let outcome = timeout_at(deadline, rx).await;
            drop(registration);
            let lost = |reason: String| Error::Connection {
                what: format!("{} to {}", proc_id.name, self.addr),
                source: io::Error::new(io::ErrorKind::ConnectionAborted, reason),
            };
            break match outcome {
                Ok(Ok(Ok(reply))) => TryEnd::Finished(Ok(reply)),
                Ok(Ok(Err(Failure::Reply(ReplyError::Rejected(error))))) => {
                    TryEnd::Finished(Err(Error::Rpc {
                        what: proc_id.name.into(),
                        error,
                    }))
                }
                Ok(Ok(Err(Failure::Reply(ReplyError::Malformed(m)))))
                | Ok(Ok(Err(Failure::Stream(m)))) => {
                    TryEnd::Finished(Err(Error::Protocol(format!("{}: {m}", proc_id.name))))
                }
                Ok(Ok(Err(Failure::Dropped(reason)))) => {
                    tracing::debug!(
                        "{}: xid {xid:#x}: {reason}; sending on the next connection",
                        proc_id.name
                    );
                    resends += 1;
                    continue;
                }
                Ok(Ok(Err(Failure::Source(e)))) => {
                    let e = Arc::try_unwrap(e)
                        .unwrap_or_else(|e| io::Error::new(e.kind(), e.to_string()));
                    TryEnd::Finished(Err(Error::Source(e)))
                }
                Ok(Ok(Err(Failure::Lost(reason)))) => TryEnd::Lost(lost(reason)),
                Ok(Err(_)) => TryEnd::Lost(lost("connection dropped".into())),
                Err(_) => {
                    CallCounters::add(&self.counters.timeouts, 1);
                    // No reply in time: the connection may be half-open
                    // or the server wedged; start afresh. The other calls
                    // on it go again without losing a try.
                    conn.close(Failure::Dropped(format!(
                        "another call got no reply within {:?}",
                        self.settings.timeout
                    )));
                    TryEnd::TimedOut
                }
            };
        }
    }
}

/// How one try of a call ended.
enum TryEnd {
    /// With a reply or an error that retrying cannot fix.
    Finished(Result<RpcReply>),
    /// The connection failed under the call.
    Lost(Error),
    /// No reply by the try's deadline.
    TimedOut,
    /// No connection could be made by the try's deadline.
    Unconnected(Error),
}

/// A call's registration on a connection, cancelled when dropped (after
/// its reply arrived this is a no-op).
struct Registration<'a> {
    conn: &'a Conn,
    xid: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.conn.pending().cancel(self.xid);
    }
}

impl Drop for RpcClient {
    fn drop(&mut self) {
        self.disconnect();
    }
}

mod error;
pub mod exchange;
mod payload;
mod send;
#[cfg(test)]
mod tests;
