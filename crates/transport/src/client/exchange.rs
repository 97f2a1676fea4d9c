//! The client side of ONC RPC as values, without IO: xid allocation, call
//! encoding into ready-to-send records, and matching reply records to the
//! calls waiting for them.
//!
//! The tokio side ([`RpcClient`](super::RpcClient)) owns the socket and feeds this code the records a [`nfsl_rpc::RecordDecoder`]
//! produced; everything that decides
//! something lives here so it can be tested without sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use nfsl_rpc::{
    decode_reply, encode_record_marker, AcceptedReply, CallHeader, OpaqueAuth, RejectedReply,
    ReplyBody, MAX_FRAGMENT_LEN, RPC_VERSION,
};

use super::error::RpcError;
use super::payload::Payload;
use crate::pool::{BufferPool, PooledBuf};

/// Hands out transaction ids: sequential from a random start, so two
/// client processes (or two runs) do not collide in a server's duplicate
/// request cache.
#[derive(Debug)]
pub struct XidSource(AtomicU32);

impl XidSource {
    /// Starts at a random xid.
    pub fn random() -> Self {
        XidSource(AtomicU32::new(rand::random()))
    }

    /// Starts at `first` (for tests).
    pub fn starting_at(first: u32) -> Self {
        XidSource(AtomicU32::new(first))
    }

    /// The next xid.
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Identifies the procedure a call invokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    /// RPC program number.
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure number.
    pub procedure: u32,
    /// A name for messages, e.g. `"NFS READ"`.
    pub name: &'static str,
}

const ZEROS: [u8; 3] = [0; 3];

/// A call encoded as one record, ready to send and to re-send (with the
/// same xid) on a new connection. Bulk data (WRITE payloads) stays in its
/// own buffer, shared, not copied, or in its local file: the record is
/// sent as `head`, `payload` and padding (vectored writes, and
/// `sendfile(2)` for a file's range).
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    xid: u32,
    head: Bytes,
    payload: Payload,
    pad: usize,
}

impl OutgoingCall {
    /// Encodes a call: record marker, header with `credential`, the
    /// arguments `args` appends, then `payload` as the tail of the last
    /// argument (an XDR opaque whose length word `args` wrote) and its
    /// padding. Fails if the record could not be expressed in one fragment.
    pub fn encode(
        xid: u32,
        proc_id: ProcId,
        credential: &OpaqueAuth,
        args: impl FnOnce(&mut Vec<u8>),
        payload: Payload,
    ) -> Result<OutgoingCall, String> {
        let mut head = Vec::with_capacity(128);
        head.extend_from_slice(&[0; 4]);
        CallHeader {
            xid,
            rpc_version: RPC_VERSION,
            program: proc_id.program,
            version: proc_id.version,
            procedure: proc_id.procedure,
            credential: credential.clone(),
            verifier: OpaqueAuth::NONE,
        }
        .encode_call(&[], &mut head);
        args(&mut head);
        let pad = nfsl_xdr::padding(payload.len());
        let len = head.len() - 4 + payload.len() + pad;
        if len > MAX_FRAGMENT_LEN {
            return Err(format!("{} call of {len} bytes is too large", proc_id.name));
        }
        head[..4].copy_from_slice(&encode_record_marker(len as u32, true));
        Ok(OutgoingCall {
            xid,
            head: head.into(),
            payload,
            pad,
        })
    }

    /// The call's xid.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The record marker, call header and arguments before the payload.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The bulk data sent after the head (empty for most calls).
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The padding sent after the payload (0 to 3 zero bytes).
    pub fn pad(&self) -> &[u8] {
        &ZEROS[..self.pad]
    }

    /// Total bytes on the wire, marker included.
    pub fn wire_len(&self) -> usize {
        self.head.len() + self.payload.len() + self.pad
    }

    /// The record as one buffer (for tests and diagnostics; a file
    /// payload is read).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let payload = self.payload.to_bytes()?;
        Ok([&self.head[..], &payload, self.pad()].concat())
    }
}

/// A successful (accepted, `SUCCESS`) reply: the whole record, with the
/// procedure's results at `results_at`.
#[derive(Debug)]
pub struct RpcReply {
    record: PooledBuf,
    results_at: usize,
}

impl PartialEq for RpcReply {
    fn eq(&self, other: &Self) -> bool {
        self.results() == other.results()
    }
}

impl RpcReply {
    /// The procedure's XDR-encoded results.
    pub fn results(&self) -> &[u8] {
        self.record
            .as_ref()
            .get(self.results_at..)
            .unwrap_or_default()
    }

    /// Where the results start in the record.
    pub fn results_offset(&self) -> usize {
        self.results_at
    }

    /// The whole record as shared bytes, without copying (slice it to
    /// keep only a READ's data).
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self.record)
    }

    /// Returns the record's buffer to `pool` when the reply is dropped.
    pub(crate) fn recycle_into(&mut self, pool: &std::sync::Arc<BufferPool>) {
        let buf = std::mem::replace(&mut self.record, PooledBuf::new(Vec::new(), None));
        self.record = PooledBuf::new(buf.into_inner(), Some(std::sync::Arc::clone(pool)));
    }
}

/// Why a reply addressed to a pending call is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The server rejected the call at the RPC level.
    Rejected(RpcError),
    /// The reply could not be decoded.
    Malformed(String),
}

/// What a received record turned out to be.
#[derive(Debug)]
pub enum Delivery<T> {
    /// The reply to a pending call, which is no longer pending.
    Reply {
        /// The call's xid.
        xid: u32,
        /// The token registered with the call.
        token: T,
        /// The outcome.
        reply: Result<RpcReply, ReplyError>,
    },
    /// A record matching no pending call (a late reply to a call that was
    /// given up, a reply with a wrong xid, or garbage): dropped.
    Unmatched {
        /// Its xid, if it had 4 bytes.
        xid: Option<u32>,
    },
}

/// Why a call could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The connection is closed; the reason is attached.
    Closed(String),
    /// A call with this xid is already pending.
    DuplicateXid(u32),
}

/// The calls waiting for replies on one connection, keyed by xid; `T` is
/// whatever the IO side needs to wake the caller (a channel sender).
#[derive(Debug)]
pub struct PendingCalls<T> {
    calls: HashMap<u32, T>,
    closed: Option<String>,
    unmatched: u64,
}

impl<T> Default for PendingCalls<T> {
    fn default() -> Self {
        PendingCalls {
            calls: HashMap::new(),
            closed: None,
            unmatched: 0,
        }
    }
}

impl<T> PendingCalls<T> {
    /// No calls pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the reply to `xid`; refused once the connection is closed.
    pub fn register(&mut self, xid: u32, token: T) -> Result<(), RegisterError> {
        if let Some(reason) = &self.closed {
            return Err(RegisterError::Closed(reason.clone()));
        }
        if self.calls.contains_key(&xid) {
            return Err(RegisterError::DuplicateXid(xid));
        }
        self.calls.insert(xid, token);
        Ok(())
    }

    /// Stops waiting for `xid` (the caller gave up); a later reply to it
    /// will be [`Delivery::Unmatched`].
    pub fn cancel(&mut self, xid: u32) -> Option<T> {
        self.calls.remove(&xid)
    }

    /// Number of calls waiting.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is waiting.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Replies that matched nothing so far.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Whether the connection was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Classifies a complete record and, if it answers a pending call,
    /// removes that call and returns its token with the outcome.
    pub fn on_record(&mut self, record: Vec<u8>) -> Delivery<T> {
        let xid = match record.get(..4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => {
                self.unmatched += 1;
                return Delivery::Unmatched { xid: None };
            }
        };
        let Some(token) = self.calls.remove(&xid) else {
            self.unmatched += 1;
            return Delivery::Unmatched { xid: Some(xid) };
        };
        Delivery::Reply {
            xid,
            token,
            reply: classify(record),
        }
    }

    /// Closes the connection's bookkeeping: later registrations fail with
    /// `reason`, and every waiting call's token is returned so the caller
    /// can be told (it will retransmit on a new connection).
    pub fn close(&mut self, reason: impl Into<String>) -> Vec<T> {
        if self.closed.is_none() {
            self.closed = Some(reason.into());
        }
        self.calls.drain().map(|(_, t)| t).collect()
    }
}

/// Decodes a reply record addressed to a pending call.
fn classify(record: Vec<u8>) -> Result<RpcReply, ReplyError> {
    let results_at = match decode_reply(&record) {
        Err(e) => return Err(ReplyError::Malformed(e.to_string())),
        Ok((_, body)) => match body {
            ReplyBody::Accepted { stat, .. } => match stat {
                AcceptedReply::Success(results) => record.len() - results.len(),
                AcceptedReply::ProgUnavail => {
                    return Err(ReplyError::Rejected(RpcError::ProgUnavail))
                }
                AcceptedReply::ProgMismatch { low, high } => {
                    return Err(ReplyError::Rejected(RpcError::ProgMismatch { low, high }))
                }
                AcceptedReply::ProcUnavail => {
                    return Err(ReplyError::Rejected(RpcError::ProcUnavail))
                }
                AcceptedReply::GarbageArgs => {
                    return Err(ReplyError::Rejected(RpcError::GarbageArgs))
                }
                AcceptedReply::SystemErr => return Err(ReplyError::Rejected(RpcError::SystemErr)),
            },
            ReplyBody::Denied(RejectedReply::RpcMismatch { low, high }) => {
                return Err(ReplyError::Rejected(RpcError::RpcMismatch { low, high }))
            }
            ReplyBody::Denied(RejectedReply::AuthError(stat)) => {
                return Err(ReplyError::Rejected(RpcError::AuthError(stat)))
            }
        },
    };
    Ok(RpcReply {
        record: PooledBuf::new(record, None),
        results_at,
    })
}

#[cfg(test)]
mod tests;
