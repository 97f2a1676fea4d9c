//! LOCALIO's local channel for nfsl: how a client that shares a host with
//! the NFS server proves it, and how it then gets open file descriptors
//! for exported files, with the server still deciding who may touch what.
//!
//! # The protocol
//!
//! 1. The client connects to the server's Unix-domain socket (path per
//!    NFS port, [`default_socket_path`]) and registers a fresh random
//!    16-byte [`Nonce`] ([`client::Connected::register`]).
//! 2. It calls `UUID_IS_LOCAL(nonce)` (RPC program 400122 v1, procedure 1)
//!    over its NFS connection, with AUTH_SYS. The server's RPC program
//!    marks the nonce confirmed in the shared [`NonceRegistry`], recording
//!    that NFS connection's addresses. The reply is void success whatever
//!    happened, as in Linux.
//! 3. The client asks over the socket whether its nonce was confirmed
//!    ([`client::Registered::confirm`]). Only a yes makes the channel a
//!    [`LocalioChannel`]; anything else (no socket, `PROG_UNAVAIL`, not
//!    confirmed) means "not local" and the client stays on RPC.
//! 4. On the confirmed channel the client asks to open file handles for
//!    read or read-write with its AUTH_SYS credentials; the server answers
//!    with a status, the file's direct-IO alignment and size, and passes
//!    a buffered fd plus, where the file system supports it, an
//!    `O_DIRECT` fd (`SCM_RIGHTS`). [`LocalFile`] holds them; the client
//!    turns it into its IO engine's file.
//!
//! # Security model
//!
//! *Why this proves locality.* Only processes that can reach the server's
//! socket can register a nonce: a Unix-domain socket exists only within
//! one host (or among containers that share its directory, which is the
//! point). The nonce is 122 random bits, so nobody else can guess it; a
//! `UUID_IS_LOCAL` can only confirm a nonce that was registered on the
//! socket, at most once, within [`registry::DEFAULT_TTL`]; and only the
//! socket connection that registered it learns the result. So a confirmed
//! channel is held by a same-host process that also controls an NFS
//! connection to *this* server instance (a server listening on another
//! port or host has another registry). A replayed `UUID_IS_LOCAL` (the
//! nonce crosses the network in the clear) finds the nonce confirmed or
//! spent and changes nothing; a forged nonce was never registered; a
//! nonce cannot be registered again while it is remembered (live, or in
//! the bounded list of recently spent nonces). A
//! process could hand its nonce to a remote accomplice to confirm; the
//! session then carries the accomplice's address, whose export rules
//! govern the opens, and the accomplice could have read or written the
//! same data over RPC anyway.
//!
//! *What the peer credentials add.* Over RPC, AUTH_SYS identities are
//! claims. On the socket the kernel tells the server the peer's real uid,
//! gid (`SO_PEERCRED`) and supplementary groups (`SO_PEERGROUPS`), so an
//! open is refused (`NFS3ERR_PERM`) unless the peer is root, or claims its
//! own uid and only groups it is in (primary gid and every listed gid): a
//! local user cannot obtain fds as someone else or with someone else's
//! groups, which a local user *can* do over RPC on an export without
//! `secure`.
//!
//! *What the server still checks per open* (the NFS server's
//! [`Authorizer`]): the handle is authentic and in an export; the export's
//! rules for the recorded NFS client address (`ro` gives read-only fds
//! and refuses read-write with ROFS; `root_squash`/`all_squash`/`anonuid`
//! map the claimed credentials as for RPC; `secure` requires the recorded
//! NFS connection to come from a privileged port); the file's permissions
//! for the mapped credentials; regular files only. AUTH_NONE never goes
//! local: `UUID_IS_LOCAL` with AUTH_NONE confirms nothing.
//!
//! *Who may connect.* The socket is mode 0666 by default in a 0755
//! directory ([`ListenerConfig::mode`]): every local user may try, and
//! then acts only as itself. A deployment can restrict it (mode 0660 and a
//! group, or a directory only some users can search).
//!
//! *Whom the client trusts.* The client checks the socket before it sends
//! anything ([`trust`]): its peer must be root or the client's own user,
//! and the socket and its directory must be owned by root or that peer and
//! not writable by others. It then checks every fd it receives against
//! the file's attributes fetched over the NFS connection (`nfsl-client`).
//!
//! *Limits: nobody can deny LOCALIO to others.* Connections are accepted
//! at once and closed at once when over a limit (all peers together:
//! [`ListenerConfig::max_connections`]; one non-root peer uid:
//! [`ListenerConfig::max_connections_per_uid`]), so a client never waits
//! in the backlog for a handshake; the handshake must finish within the
//! nonce lifetime ([`registry::DEFAULT_TTL`], 10 s). Live nonces are
//! bounded per non-root uid and in total, and a closed connection's nonce
//! is spent at once ([`registry`]). Frames are at most
//! [`codec::MAX_FRAME`] bytes and checked before allocation. The client
//! waits at most a couple of seconds for a probe or an open before it
//! goes on over RPC.
//!
//! # Revocation: when the rules change
//! An fd, once passed, cannot be taken back: it keeps working on its file
//! for as long as the client process holds it. It was authorized under
//! the export rules of its moment, so when those rules change (the NFS
//! server reloads its exports and an export was removed or its options or
//! client lists changed) the server ends every session that was given fds
//! through [`Revocations::revoke_all`] (its [`Authorizer::revocations`]):
//! the listener closes those connections at once, and an open that was
//! being authorized meanwhile closes its connection instead of passing
//! fds (a session without fds carries on: its opens follow the new rules
//! anyway). The client watches its channel ([`LocalioChannel::closed`]); when it
//! closes, the client drops the session's cached fds before its next IO,
//! sends that IO over RPC (which answers under the new rules, e.g. ROFS on
//! an export turned `ro`) and re-probes later, so the next session opens
//! under the new rules. The rule is deliberately coarse (any such change
//! ends every session, whichever export it concerned): sessions are cheap
//! to re-establish and rules rarely change. Between the server's change
//! and the client noticing the closed channel (a wake-up of one task), an
//! IO already on its way through a cached fd completes under the old rules,
//! as a write through an open file does on a kernel server.
//! A client that has written through an fd can still `fsync` it after its
//! session ended: the fd stays valid, and the data it took was authorized.
//!
//! # What this crate does not do
//! It does not answer RPC (the NFS server owns program 400122 and feeds
//! [`NonceRegistry::confirm`]), does not decide export rules (the
//! [`Authorizer`] does), and does not perform IO on the files (that is
//! `nfsl-io-engine`). The client-side probe over NFS lives in
//! `nfsl-client`.

#![warn(missing_docs)]
// System calls go through rustix; the one exception, `SO_PEERGROUPS`
// (which rustix does not wrap), is allowed where it is, in peercred.rs.
#![deny(unsafe_code)]

mod alignment;
pub mod client;
pub mod codec;
mod fdpass;
mod peercred;
pub mod registry;
pub mod revoke;
pub mod server;
pub mod session;
pub mod trust;

#[cfg(test)]
mod proptests;

pub use client::{LocalFile, LocalioChannel, LocalioError};
pub use codec::{Access, Creds, DioAlignment, Nonce};
pub use fdpass::WireError;
pub use registry::{Confirmation, NonceRegistry};
pub use revoke::Revocations;
pub use server::{
    default_socket_path, socket_candidates, Authorizer, ListenerConfig, LocalioListener,
    OpenRefusal, OpenedFile,
};
pub use session::{ClaimRefused, OpenRequest, PeerCred};
