//! ONC RPC version 2 (RFC 5531) for nfsl, as pure data transformations.
//!
//! What it provides, for both a server (decode calls, encode replies) and a
//! client (encode calls, decode replies):
//! - [`CallHeader`] and [`CallHeader::decode_prefix`], which splits a call
//!   record into its header and borrowed arguments and, when it cannot,
//!   says how far it got so a server can answer `RPC_MISMATCH` or
//!   `GARBAGE_ARGS` or stay silent;
//! - the reply model ([`ReplyBody`], [`AcceptedReply`], [`RejectedReply`]
//!   and the status enums), [`encode_reply`], [`encode_success_header`]
//!   (results are appended in place, never copied) and [`decode_reply`];
//! - authentication: [`OpaqueAuth`], [`AuthSysParams`] and [`Auth`];
//! - record marking for streams (RFC 5531 §11): [`RecordDecoder`], the one
//!   reassembler of both sides, pull-style (the reader asks where the next
//!   bytes go, [`ReadTarget`], and reads the payload straight into its
//!   record) with a push adapter for bytes already in a slice; it rejects
//!   oversized records before buffering them; and framing helpers;
//! - a duplicate request cache ([`DuplicateRequestCache`], [`DrcKey`]).
//!
//! What it deliberately does not do: any IO, clocks, threads or locks
//! (the `nfsl-transport` crate runs this over TCP); RPCSEC_GSS, AUTH_DH or
//! AUTH_SHORT (other flavours are surfaced as [`Auth::Other`] for the
//! caller to reject); verifier checking; UDP; portmapper/rpcbind.

#![deny(missing_docs)]
// Nothing here needs `unsafe` (system calls, where any, go through rustix).
#![forbid(unsafe_code)]

mod auth;
mod call;
mod drc;
mod record;
mod reply;

#[cfg(test)]
mod proptests;

pub use auth::{
    Auth, AuthFlavor, AuthSysParams, OpaqueAuth, MAX_AUTH_BODY, MAX_AUTH_SYS_GIDS, MAX_MACHINE_NAME,
};
pub use call::{CallHeader, RpcDecodeError};
pub use drc::{args_checksum, DrcKey, DrcLookup, DuplicateRequestCache, CHECKSUM_PREFIX};
pub use record::{
    build_record, encode_record_marker, frame_record, FreshBuffers, ReadTarget, RecordBuffers,
    RecordDecoder, RecordError, DEFAULT_MAX_FRAGMENTS, LAST_FRAGMENT, MAX_FRAGMENT_LEN,
};
pub use reply::{
    decode_reply, encode_reply, encode_success_header, AcceptStat, AcceptedReply, AuthStat,
    RejectStat, RejectedReply, ReplyBody, ReplyDecodeError, ReplyStat,
};

/// The RPC protocol version this crate speaks (`rpcvers`).
pub const RPC_VERSION: u32 = 2;

nfsl_xdr::xdr_enum! {
    /// The message direction (`msg_type`).
    pub enum MsgType {
        /// `CALL`: a request.
        Call = 0,
        /// `REPLY`: a response.
        Reply = 1,
    }
}
