//! Message types of the protocols nfsl speaks, with their XDR encodings:
//! NFS version 3 (RFC 1813), MOUNT version 3 (RFC 1813 appendix I), the
//! LOCALIO auxiliary program (Linux `nfslocalio`, program 400122) and the
//! rpcbind registrations a server makes (RFC 1833).
//!
//! This crate is pure: it defines values and their wire form, nothing else.
//! It does not open files, resolve handles or decide policy; the `server`
//! and `client` crates do that. Decoders bound every length (names, paths,
//! handles, lists) before allocating, so any byte string can be fed to them.
//!
//! Naming follows the RFC (`Fattr3`, `Nfsstat3`, `Read3Args`, ...) so the
//! specification can be read side by side with the code.

// Nothing here needs `unsafe` (system calls, where any, go through rustix).
#![forbid(unsafe_code)]

pub mod localio;
pub mod mount3;
pub mod nfs3;
mod result;
pub mod rpcbind;

pub use result::NfsResult;

/// Largest file name or path accepted at the XDR layer. Servers enforce
/// their own, smaller limits (NAME_MAX, PATH_MAX) and answer with
/// NFS3ERR_NAMETOOLONG instead of rejecting the whole call as garbage.
pub const MAX_WIRE_NAME: usize = 8192;

/// Largest number of entries accepted when decoding an XDR list
/// (READDIR entries, DUMP and EXPORT lists). Each entry also consumes input
/// bytes, so this only guards against absurd but well-formed replies.
pub const MAX_LIST_ENTRIES: usize = 1 << 20;

#[cfg(test)]
mod tests;
