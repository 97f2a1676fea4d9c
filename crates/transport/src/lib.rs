//! ONC RPC over TCP for nfsl, on tokio: the server side and the client side.
//!
//! It accepts connections, reassembles record-marked calls (RFC 5531 §11)
//! with a bounded record size, answers every transport-level condition
//! itself (`RPC_MISMATCH`, `PROG_UNAVAIL`, `PROG_MISMATCH`, `GARBAGE_ARGS`
//! for undecodable headers, `AUTH_BADCRED`), runs the remaining calls
//! concurrently on tokio's blocking pool through the synchronous
//! [`RpcService`](nfsl_rpc_service::RpcService) trait (a call the service
//! can finish without waiting, [`try_call`](nfsl_rpc_service::RpcService::try_call),
//! and a quick call alone on its connection run on the thread that read
//! it), and writes replies as soon as each call finishes,
//! out of order, from the thread that ran it; file data placed in the
//! results ([`Results::push_file`](nfsl_rpc_service::Results::push_file)) is sent with `sendfile`. Per
//! connection, calls in flight are bounded, so a client that floods
//! requests or stops reading replies gets backpressure.
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
//! What a peer may hold is bounded ([`TransportConfig`]): connections per
//! source address and in total (more are closed when accepted), idle
//! connections are reaped, memory for partial records (held before a
//! call can be authenticated) is charged to a server-wide budget and a
//! per-address share, and replies a peer leaves unread pause the reading
//! of its requests (back-pressure); [`serve_with_stats`] reports it all.
//! The duplicate request cache is keyed by client address and port, xid,
//! program, version, procedure and an argument checksum, and consulted
//! only after the credential is accepted and the service admits the
//! caller ([`RpcService::may_replay`](nfsl_rpc_service::RpcService::may_replay)).
//!
//! The client side lives here too ([`client`]: [`client::RpcClient`], one
//! connection with many calls in flight, xid matching, reconnection and
//! retransmission), with the same socket set-up ([`socket`]), record
//! reading and buffer pool ([`pool`]) as the server, as one endpoint
//! serves both sides in quinn.
//!
//! What it deliberately does not do: UDP, RPCSEC_GSS, TLS, rpcbind
//! registration, and binding server sockets (the caller passes a bound
//! listener, so it knows the address, e.g. after binding port 0).

#![deny(missing_docs)]
// `unsafe` only where no safe crate wraps a system call (SO_RCVLOWAT),
// allowed there alone.
#![deny(unsafe_code)]

pub mod client;
mod config;
mod connection;
mod dispatch;
mod limits;
pub mod pool;
mod server;
pub mod socket;
mod writer;

pub use config::TransportConfig;
pub use limits::TransportStats;
pub use pool::{BufferPool, PoolBuffers, PooledBuf};
pub use server::{serve, serve_with_stats};
