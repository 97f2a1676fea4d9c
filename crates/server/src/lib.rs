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
//! It does not open sockets or frame records (that is `nfsl-transport`),
//! decode RPC or XDR (`nfsl-rpc`, `nfsl-proto`), or speak NFSv4.
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
#[cfg(test)]
mod localio_tests;
mod mount3;
pub mod names;
mod nfs3;
pub mod reload;
#[cfg(test)]
mod reload_tests;
mod server;
pub mod state;
#[cfg(test)]
mod testkit;

pub use localio::LocalioAuthorizer;
pub use reload::{ExportsHandle, ReloadSummary};
pub use server::{NfsServer, ServerConfig, ServerError};
