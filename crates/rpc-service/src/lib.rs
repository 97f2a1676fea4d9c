//! The contract between nfsl's RPC transport and the RPC programs it
//! serves (NFSv3, MOUNT v3, LOCALIO): what a call looks like to a program
//! ([`CallContext`]), how it ends ([`CallOutcome`]), what it answers
//! ([`Results`]: XDR bytes with ranges of open files placed between them)
//! and the trait a server implements ([`RpcService`]).
//!
//! It exists so that a server's procedures depend on `nfsl-rpc` and
//! `nfsl-proto` only: they are synchronous functions from arguments to
//! results that a test can call without a socket or a runtime, while
//! `nfsl-transport` (tokio) runs them over TCP.
//!
//! What it deliberately does not do: any networking, async runtime or
//! threads. The one system call here is `pread` in
//! [`Results::into_bytes_with`], for a transport (or the duplicate request
//! cache) that must hold a reply's file data in memory.

#![deny(missing_docs)]
// Nothing here needs `unsafe` (system calls, where any, go through rustix).
#![forbid(unsafe_code)]

mod results;
mod service;

pub use results::{shrunk, FileRange, Part, Results};
pub use service::{CallContext, CallOutcome, ProgramVersions, RpcService};
