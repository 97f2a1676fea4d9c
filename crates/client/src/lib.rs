//! An NFSv3 client library on tokio: mount an export from any NFSv3
//! server and use its files and directories without a kernel mount or
//! privileges.
//!
//! ```no_run
//! # async fn demo() -> nfsl_client::Result<()> {
//! use nfsl_client::{ClientConfig, Nfs, NfsUrl};
//! let url = NfsUrl::parse("nfs://127.0.0.1/srv/export/dir?version=3&nfsport=2049&mountport=2049")?;
//! let (nfs, dir) = Nfs::connect(&url, ClientConfig::default()).await?;
//! let file = nfs.create(&format!("{dir}/hello.txt")).await?;
//! file.write_at(b"hello\n", 0).await?;
//! file.close().await?; // COMMIT: durable now
//! for entry in nfs.read_dir(&dir).await? {
//!     println!("{}", entry.name);
//! }
//! # Ok(()) }
//! ```
//!
//! What it does:
//! - connects from a libnfs-style URL ([`NfsUrl`]) or from parts: ports
//!   from the URL or the portmapper, MOUNT v3 (MNT, UMNT, EXPORT), the
//!   export found as the longest prefix of the path, AUTH_SYS from a
//!   privileged source port when root ([`ClientConfig`]);
//! - every NFSv3 procedure as a typed call ([`Nfs3Procedures`]) and a
//!   path API on [`Nfs`] (stat, read_dir / [`ReadDir`] over READDIRPLUS, mkdir,
//!   remove, rename, symlink, link, setattr, fs_stat, open/create);
//! - pipelining: many calls in flight on one connection, matched by xid;
//!   [`File::read_at`]/[`File::write_at`] split into rsize/wsize pieces
//!   (from FSINFO) with `io_window` in flight. READ data is copied from
//!   the reply record (read from the socket straight into it) into the
//!   caller's buffer, or not copied at all with [`File::read_at_bytes`],
//!   which hands out slices of the records; WRITE data is copied once
//!   into the journal (not at all with [`File::write_at_bytes`]) and sent
//!   from there, calls batched into one vectored write;
//!   [`File::write_from_file`] sends a local file's range ([`FileRange`])
//!   with `sendfile(2)`, never through the process's memory, and journals
//!   the range instead of the data. Large buffers are recycled, so
//!   streaming does not fault in fresh memory;
//! - data safety: writes go UNSTABLE; each [`File`] keeps unstable data
//!   with the write verifier it was written under until a COMMIT returns
//!   that verifier, and re-sends it when a WRITE or COMMIT reply shows the
//!   verifier changed (the server restarted). [`File::sync`] and
//!   [`File::close`] make everything stable; `max_unstable_bytes` bounds
//!   the data kept in memory, and 1 GiB the ranges of a local file kept
//!   instead (a COMMIT is sent early, at half a bound, while the writes go
//!   on, and WRITEs wait for it at the bound);
//! - LOCALIO: when the server shares this host (the LOCALIO handshake
//!   succeeds at mount), READ, WRITE and COMMIT go to the exported file
//!   through fds the server opened for this client, on an io_uring IO
//!   engine, with direct IO by policy; any failure there redoes the IO over
//!   RPC and re-probes later. Knobs `localio=auto|on|off` and
//!   `direct=auto|always|never` ([`ClientConfig`], URL options); counters
//!   in [`ClientStats`]. The semantics (journal, restarts) are in [`local`];
//! - failures: a per-try timeout, reconnection with backoff after a lost
//!   connection, retransmission with the original xid (the server's
//!   duplicate request cache makes that safe for non-idempotent calls),
//!   `retries` tries, then [`Error::TimedOut`] or [`Error::Connection`]
//!   (a try that times out also closes the connection, which may be
//!   half-open); `NFS3ERR_JUKEBOX` is retried after growing pauses.
//!   NFS failures are [`Error::Nfs`] with the `nfsstat3`
//!   ([`Error::kind`]: `NotFound`, `PermissionDenied`, `Stale`, ...);
//!   malformed replies are [`Error::Protocol`]; nothing panics and no
//!   length from the network is allocated before it is checked
//!   (replies are capped at [`MAX_REPLY_RECORD`] bytes).
//!
//! - front ends over the client (the FUSE mount): [`Nfs::with_identity`]
//!   makes a session of the same mount that speaks as another AUTH_SYS
//!   identity (so a multi-user front end sends each user's requests as
//!   that user), and [`File::local_backing`] hands out the fd the server
//!   opened for a file on the LOCALIO path ([`LocalBacking`]), for a caller
//!   that lets the kernel do the IO on it (FUSE passthrough);
//! - LOCALIO probing ([`Nfs::localio_probe`]): on the server's host, a
//!   handshake over the server's local socket ([`localio`], the
//!   `nfsl-localio` crate) plus `UUID_IS_LOCAL` on the NFS connection
//!   yields a [`localio::LocalioChannel`] that opens files by handle and
//!   returns their fds; [`Nfs::call_raw`] calls any program on the NFS
//!   connection. The file API routes READ, WRITE and COMMIT through those
//!   fds (see LOCALIO above).
//!
//! How it is built: the RPC connection is `nfsl-transport`'s client side
//! (`nfsl_transport::client::RpcClient`, the same crate, socket set-up,
//! record reading and buffer pool as the server's), whose logic is sans-IO
//! values you feed bytes to ([`exchange`]: xid allocation, call encoding,
//! matching replies to pending calls; record reassembly is
//! `nfsl_rpc::RecordDecoder`, pull-style so reply payloads are read
//! straight into their records) while its tokio part only owns sockets and
//! tasks (a reader and a batching writer per connection). This crate adds
//! the NFS semantics on top. Hand-written rather than generated: the XDR, RPC and
//! NFSv3 types come from nfsl's own `nfsl-xdr`, `nfsl-rpc` and
//! `nfsl-proto` crates, whose decoders bound every length.
//!
//! What it deliberately does not do: NFSv2 or NFSv4, UDP, RPCSEC_GSS,
//! NLM locking, attribute or data caching (every call goes to the
//! server), crossing into other exports, or following symbolic links
//! that lead outside the export. A retransmitted non-idempotent call to a
//! server that lost its duplicate request cache (a restart) may report
//! e.g. `NotFound` for a REMOVE that did happen, as with any NFSv3 client.

#![deny(missing_docs)]

mod backing;
mod config;
mod dir;
mod error;
mod file;
mod file_stats;
mod journal;
pub mod local;
mod localio_probe;
mod mount;
mod names;
mod open;
mod paths;
mod portmap;
mod procedures;
mod rpc_route;
mod session;
mod stats;
mod types;
mod url;
mod window;

pub use backing::LocalBacking;
pub use config::{ClientConfig, PortPolicy};
pub use dir::ReadDir;
pub use error::{nfsstat_name, Error, ErrorKind, Result, RpcError};
pub use file::{File, FileStats};
pub use local::{DirectPolicy, LocalioMode};
pub use localio_probe::NotLocal;
pub use names::MAX_NAME_LEN;
/// The LOCALIO local channel (handshake states, [`localio::LocalFile`]).
pub use nfsl_localio as localio;
/// The sans-IO client side of ONC RPC (xid allocation, call encoding,
/// reply matching), from `nfsl-transport`.
pub use nfsl_transport::client::exchange;
pub use nfsl_transport::client::MAX_REPLY_RECORD;
pub use nfsl_transport::client::{FileRange, Payload};
pub use open::OpenOptions;
pub use portmap::{rpcbind_getport, PMAP_PORT};
pub use procedures::Nfs3Procedures;
pub use session::Nfs;
pub use stats::ClientStats;
pub use types::{DirEntry, FileHandle, FileType, FsInfo, FsStat, Metadata, SetAttr, SetTime};
pub use url::{NfsUrl, UrlError};

/// The NFSv3 and MOUNT v3 wire types, for use with [`Nfs3Procedures`].
pub use nfsl_proto::{mount3, nfs3, NfsResult};

/// Compile-time check: the handles and the futures of their methods can be
/// sent to other tasks (`tokio::spawn`).
#[cfg(test)]
#[allow(dead_code)]
fn handles_and_futures_are_send(nfs: &Nfs, file: &File, url: &NfsUrl) {
    fn is_send<T: Send + Sync>(_: &T) {}
    fn future_is_send<T: Send>(_: T) {}
    is_send(nfs);
    is_send(file);
    future_is_send(Nfs::connect(url, ClientConfig::default()));
    future_is_send(nfs.read_dir("/"));
    future_is_send(nfs.remove_dir_all("/x"));
    future_is_send(nfs.create("/x"));
    let mut buf = [0u8; 4];
    future_is_send(file.read_at(&mut buf, 0));
    future_is_send(file.read_at_bytes(0, 4));
    future_is_send(file.write_at(b"x", 0));
    future_is_send(file.sync());
}
