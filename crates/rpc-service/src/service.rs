//! The interface between the transport and the RPC programs it serves.

use std::net::SocketAddr;

use nfsl_rpc::{Auth, AuthStat};

use crate::results::Results;

/// One program served, with the inclusive range of versions supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramVersions {
    /// Program number.
    pub program: u32,
    /// Lowest version served.
    pub low: u32,
    /// Highest version served.
    pub high: u32,
}

/// What the transport knows about a call when it hands it to the service.
/// The program and version have already been checked against
/// [`RpcService::programs`]; the procedure has not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// Transaction id.
    pub xid: u32,
    /// Program number.
    pub program: u32,
    /// Program version (within the served range).
    pub version: u32,
    /// Procedure number.
    pub procedure: u32,
    /// The caller's credential: [`Auth::None`] or [`Auth::Sys`] (other
    /// flavours are refused with `AUTH_BADCRED` before reaching the service).
    pub auth: Auth,
    /// The client's address.
    pub peer: SocketAddr,
    /// The server address the client connected to.
    pub local: SocketAddr,
}

/// How a call ended; the transport turns it into the RPC reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// `SUCCESS`; the results are what the service appended to `results`.
    Success,
    /// `PROC_UNAVAIL`: no such procedure in this program version.
    ProcUnavail,
    /// `GARBAGE_ARGS`: the arguments could not be decoded.
    GarbageArgs,
    /// `SYSTEM_ERR`: the server failed in a way the protocol cannot express.
    SystemErr,
    /// `MSG_DENIED` / `AUTH_ERROR` with this status (e.g. `AUTH_TOOWEAK`).
    AuthError(AuthStat),
    /// Send no reply at all (the client will retransmit).
    Drop,
}

/// An RPC server's programs, as the transport sees them.
///
/// Calls are executed on tokio's blocking thread pool, many at a time, so
/// `call` may block (filesystem syscalls) and must be thread-safe. A call
/// that can finish without waiting runs on the runtime thread that read it
/// instead ([`try_call`](RpcService::try_call)), as does a call
/// [`is_quick`](RpcService::is_quick) says is quick when it is alone on its
/// connection (see there). If it panics, the panic is caught and the
/// client gets `SYSTEM_ERR`.
pub trait RpcService: Send + Sync + 'static {
    /// Programs served, each with its supported version range (used to
    /// answer `PROG_UNAVAIL` / `PROG_MISMATCH`). The first entry for a
    /// program number wins. Called for every call, so keep it cheap.
    fn programs(&self) -> &[ProgramVersions];

    /// Whether a retransmission of this call must get the original reply
    /// rather than be executed again (non-idempotent procedures such as
    /// CREATE, REMOVE, RENAME); such calls go through the duplicate request
    /// cache.
    fn is_non_idempotent(&self, program: u32, version: u32, procedure: u32) -> bool;

    /// Whether this caller may be answered from the duplicate request
    /// cache for this non-idempotent call: the transport asks before it
    /// consults the cache, so a cached reply never goes to a caller the
    /// program would refuse now (an export's client list or its `secure`
    /// port rule, after a reload too); such a call runs instead and gets
    /// the program's own refusal. Credential flavours other than
    /// `AUTH_NONE`/`AUTH_SYS` are refused before this. Default: yes.
    fn may_replay(&self, ctx: &CallContext, args: &[u8]) -> bool {
        let _ = (ctx, args);
        true
    }

    /// Whether calls to this procedure finish quickly: they may block on
    /// the local file system's ordinary work (reading metadata or data),
    /// but never wait on anything that can take long (`fsync`, locks, other
    /// clients, throttled writeback). When such a call is the only one in
    /// flight on its connection and no further request is buffered, a
    /// multi-threaded runtime runs it on the thread that read it
    /// (`block_in_place`: the runtime's other work moves to another thread),
    /// which saves a hand-off per call for a client that waits for each
    /// reply; meanwhile that connection reads no further requests. Default:
    /// no procedure is quick.
    fn is_quick(&self, program: u32, version: u32, procedure: u32) -> bool {
        let _ = (program, version, procedure);
        false
    }

    /// Executes the call only if it can finish without waiting: no disk
    /// IO (data or metadata not in memory), no lock held across IO, no
    /// change of the thread's credentials, no file closed for the last
    /// time. The transport calls it on the runtime thread that read the
    /// call, before anything else, for calls outside the duplicate request
    /// cache, so a call that qualifies (a READ of a cached file whose data
    /// is in the page cache) costs no hand-off to another thread, however
    /// many calls are in flight.
    ///
    /// `None` means the call would have to wait: the service has done
    /// nothing a client could see (nothing written, `results` left empty),
    /// and the transport runs [`call`](RpcService::call) on the blocking
    /// pool instead. `Some` is the outcome, as `call` would return it.
    /// It must stay cheap when it declines (a few memory look-ups and at
    /// most one non-blocking system call), as every eligible call pays for
    /// the attempt. Default: always `None`.
    fn try_call(
        &self,
        ctx: &CallContext,
        args: &[u8],
        results: &mut Results,
    ) -> Option<CallOutcome> {
        let _ = (ctx, args, results);
        None
    }

    /// Executes one call. `args` are the XDR arguments after the call
    /// header. On [`CallOutcome::Success`] the results are whatever was
    /// appended to `results` (which starts empty: XDR bytes, possibly with
    /// ranges of files to send from the file, see [`Results`]); otherwise
    /// `results` is ignored.
    fn call(&self, ctx: &CallContext, args: &[u8], results: &mut Results) -> CallOutcome;
}
