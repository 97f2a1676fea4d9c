//! How a client call fails, as the transport sees it; the client library
//! maps these onto its own error type.

use std::io;

use nfsl_rpc::AuthStat;

/// An RPC-level rejection (RFC 5531 `accept_stat` / `reject_stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// `PROG_UNAVAIL`: the server does not serve this program.
    #[error("program not available on the server (PROG_UNAVAIL)")]
    ProgUnavail,
    /// `PROG_MISMATCH`: the server serves other versions.
    #[error("program version not served (PROG_MISMATCH, server has {low}..={high})")]
    ProgMismatch {
        /// Lowest version served.
        low: u32,
        /// Highest version served.
        high: u32,
    },
    /// `PROC_UNAVAIL`: no such procedure.
    #[error("procedure not available (PROC_UNAVAIL)")]
    ProcUnavail,
    /// `GARBAGE_ARGS`: the server could not decode the arguments.
    #[error("server could not decode the arguments (GARBAGE_ARGS)")]
    GarbageArgs,
    /// `SYSTEM_ERR`: the server failed internally.
    #[error("server system error (SYSTEM_ERR)")]
    SystemErr,
    /// `RPC_MISMATCH`: the server does not speak RPC version 2.
    #[error("RPC version mismatch (server has {low}..={high})")]
    RpcMismatch {
        /// Lowest RPC version supported.
        low: u32,
        /// Highest RPC version supported.
        high: u32,
    },
    /// `AUTH_ERROR`: the credential was refused.
    #[error("authentication refused (AUTH_ERROR {0:?})")]
    AuthError(AuthStat),
}

/// Why an RPC call failed (after every retry the transport makes).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server did not answer in time, after every retransmission.
    #[error("{what}: no reply from the server after {tries} tries (timed out)")]
    TimedOut {
        /// The call that timed out, e.g. `"NFS READ"`.
        what: String,
        /// How many times it was sent.
        tries: u32,
    },
    /// The connection could not be made or was lost, after every retry.
    #[error("{what}: {source}")]
    Connection {
        /// What was being done (`"connecting to 127.0.0.1:2049"`, ...).
        what: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The server rejected the call at the RPC level.
    #[error("{what}: {error}")]
    Rpc {
        /// The call, e.g. `"NFS GETATTR"`.
        what: String,
        /// The RPC-level failure.
        error: RpcError,
    },
    /// The server sent something that is not a valid reply.
    #[error("malformed reply from the server: {0}")]
    Protocol(String),
    /// A call the transport refuses before sending anything.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The local file a WRITE's data comes from could not be read (or no
    /// longer has the range).
    #[error("reading the data to write: {0}")]
    Source(#[source] io::Error),
}

/// The result of a client call.
pub type Result<T> = std::result::Result<T, CallError>;
