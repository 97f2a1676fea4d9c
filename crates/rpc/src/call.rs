//! The call message header (`rpc_msg` with `mtype == CALL`, RFC 5531 §9)
//! and the triage a server needs when it cannot be decoded.

use nfsl_xdr::{Decoder, Encoder, Xdr, XdrError};

use crate::auth::OpaqueAuth;
use crate::{MsgType, RPC_VERSION};

/// Everything in a call message before the procedure's arguments.
///
/// Its XDR form starts with the xid and `msg_type` CALL; [`Xdr::decode`]
/// checks that the message is a CALL but accepts any `rpc_version` (a server
/// uses [`CallHeader::decode_prefix`], which also rejects versions other
/// than 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHeader {
    /// Transaction id, echoed in the reply.
    pub xid: u32,
    /// RPC protocol version; 2 for RFC 5531.
    pub rpc_version: u32,
    /// Program number.
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure number.
    pub procedure: u32,
    /// Who the caller claims to be.
    pub credential: OpaqueAuth,
    /// Proof of the credential.
    pub verifier: OpaqueAuth,
}

impl Xdr for CallHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.xid);
        out.put_u32(MsgType::Call as u32);
        out.put_u32(self.rpc_version);
        out.put_u32(self.program);
        out.put_u32(self.version);
        out.put_u32(self.procedure);
        self.credential.encode(out);
        self.verifier.encode(out);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        let xid = d.u32()?;
        let mtype = d.u32()?;
        if mtype != MsgType::Call as u32 {
            return Err(XdrError::InvalidDiscriminant {
                value: mtype,
                type_name: "CallHeader msg_type",
            });
        }
        Ok(CallHeader {
            xid,
            rpc_version: d.u32()?,
            program: d.u32()?,
            version: d.u32()?,
            procedure: d.u32()?,
            credential: OpaqueAuth::decode(d)?,
            verifier: OpaqueAuth::decode(d)?,
        })
    }
}

/// Why a record is not a decodable RPC version 2 call, with as much of the
/// header as was readable so a server can choose its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcDecodeError {
    /// Fewer than 4 bytes: not even an xid, so nothing can be answered.
    #[error("RPC message shorter than an xid")]
    NoXid,
    /// The message is not a CALL (`msg_type` is `None` if it was missing).
    /// Servers ignore such messages.
    #[error("RPC message {xid:#x} is not a call (msg_type {msg_type:?})")]
    NotACall {
        /// The message's xid.
        xid: u32,
        /// The `msg_type` found, if there was one.
        msg_type: Option<u32>,
    },
    /// A CALL with an `rpcvers` other than 2; answer `RPC_MISMATCH(2, 2)`.
    #[error("RPC call {xid:#x} has rpc version {rpc_version}, not 2")]
    RpcVersionMismatch {
        /// The call's xid.
        xid: u32,
        /// The version it asked for.
        rpc_version: u32,
    },
    /// A version-2 CALL whose remaining header (program, version, procedure,
    /// credential, verifier) is truncated or malformed; knfsd answers
    /// `GARBAGE_ARGS`.
    #[error("RPC call {xid:#x} has a malformed header: {error}")]
    BadHeader {
        /// The call's xid.
        xid: u32,
        /// What was wrong.
        error: XdrError,
    },
}

impl RpcDecodeError {
    /// The xid, if the message had one.
    pub fn xid(&self) -> Option<u32> {
        match self {
            RpcDecodeError::NoXid => None,
            RpcDecodeError::NotACall { xid, .. }
            | RpcDecodeError::RpcVersionMismatch { xid, .. }
            | RpcDecodeError::BadHeader { xid, .. } => Some(*xid),
        }
    }
}

impl CallHeader {
    /// Decodes the header of a call record and returns it with the
    /// procedure arguments that follow it (borrowed, not copied).
    ///
    /// The checks happen in wire order: xid, `msg_type` CALL, `rpcvers` 2,
    /// then the rest of the header; the error says how far it got.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(CallHeader, &[u8]), RpcDecodeError> {
        let mut d = Decoder::new(bytes);
        let xid = d.u32().map_err(|_| RpcDecodeError::NoXid)?;
        let mtype = d.u32().ok();
        if mtype != Some(MsgType::Call as u32) {
            return Err(RpcDecodeError::NotACall {
                xid,
                msg_type: mtype,
            });
        }
        let bad = |error| RpcDecodeError::BadHeader { xid, error };
        let rpc_version = d.u32().map_err(bad)?;
        if rpc_version != RPC_VERSION {
            return Err(RpcDecodeError::RpcVersionMismatch { xid, rpc_version });
        }
        let header = CallHeader {
            xid,
            rpc_version,
            program: d.u32().map_err(bad)?,
            version: d.u32().map_err(bad)?,
            procedure: d.u32().map_err(bad)?,
            credential: OpaqueAuth::decode(&mut d).map_err(bad)?,
            verifier: OpaqueAuth::decode(&mut d).map_err(bad)?,
        };
        Ok((header, d.rest()))
    }

    /// Appends this header followed by already-encoded `args`: a complete
    /// call message, ready to be framed.
    pub fn encode_call(&self, args: &[u8], out: &mut Vec<u8>) {
        self.encode(out);
        out.extend_from_slice(args);
    }
}

#[cfg(test)]
mod tests;
