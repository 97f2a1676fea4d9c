//! Reply messages (`rpc_msg` with `mtype == REPLY`, RFC 5531 §9): status
//! enums, a borrowed model of the reply body, encoders and a decoder.

use nfsl_xdr::{Decoder, Encoder, Xdr, XdrError};

use crate::auth::OpaqueAuth;
use crate::MsgType;

nfsl_xdr::xdr_enum! {
    /// Whether a reply was accepted (`reply_stat`).
    pub enum ReplyStat {
        /// `MSG_ACCEPTED`: authentication passed; see [`AcceptStat`].
        Accepted = 0,
        /// `MSG_DENIED`: see [`RejectStat`].
        Denied = 1,
    }
}

nfsl_xdr::xdr_enum! {
    /// Outcome of an accepted call (`accept_stat`).
    pub enum AcceptStat {
        /// `SUCCESS`: results follow.
        Success = 0,
        /// `PROG_UNAVAIL`: program not served.
        ProgUnavail = 1,
        /// `PROG_MISMATCH`: version not served; the supported range follows.
        ProgMismatch = 2,
        /// `PROC_UNAVAIL`: no such procedure.
        ProcUnavail = 3,
        /// `GARBAGE_ARGS`: arguments could not be decoded.
        GarbageArgs = 4,
        /// `SYSTEM_ERR`: e.g. memory allocation failure.
        SystemErr = 5,
    }
}

nfsl_xdr::xdr_enum! {
    /// Why a call was denied (`reject_stat`).
    pub enum RejectStat {
        /// `RPC_MISMATCH`: RPC version not 2; the supported range follows.
        RpcMismatch = 0,
        /// `AUTH_ERROR`: an [`AuthStat`] follows.
        AuthError = 1,
    }
}

nfsl_xdr::xdr_enum! {
    /// Why authentication failed (`auth_stat`, RFC 5531 §9 and RFC 2203).
    pub enum AuthStat {
        /// `AUTH_OK`: success (never sent in a denial).
        Ok = 0,
        /// `AUTH_BADCRED`: bad credential (seal broken).
        BadCred = 1,
        /// `AUTH_REJECTEDCRED`: client must begin a new session.
        RejectedCred = 2,
        /// `AUTH_BADVERF`: bad verifier (seal broken).
        BadVerf = 3,
        /// `AUTH_REJECTEDVERF`: verifier expired or replayed.
        RejectedVerf = 4,
        /// `AUTH_TOOWEAK`: rejected for security reasons.
        TooWeak = 5,
        /// `AUTH_INVALIDRESP`: bogus response verifier.
        InvalidResp = 6,
        /// `AUTH_FAILED`: reason unknown.
        Failed = 7,
        /// `AUTH_KERB_GENERIC`: Kerberos generic error.
        KerbGeneric = 8,
        /// `AUTH_TIMEEXPIRE`: time of credential expired.
        TimeExpire = 9,
        /// `AUTH_TKT_FILE`: problem with ticket file.
        TktFile = 10,
        /// `AUTH_DECODE`: can't decode authenticator.
        Decode = 11,
        /// `AUTH_NET_ADDR`: wrong net address in ticket.
        NetAddr = 12,
        /// `RPCSEC_GSS_CREDPROBLEM`: no credentials for user.
        RpcsecGssCredProblem = 13,
        /// `RPCSEC_GSS_CTXPROBLEM`: problem with context.
        RpcsecGssCtxProblem = 14,
    }
}

/// The status part of an accepted reply; `Success` borrows the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptedReply<'a> {
    /// `SUCCESS` with the procedure's XDR-encoded results.
    Success(&'a [u8]),
    /// `PROG_UNAVAIL`.
    ProgUnavail,
    /// `PROG_MISMATCH` with the lowest and highest versions served.
    ProgMismatch {
        /// Lowest version served.
        low: u32,
        /// Highest version served.
        high: u32,
    },
    /// `PROC_UNAVAIL`.
    ProcUnavail,
    /// `GARBAGE_ARGS`.
    GarbageArgs,
    /// `SYSTEM_ERR`.
    SystemErr,
}

/// The body of a denied reply (`rejected_reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectedReply {
    /// `RPC_MISMATCH` with the lowest and highest RPC versions supported.
    RpcMismatch {
        /// Lowest RPC version supported.
        low: u32,
        /// Highest RPC version supported.
        high: u32,
    },
    /// `AUTH_ERROR` with the reason.
    AuthError(AuthStat),
}

impl Xdr for RejectedReply {
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            RejectedReply::RpcMismatch { low, high } => {
                out.put_u32(RejectStat::RpcMismatch as u32);
                out.put_u32(low);
                out.put_u32(high);
            }
            RejectedReply::AuthError(stat) => {
                out.put_u32(RejectStat::AuthError as u32);
                stat.encode(out);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(match RejectStat::decode(d)? {
            RejectStat::RpcMismatch => RejectedReply::RpcMismatch {
                low: d.u32()?,
                high: d.u32()?,
            },
            RejectStat::AuthError => RejectedReply::AuthError(AuthStat::decode(d)?),
        })
    }
}

/// Everything in a reply after the xid and `msg_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody<'a> {
    /// `MSG_ACCEPTED`: the server's verifier and the call's status.
    Accepted {
        /// Server verifier (`AUTH_NONE` for AUTH_NONE/AUTH_SYS callers).
        verifier: OpaqueAuth,
        /// Status, with results on success.
        stat: AcceptedReply<'a>,
    },
    /// `MSG_DENIED`.
    Denied(RejectedReply),
}

/// Appends a complete reply message (xid, REPLY, body) to `out`.
pub fn encode_reply(xid: u32, body: &ReplyBody<'_>, out: &mut Vec<u8>) {
    out.put_u32(xid);
    out.put_u32(MsgType::Reply as u32);
    match body {
        ReplyBody::Accepted { verifier, stat } => {
            out.put_u32(ReplyStat::Accepted as u32);
            verifier.encode(out);
            match *stat {
                AcceptedReply::Success(results) => {
                    out.put_u32(AcceptStat::Success as u32);
                    out.extend_from_slice(results);
                }
                AcceptedReply::ProgUnavail => out.put_u32(AcceptStat::ProgUnavail as u32),
                AcceptedReply::ProgMismatch { low, high } => {
                    out.put_u32(AcceptStat::ProgMismatch as u32);
                    out.put_u32(low);
                    out.put_u32(high);
                }
                AcceptedReply::ProcUnavail => out.put_u32(AcceptStat::ProcUnavail as u32),
                AcceptedReply::GarbageArgs => out.put_u32(AcceptStat::GarbageArgs as u32),
                AcceptedReply::SystemErr => out.put_u32(AcceptStat::SystemErr as u32),
            }
        }
        ReplyBody::Denied(rejected) => {
            out.put_u32(ReplyStat::Denied as u32);
            rejected.encode(out);
        }
    }
}

/// Appends the header of a successful accepted reply: xid, REPLY,
/// MSG_ACCEPTED, `verifier`, SUCCESS. The caller appends the results right
/// after it, so they are written once and never copied.
pub fn encode_success_header(xid: u32, verifier: &OpaqueAuth, out: &mut Vec<u8>) {
    encode_reply(
        xid,
        &ReplyBody::Accepted {
            verifier: verifier.clone(),
            stat: AcceptedReply::Success(&[]),
        },
        out,
    );
}

/// A reply that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed RPC reply (xid {xid:?}): {error}")]
pub struct ReplyDecodeError {
    /// The xid, if at least 4 bytes were present.
    pub xid: Option<u32>,
    /// What was wrong.
    pub error: XdrError,
}

/// Decodes a complete reply message into its xid and body. Success results
/// are borrowed from `bytes` (everything after `SUCCESS`); every other body
/// must end exactly where its last field does.
pub fn decode_reply(bytes: &[u8]) -> Result<(u32, ReplyBody<'_>), ReplyDecodeError> {
    let mut d = Decoder::new(bytes);
    let xid = d
        .u32()
        .map_err(|error| ReplyDecodeError { xid: None, error })?;
    let wrap = |error| ReplyDecodeError {
        xid: Some(xid),
        error,
    };
    let body = decode_body(&mut d).map_err(wrap)?;
    if !matches!(
        body,
        ReplyBody::Accepted {
            stat: AcceptedReply::Success(_),
            ..
        }
    ) {
        d.finish().map_err(wrap)?;
    }
    Ok((xid, body))
}

fn decode_body<'a>(d: &mut Decoder<'a>) -> Result<ReplyBody<'a>, XdrError> {
    let mtype = d.u32()?;
    if mtype != MsgType::Reply as u32 {
        return Err(XdrError::InvalidDiscriminant {
            value: mtype,
            type_name: "reply msg_type",
        });
    }
    Ok(match ReplyStat::decode(d)? {
        ReplyStat::Accepted => {
            let verifier = OpaqueAuth::decode(d)?;
            let stat = match AcceptStat::decode(d)? {
                AcceptStat::Success => {
                    let results = d.rest();
                    d.take(results.len())?;
                    AcceptedReply::Success(results)
                }
                AcceptStat::ProgUnavail => AcceptedReply::ProgUnavail,
                AcceptStat::ProgMismatch => AcceptedReply::ProgMismatch {
                    low: d.u32()?,
                    high: d.u32()?,
                },
                AcceptStat::ProcUnavail => AcceptedReply::ProcUnavail,
                AcceptStat::GarbageArgs => AcceptedReply::GarbageArgs,
                AcceptStat::SystemErr => AcceptedReply::SystemErr,
            };
            ReplyBody::Accepted { verifier, stat }
        }
        ReplyStat::Denied => ReplyBody::Denied(RejectedReply::decode(d)?),
    })
}

#[cfg(test)]
mod tests;
