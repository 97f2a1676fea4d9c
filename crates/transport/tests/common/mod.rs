//! A test RPC program and a raw-socket client for the transport tests.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nfsl_rpc::{AuthStat, CallHeader, OpaqueAuth};
use nfsl_rpc_service::{CallContext, CallOutcome, ProgramVersions, Results, RpcService};
use nfsl_transport::{serve_with_stats, TransportConfig, TransportStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The test program: 0x20000001, versions 1..=2.
pub const PROG: u32 = 0x2000_0001;
/// Returns no results.
pub const NULL: u32 = 0;
/// Echoes its arguments verbatim; GARBAGE_ARGS if not a multiple of 4.
pub const ECHO: u32 = 1;
/// Waits at the [`Gates`] gate named by the u32 in its arguments until the
/// test opens it, then echoes its arguments.
pub const WAIT: u32 = 2;
/// Non-idempotent: increments the counter and returns its new value.
pub const INCR: u32 = 3;
/// Non-idempotent: [`WAIT`]s at the gate in its arguments, then increments.
pub const WAIT_INCR: u32 = 4;
/// Panics.
pub const PANIC: u32 = 5;
/// Returns CallOutcome::Drop.
pub const DROP: u32 = 6;
/// Returns AUTH_TOOWEAK.
pub const TOO_WEAK: u32 = 7;
/// Args `[offset, len]`: returns `len`, then `len` bytes of [`file_data`]
/// from `offset` as a file range of the results, then [`FILE_TRAILER`].
/// The range is not checked against the file's size.
pub const FILE: u32 = 8;
/// [`FILE`], but non-idempotent (its reply goes through the DRC).
pub const FILE_ONCE: u32 = 9;
/// [`WAIT`], but declared quick (so it may run on the reading thread).
pub const QUICK_WAIT: u32 = 10;
/// Args `[mode, ...]`, answered by [`RpcService::try_call`] (on the
/// reading thread) according to `mode`: [`NOW_ECHO`] echoes the arguments,
/// [`NOW_FILE`] returns the [`FILE`] results for `[0, 4096]`,
/// [`NOW_PANIC`] panics; any other mode declines, and `call` (counted in
/// [`TestService::blocking_now_calls`]) echoes them.
pub const NOW: u32 = 11;
/// [`NOW`] mode: echoed by `try_call`.
pub const NOW_ECHO: u32 = 1;
/// [`NOW`] mode: a file range placed by `try_call`.
pub const NOW_FILE: u32 = 2;
/// [`NOW`] mode: `try_call` panics.
pub const NOW_PANIC: u32 = 3;
/// The word after the file range of [`FILE`] results.
pub const FILE_TRAILER: u32 = 0xFEED_FACE;
/// Size of the file [`FILE`] reads.
pub const FILE_SIZE: usize = 3 << 20;

/// The content of the file [`FILE`] reads.
pub fn file_data() -> Vec<u8> {
    (0..FILE_SIZE)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

/// How long a test waits for something that must happen before failing
/// (a hang guard, never the property under test).
pub const HANG_GUARD: Duration = Duration::from_secs(10);

/// How long a gated call waits for its gate before giving up with
/// SYSTEM_ERR (longer than [`HANG_GUARD`], so the test fails first and
/// says why; then the blocking thread is not kept forever).
const GATE_GIVE_UP: Duration = Duration::from_secs(30);

/// Gates that [`WAIT`], [`WAIT_INCR`] and [`QUICK_WAIT`] calls block at
/// until the test opens them: tests prove concurrency and ordering by
/// causality (this call cannot have finished before the test saw that),
/// never by the clock.
pub struct Gates {
    open: Mutex<OpenGates>,
    opened: Condvar,
    state: watch::Sender<GateState>,
}

/// The gates that are open.
#[derive(Default)]
struct OpenGates {
    keys: HashSet<u32>,
    all: bool,
}

/// Which calls wait at the gates.
#[derive(Clone, Debug, Default)]
pub struct GateState {
    /// The gate each waiting call waits at, one entry per call.
    pub waiting: Vec<u32>,
    /// The most calls ever waiting at once.
    pub max_waiting: usize,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            open: Mutex::default(),
            opened: Condvar::new(),
            state: watch::Sender::new(GateState::default()),
        }
    }
}

impl Gates {
    /// Opens gate `key`: calls waiting there go on, later ones pass.
    pub fn open(&self, key: u32) {
        self.open.lock().expect("gates lock").keys.insert(key);
        self.opened.notify_all();
    }

    /// Opens every gate, for good (when a test ends, even by failing, so
    /// no call keeps a blocking thread and the runtime's shutdown waiting).
    pub fn open_all(&self) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).all = true;
        self.opened.notify_all();
    }

    /// The calls waiting now.
    pub fn now(&self) -> GateState {
        self.state.borrow().clone()
    }

    /// Waits until `ready` holds of the waiting calls (failing, saying
    /// `what`, after [`HANG_GUARD`]) and returns them.
    pub async fn until(&self, what: &str, ready: impl FnMut(&GateState) -> bool) -> GateState {
        let mut rx = self.state.subscribe();
        let state = match tokio::time::timeout(HANG_GUARD, rx.wait_for(ready)).await {
            Ok(state) => state.expect("gates alive").clone(),
            Err(_) => panic!("hang guard: never {what}; waiting: {:?}", self.now()),
        };
        state
    }

    /// Waits until exactly `n` calls wait at the gates.
    pub async fn until_waiting(&self, n: usize) -> GateState {
        self.until(&format!("{n} calls waiting"), |s| s.waiting.len() == n)
            .await
    }

    /// Blocks a call at gate `key` until it opens; false if it gave up.
    fn pass(&self, key: u32) -> bool {
        self.state.send_modify(|s| {
            s.waiting.push(key);
            s.max_waiting = s.max_waiting.max(s.waiting.len());
        });
        let open = self.open.lock().expect("gates lock");
        let (open, waited) = self
            .opened
            .wait_timeout_while(open, GATE_GIVE_UP, |open| {
                !open.all && !open.keys.contains(&key)
            })
            .expect("gates lock");
        drop(open);
        self.state.send_modify(|s| {
            if let Some(i) = s.waiting.iter().position(|k| *k == key) {
                s.waiting.swap_remove(i);
            }
        });
        !waited.timed_out()
    }
}

pub struct TestService {
    pub counter: AtomicU32,
    /// [`NOW`] calls that `try_call` declined and `call` ran.
    pub blocking_now_calls: AtomicU32,
    pub gates: Gates,
    file: tempfile::NamedTempFile,
}

impl Default for TestService {
    fn default() -> Self {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut file, &file_data()).expect("write temp file");
        TestService {
            counter: AtomicU32::default(),
            blocking_now_calls: AtomicU32::default(),
            gates: Gates::default(),
            file,
        }
    }
}

const PROGRAMS: &[ProgramVersions] = &[ProgramVersions {
    program: PROG,
    low: 1,
    high: 2,
}];

fn arg_u32(args: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(args.get(..4)?.try_into().ok()?))
}

impl RpcService for TestService {
    fn programs(&self) -> &[ProgramVersions] {
        PROGRAMS
    }
    fn is_non_idempotent(&self, _program: u32, _version: u32, procedure: u32) -> bool {
        matches!(procedure, INCR | WAIT_INCR | FILE_ONCE)
    }
    fn is_quick(&self, _program: u32, _version: u32, procedure: u32) -> bool {
        matches!(procedure, NULL | ECHO | FILE | PANIC | QUICK_WAIT)
    }
    fn try_call(
        &self,
        ctx: &CallContext,
        args: &[u8],
        results: &mut Results,
    ) -> Option<CallOutcome> {
        if ctx.procedure != NOW {
            return None;
        }
        match arg_u32(args)? {
            NOW_ECHO => {
                results.extend_from_slice(args);
                Some(CallOutcome::Success)
            }
            NOW_FILE => {
                let file = self.file.reopen().ok()?;
                results.extend_from_slice(&4096u32.to_be_bytes());
                results.push_file(file.into(), 0, 4096);
                results.extend_from_slice(&FILE_TRAILER.to_be_bytes());
                Some(CallOutcome::Success)
            }
            NOW_PANIC => panic!("test service asked to panic in try_call"),
            _ => None,
        }
    }

    fn call(&self, ctx: &CallContext, args: &[u8], results: &mut Results) -> CallOutcome {
        match ctx.procedure {
            NULL => CallOutcome::Success,
            NOW => {
                self.blocking_now_calls.fetch_add(1, Ordering::SeqCst);
                results.extend_from_slice(args);
                CallOutcome::Success
            }
            ECHO if args.len().is_multiple_of(4) => {
                results.extend_from_slice(args);
                CallOutcome::Success
            }
            ECHO => CallOutcome::GarbageArgs,
            WAIT | WAIT_INCR | QUICK_WAIT => {
                let Some(key) = arg_u32(args) else {
                    return CallOutcome::GarbageArgs;
                };
                if !self.gates.pass(key) {
                    return CallOutcome::SystemErr;
                }
                if ctx.procedure == WAIT_INCR {
                    let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
                    results.extend_from_slice(&n.to_be_bytes());
                } else {
                    results.extend_from_slice(args);
                }
                CallOutcome::Success
            }
            INCR => {
                let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
                results.extend_from_slice(&n.to_be_bytes());
                CallOutcome::Success
            }
            PANIC => panic!("test service asked to panic"),
            DROP => CallOutcome::Drop,
            TOO_WEAK => CallOutcome::AuthError(AuthStat::TooWeak),
            FILE | FILE_ONCE => {
                let (Some(offset), Some(len)) = (arg_u32(args), args.get(4..).and_then(arg_u32))
                else {
                    return CallOutcome::GarbageArgs;
                };
                let Ok(file) = self.file.reopen() else {
                    return CallOutcome::SystemErr;
                };
                results.extend_from_slice(&len.to_be_bytes());
                results.push_file(file.into(), offset.into(), len as usize);
                results.extend_from_slice(&FILE_TRAILER.to_be_bytes());
                CallOutcome::Success
            }
            _ => CallOutcome::ProcUnavail,
        }
    }
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub service: Arc<TestService>,
    pub stats: Arc<TransportStats>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: TransportConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let service = Arc::new(TestService::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let stats = Arc::new(TransportStats::default());
        let handle = tokio::spawn(serve_with_stats(
            listener,
            service.clone(),
            config,
            stats.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            service,
            stats,
            stop: Some(stop),
            handle,
        }
    }

    pub async fn default() -> TestServer {
        TestServer::start(TransportConfig::default()).await
    }

    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.service.gates.open_all();
    }
}

/// Big-endian words, for writing expected bytes by hand.
pub fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// A call message (unframed) with AUTH_NONE and the given fields.
pub fn call_msg(xid: u32, rpcvers: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    call_msg_cred(xid, rpcvers, prog, vers, proc_, &OpaqueAuth::NONE, args)
}

/// A call message (unframed) with the given credential.
pub fn call_msg_cred(
    xid: u32,
    rpc_version: u32,
    program: u32,
    version: u32,
    procedure: u32,
    credential: &OpaqueAuth,
    args: &[u8],
) -> Vec<u8> {
    let header = CallHeader {
        xid,
        rpc_version,
        program,
        version,
        procedure,
        credential: credential.clone(),
        verifier: OpaqueAuth::NONE,
    };
    let mut out = Vec::new();
    header.encode_call(args, &mut out);
    out
}

/// `msg` as a single-fragment record.
pub fn record(msg: &[u8]) -> Vec<u8> {
    let mut out = (0x8000_0000u32 | msg.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

/// A framed call to the test program, version 1, AUTH_NONE.
pub fn call(xid: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    record(&call_msg(xid, 2, PROG, 1, proc_, args))
}

/// The expected bytes of an accepted SUCCESS reply with `results`.
pub fn success(xid: u32, results: &[u8]) -> Vec<u8> {
    let mut r = words(&[xid, 1, 0, 0, 0, 0]);
    r.extend_from_slice(results);
    r
}

pub async fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).await.expect("write");
}

/// Reads one record (any number of fragments), failing after
/// [`HANG_GUARD`].
pub async fn read_record(s: &mut TcpStream) -> Vec<u8> {
    tokio::time::timeout(HANG_GUARD, async {
        let mut out = Vec::new();
        loop {
            let mut marker = [0u8; 4];
            s.read_exact(&mut marker).await.expect("read marker");
            let m = u32::from_be_bytes(marker);
            let start = out.len();
            out.resize(start + (m & 0x7fff_ffff) as usize, 0);
            s.read_exact(&mut out[start..])
                .await
                .expect("read fragment");
            if m & 0x8000_0000 != 0 {
                return out;
            }
        }
    })
    .await
    .expect("hang guard: no reply")
}

/// Sends one framed call and returns the reply record.
pub async fn roundtrip(s: &mut TcpStream, framed: &[u8]) -> Vec<u8> {
    send(s, framed).await;
    read_record(s).await
}

/// The xid of a reply record.
pub fn xid_of(reply: &[u8]) -> u32 {
    u32::from_be_bytes(reply[..4].try_into().expect("reply has an xid"))
}

/// Whether the peer closes the connection (EOF or reset) within
/// [`HANG_GUARD`].
pub async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(HANG_GUARD, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}
