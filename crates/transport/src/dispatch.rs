//! Per-call logic, independent of sockets: triage a record into a reply, a
//! silent drop or a call to execute; execute it; consult the duplicate
//! request cache; build the framed reply.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use nfsl_rpc::{
    build_record, encode_record_marker, encode_reply, encode_success_header, AcceptedReply, Auth,
    AuthStat, CallHeader, DrcKey, DrcLookup, DuplicateRequestCache, OpaqueAuth, RejectedReply,
    ReplyBody, RpcDecodeError, MAX_FRAGMENT_LEN, RPC_VERSION,
};
use tracing::{debug, error};

use crate::pool::{BufferPool, PooledBuf};
use nfsl_rpc_service::Results;
use nfsl_rpc_service::{CallContext, CallOutcome, RpcService};

/// The server-wide duplicate request cache; replies are stored framed.
pub(crate) type Drc = Mutex<DuplicateRequestCache<DrcKey, Bytes>>;

/// Spare large buffers a server keeps: enough for the WRITEs (or queued
/// READ replies) a streaming client keeps in flight (8-16 of 1 MiB) to
/// cycle through, so never more than a few tens of MiB beyond what calls
/// in flight use.
const POOL_BUFFERS: usize = 16;

/// State shared by every connection of one server.
pub(crate) struct ServerCore<S> {
    pub(crate) service: Arc<S>,
    pub(crate) drc: Drc,
    /// Large buffers (records, queued replies), recycled.
    pub(crate) buffers: Arc<BufferPool>,
}

impl<S> ServerCore<S> {
    pub(crate) fn new(service: Arc<S>, drc_capacity: usize) -> Self {
        ServerCore {
            service,
            drc: Mutex::new(DuplicateRequestCache::new(drc_capacity)),
            buffers: BufferPool::new(POOL_BUFFERS),
        }
    }

    fn drc(&self) -> MutexGuard<'_, DuplicateRequestCache<DrcKey, Bytes>> {
        // The cache stays consistent even if a holder panicked: every
        // operation completes or leaves it unchanged.
        self.drc.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A framed reply ready to write: `head` (record marker and RPC header, or
/// the whole reply) followed by `body` (results, possibly empty), so large
/// results are written as they are, never copied behind a header.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) head: Bytes,
    pub(crate) body: Results,
}

impl Reply {
    pub(crate) fn whole(bytes: impl Into<Bytes>) -> Reply {
        Reply {
            head: bytes.into(),
            body: Results::new(),
        }
    }

    fn accepted(xid: u32, stat: AcceptedReply<'_>) -> Reply {
        Reply::message(
            xid,
            &ReplyBody::Accepted {
                verifier: OpaqueAuth::NONE,
                stat,
            },
        )
    }

    fn denied(xid: u32, rejected: RejectedReply) -> Reply {
        Reply::message(xid, &ReplyBody::Denied(rejected))
    }

    fn message(xid: u32, body: &ReplyBody<'_>) -> Reply {
        Reply::whole(build_record(|out| encode_reply(xid, body, out)))
    }

    fn success(xid: u32, results: Results) -> Reply {
        let mut head = Vec::with_capacity(28);
        head.extend_from_slice(&[0; 4]);
        encode_success_header(xid, &OpaqueAuth::NONE, &mut head);
        let len = head.len() - 4 + results.wire_len();
        if len > MAX_FRAGMENT_LEN {
            error!(
                xid,
                len, "reply too large for one fragment; answering SYSTEM_ERR"
            );
            return Reply::accepted(xid, AcceptedReply::SystemErr);
        }
        head[..4].copy_from_slice(&encode_record_marker(len as u32, true));
        Reply {
            head: Bytes::from(head),
            body: results,
        }
    }

    /// The reply as one contiguous buffer (copies `body` and reads its
    /// file ranges in; used for the small replies of non-idempotent calls
    /// kept in the cache).
    fn flatten(self) -> std::io::Result<Bytes> {
        if self.body.wire_len() == 0 {
            return Ok(self.head);
        }
        let body = self.body.into_bytes()?;
        let mut all = Vec::with_capacity(self.head.len() + body.len());
        all.extend_from_slice(&self.head);
        all.extend_from_slice(&body);
        Ok(Bytes::from(all))
    }
}

/// A call that passed every transport-level check.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) ctx: CallContext,
    record: PooledBuf,
    args_start: usize,
    drc_key: Option<DrcKey>,
}

impl Call {
    /// The XDR arguments after the call header.
    fn args(&self) -> &[u8] {
        self.record.get(self.args_start..).unwrap_or_default()
    }
}

/// What to do with one record.
#[derive(Debug)]
pub(crate) enum Triage {
    /// Send nothing.
    Drop,
    /// Send this reply without involving the service.
    Reply(Reply),
    /// Run the call on the blocking pool.
    Execute(Call),
}

/// Decides what to do with a record received from `peer` on `local`.
pub(crate) fn triage<S: RpcService>(
    shared: &ServerCore<S>,
    record: PooledBuf,
    peer: SocketAddr,
    local: SocketAddr,
) -> Triage {
    let (header, args) = match CallHeader::decode_prefix(&record) {
        Ok(split) => split,
        Err(e) => return triage_undecodable(e, peer),
    };
    let xid = header.xid;
    let auth = match Auth::from_credential(&header.credential) {
        Ok(Auth::Other(flavor)) => {
            debug!(xid, %peer, flavor, "unsupported auth flavor");
            return Triage::Reply(Reply::denied(
                xid,
                RejectedReply::AuthError(AuthStat::BadCred),
            ));
        }
        Ok(auth) => auth,
        Err(stat) => {
            debug!(xid, %peer, ?stat, "malformed credential");
            return Triage::Reply(Reply::denied(xid, RejectedReply::AuthError(stat)));
        }
    };
    let service = &shared.service;
    let Some(range) = service
        .programs()
        .iter()
        .find(|p| p.program == header.program)
    else {
        debug!(xid, %peer, program = header.program, "program unavailable");
        return Triage::Reply(Reply::accepted(xid, AcceptedReply::ProgUnavail));
    };
    if header.version < range.low || header.version > range.high {
        debug!(xid, %peer, program = header.program, version = header.version, "version mismatch");
        let (low, high) = (range.low, range.high);
        return Triage::Reply(Reply::accepted(
            xid,
            AcceptedReply::ProgMismatch { low, high },
        ));
    }
    let ctx = CallContext {
        xid,
        program: header.program,
        version: header.version,
        procedure: header.procedure,
        auth,
        peer,
        local,
    };
    let mut drc_key = None;
    // The cache is consulted only after the credential was accepted (above)
    // and the program admits the caller, and only under the caller's own
    // address and port.
    if service.is_non_idempotent(header.program, header.version, header.procedure)
        && service.may_replay(&ctx, args)
    {
        let key = DrcKey::new(peer, &header, args);
        match shared.drc().begin(&key) {
            DrcLookup::New => drc_key = Some(key),
            DrcLookup::InProgress => {
                debug!(xid, %peer, "retransmission of a call in progress: dropped");
                return Triage::Drop;
            }
            DrcLookup::Done(reply) => {
                debug!(xid, %peer, "retransmission: replaying cached reply");
                return Triage::Reply(Reply::whole(reply));
            }
        }
    }
    let args_start = record.len() - args.len();
    Triage::Execute(Call {
        ctx,
        record,
        args_start,
        drc_key,
    })
}

fn triage_undecodable(e: RpcDecodeError, peer: SocketAddr) -> Triage {
    debug!(%peer, error = %e, "undecodable call header");
    match e {
        RpcDecodeError::NoXid | RpcDecodeError::NotACall { .. } => Triage::Drop,
        RpcDecodeError::RpcVersionMismatch { xid, .. } => Triage::Reply(Reply::denied(
            xid,
            RejectedReply::RpcMismatch {
                low: RPC_VERSION,
                high: RPC_VERSION,
            },
        )),
        RpcDecodeError::BadHeader { xid, .. } => {
            Triage::Reply(Reply::accepted(xid, AcceptedReply::GarbageArgs))
        }
    }
}

/// Removes the in-progress DRC mark if the call ends without a stored
/// reply, including by panic, so a retransmission is not dropped forever.
struct DrcGuard<'a> {
    drc: &'a Drc,
    key: Option<DrcKey>,
}

impl Drop for DrcGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut drc = self.drc.lock().unwrap_or_else(|e| e.into_inner());
            drc.abandon(&key);
        }
    }
}

/// What running a call on the thread that read it came to.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// It finished: its framed reply, if any.
    Done(Option<Reply>),
    /// It would have to wait (see [`RpcService::try_call`]): run it with
    /// [`execute`] on a thread that may block.
    WouldBlock,
}

/// Runs `call` if it can finish without waiting ([`RpcService::try_call`]).
/// Calls kept in the duplicate request cache are never tried (their reply
/// is stored under a lock, and they are rarely cheap).
pub(crate) fn try_execute<S: RpcService>(shared: &ServerCore<S>, call: &Call) -> Attempt {
    if call.drc_key.is_some() {
        return Attempt::WouldBlock;
    }
    let ctx = &call.ctx;
    let mut results = Results::new();
    let outcome = unless_panicked(ctx, Some(CallOutcome::SystemErr), || {
        shared.service.try_call(ctx, call.args(), &mut results)
    });
    match outcome {
        None => Attempt::WouldBlock,
        Some(outcome) => Attempt::Done(reply_for(ctx, outcome, results)),
    }
}

/// What `run` returns, or `on_panic` (logged) if the service panicked: a
/// bug in one call must not take the connection's task or thread down.
fn unless_panicked<T>(ctx: &CallContext, on_panic: T, run: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
        error!(
            xid = ctx.xid,
            program = ctx.program,
            procedure = ctx.procedure,
            "service panicked"
        );
        on_panic
    })
}

/// Runs a call (blocking) and returns its framed reply, if any.
pub(crate) fn execute<S: RpcService>(shared: &ServerCore<S>, call: Call) -> Option<Reply> {
    let mut guard = DrcGuard {
        drc: &shared.drc,
        key: call.drc_key,
    };
    let ctx = &call.ctx;
    let mut results = Results::new();
    let outcome = unless_panicked(ctx, CallOutcome::SystemErr, || {
        shared.service.call(ctx, call.args(), &mut results)
    });
    let xid = ctx.xid;
    let reply = reply_for(ctx, outcome, results)?;
    match guard.key.take() {
        None => Some(reply),
        Some(key) => match reply.flatten() {
            Ok(bytes) => {
                shared.drc().complete(&key, bytes.clone());
                Some(Reply::whole(bytes))
            }
            Err(e) => {
                // A retransmission runs the call again.
                shared.drc().abandon(&key);
                error!(xid, error = %e, "cannot read the reply's file data; answering SYSTEM_ERR");
                Some(Reply::accepted(xid, AcceptedReply::SystemErr))
            }
        },
    }
}

/// The framed reply for a call that ended with `outcome` (none for
/// [`CallOutcome::Drop`]).
fn reply_for(ctx: &CallContext, outcome: CallOutcome, results: Results) -> Option<Reply> {
    debug!(
        xid = ctx.xid,
        peer = %ctx.peer,
        program = ctx.program,
        version = ctx.version,
        procedure = ctx.procedure,
        ?outcome,
        "call done"
    );
    let xid = ctx.xid;
    Some(match outcome {
        CallOutcome::Success => Reply::success(xid, results),
        CallOutcome::ProcUnavail => Reply::accepted(xid, AcceptedReply::ProcUnavail),
        CallOutcome::GarbageArgs => Reply::accepted(xid, AcceptedReply::GarbageArgs),
        CallOutcome::SystemErr => Reply::accepted(xid, AcceptedReply::SystemErr),
        CallOutcome::AuthError(stat) => Reply::denied(xid, RejectedReply::AuthError(stat)),
        CallOutcome::Drop => return None,
    })
}
