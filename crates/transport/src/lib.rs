//! ONC RPC server transport over TCP for nfsl, on tokio.
//!
//! It accepts connections, reassembles record-marked calls (RFC 5531 §11)
//! with a bounded record size, answers every transport-level condition
//! itself (`RPC_MISMATCH`, `PROG_UNAVAIL`, `PROG_MISMATCH`, `GARBAGE_ARGS`
//! for undecodable headers, `AUTH_BADCRED`), runs the remaining calls
//! concurrently on tokio's blocking pool through the synchronous
//! [`RpcService`] trait (a quick call alone on its connection runs on the
//! thread that read it), and writes replies as soon as each call finishes,
//! out of order, from the thread that ran it; file data placed in the
//! results ([`Results::push_file`]) is sent with `sendfile`. Per
//! connection, calls in flight are bounded, so a client that floods
//! requests or stops reading replies gets backpressure.
//! Non-idempotent calls go through a server-wide duplicate request cache.
//! Large buffers (records such as 1 MiB WRITEs, replies queued with their
//! file data read in) are recycled through a small bounded server-wide
//! pool rather than allocated per call.
//! [`serve`] shuts down gracefully.
//!
//! Decisions worth knowing:
//! - a record shorter than 4 bytes (no xid) or that is not a CALL is
//!   dropped silently; the connection stays up;
//! - a record over [`TransportConfig::max_record_len`] closes the
//!   connection (the stream cannot be resynchronised) after replies to
//!   calls already started have been written;
//! - the reply verifier is always `AUTH_NONE`; call verifiers are not
//!   checked.
//!
//! What it deliberately does not do: UDP, RPCSEC_GSS, TLS, rpcbind
//! registration, client-side RPC, connection limits or idle timeouts, and
//! binding sockets (the caller passes a bound listener, so it knows the
//! address, e.g. after binding port 0).

#![deny(missing_docs)]
// Nothing here needs `unsafe` (system calls, where any, go through rustix).
#![forbid(unsafe_code)]

mod buffer_pool;
mod config;
mod connection;
mod dispatch;
mod limits;
mod server;
mod writer;

pub use config::TransportConfig;
pub use limits::TransportStats;
pub use server::{serve, serve_with_stats};
