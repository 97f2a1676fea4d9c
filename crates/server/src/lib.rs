//! nfsl's NFSv3 and MOUNT v3 server over a local filesystem.
//!
//! This crate decides *what* the server does with a decoded request: which
//! directories are exported to whom ([`exports`]), who the caller is on the
//! local system ([`creds`]), how files are named on the wire by persistent,
//! authenticated file handles ([`handle`]), what must survive a restart
//! ([`state`]), which wire names are acceptable ([`names`]), how
//! same-host clients get files opened for them ([`localio`]), and how the
//! exports are replaced while serving ([`reload`]).
//!
//! Its programs implement `nfsl_rpc_service::RpcService`: synchronous
//! procedures that decode their arguments and encode their results with
//! `nfsl-proto`'s types (READ's data placed as a range of the open file),
//! callable from a test without a socket or a runtime. It does not open
//! sockets, frame records or parse RPC headers (`nfsl-transport`,
//! `nfsl-rpc`), link an async runtime into its procedures or io_uring at
//! all, or speak NFSv4.
//!
//! Threading model: credential switching is per OS thread, so filesystem
//! work for a request runs synchronously on one thread (e.g. inside
//! `spawn_blocking`), in this order: resolve handles as the server, then
//! assume the caller's credentials, then do the operation.

#![warn(missing_docs)]

pub mod creds;
pub mod exports;
mod filecache;
#[cfg(test)]
mod filecache_tests;
pub mod handle;
pub mod localio;
mod mount3;
pub mod names;
mod nfs3;
mod refusal_log;
pub mod reload;
mod server;
pub mod state;
#[cfg(test)]
mod testkit;

pub use localio::LocalioAuthorizer;
pub use reload::{ExportsHandle, ReloadSummary};
pub use server::{NfsServer, ServerConfig, ServerError};
