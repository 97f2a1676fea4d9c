//! LOCALIO routing: when the client and the NFS server share a host, READ,
//! WRITE and COMMIT go to the exported file itself (fds the server opened
//! for this client, IO done by `nfsl-io-engine`) instead of over RPC.
//!
//! # How a mount goes local
//! With [`LocalioMode::Auto`] (the default) or [`LocalioMode::On`], the
//! mount runs the LOCALIO handshake ([`crate::Nfs::localio_probe`]) on its
//! NFS connection. If it succeeds, the mount keeps the confirmed channel
//! and starts one IO engine (its workers report whether they became IO
//! flushers: [`crate::ClientStats::io_flusher_granted`]). Against a remote
//! server, a server without LOCALIO (Ganesha: `PROG_UNAVAIL`), a server
//! started with `--no-localio`, or on any probe failure, the mount stays on
//! RPC: silently with `Auto`, with [`crate::Error::NotLocal`] at mount with
//! `On`. [`LocalioMode::Off`] never probes. Only AUTH_SYS is ever used
//! (this client sends nothing else).
//!
//! # Whom it trusts
//! The probe trusts the socket only if its server is root or this user and
//! the socket and its directory are owned by root or that server and not
//! writable by others (`nfsl_localio::trust`); every fd received is then
//! checked against the file's attributes fetched over this mount's NFS
//! connection (regular file, fileid, size and ctime, a device consistent
//! for each fsid) before any IO on it; a mismatch ends the session and the
//! IO goes over RPC. A probe or an open waits at most 2 s.
//!
//! # Files
//! On its first READ/WRITE/COMMIT while local, a [`crate::File`] asks the
//! server over the channel to open its handle, read-write if the file was
//! opened for writing (else read-only, re-opened read-write on a first
//! write), with the mount's AUTH_SYS credentials; the fds are cached per
//! file and per session, and only while the file is open (dropping the
//! [`crate::File`] closes them), so a client holds fds only for the files
//! it has open. The server decides as for RPC (export rules,
//! squashing, permissions, `ro`). A refusal that is about this file and
//! these credentials (`ACCES`, `PERM`, `ROFS`, `STALE`, ...) sends the IO
//! over RPC, which then answers exactly as RPC answers (e.g.
//! `PermissionDenied`, `ReadOnly`); LOCALIO stays on for other files. A
//! writable file on an `ro` export still reads locally through a read-only
//! open.
//!
//! # One route per file
//! Each open [`crate::File`] has two routes, each stated once: its
//! LOCALIO route (`LocalRoute`: the fds of the current session or the
//! opens refused in it, unsynced local writes, write-behind, read-ahead)
//! and its RPC route (`RpcRoute`: READ/WRITE pieces, the journal,
//! COMMIT). `LocalRoute::way` alone decides, per IO, whether it goes
//! local; whatever the local route cannot do (a failed IO, a failed
//! queued write, an `fsync` it cannot make) is handed to the file's RPC
//! route, the one RPC write path. The mount's state (off, local, down)
//! is the `Router`'s; looking at it starts nothing: one re-prober task
//! per mount probes again when a lost session's backoff is over.
//!
//! # Cached reads
//! Each piece of a read ([`crate::ClientConfig::max_io_size`]) is first
//! tried in the caller from the server host's page cache
//! (`preadv2(RWF_NOWAIT)`, which cannot block), straight into the caller's
//! buffer: no allocation, one copy; only what would block (data not
//! cached) goes to the IO engine's workers (into a recycled buffer, then
//! copied), so the caller never waits on nested IO
//! ([`crate::ClientStats::local_cached_reads`] and
//! [`crate::ClientStats::local_uncached_reads`] count both).
//!
//! # Read-ahead
//! A file read sequentially through LOCALIO (each read starting where the
//! previous one ended) whose data the page cache did not hold (a read the
//! caller could not do itself; cached data needs no read-ahead) has the next [`crate::ClientConfig::readahead`]
//! bytes (default 4 MiB; URL `readahead=`) queued on the engine in pieces
//! of the reader's size, so a reader that reads one piece at a time keeps
//! the engine's workers busy as the kernel's read-ahead would. Queued data
//! is used only for exactly its range, in the same session, within a
//! second; any write, resize or sync through the file drops it first.
//!
//! # Write safety (the journal semantics)
//! A local write goes into the server host's page cache through the file's
//! own fd: a crash or restart of the *server process* loses nothing of it
//! (only a crash of the host does, which takes this client with it, as it
//! would take the kernel client). So local UNSTABLE writes are not kept
//! in the re-send journal and are never re-sent on a verifier change;
//! the file only remembers that it has local writes not yet synced. A
//! local write also removes the range it covered from the journal, so an
//! older RPC-written piece cannot be re-sent over newer data.
//! [`crate::File::sync`] (COMMIT) first `fsync`s every fd that took local
//! writes (on an engine worker; the fd stays valid even after the server
//! died), then COMMITs over RPC if the journal holds RPC-written unstable
//! data, as before. A local `fsync` that reports a write-back error (EIO,
//! ENOSPC, EDQUOT) is returned as that NFS error, because a COMMIT by a
//! fresh server process might not see it; any other local failure falls
//! back to an RPC COMMIT (the server's `fsync` flushes the same pages).
//!
//! Local writes of 256 KiB and more are made with `RWF_DONTCACHE` (as the
//! server makes large WRITEs): their writeback starts at once and their
//! pages leave the cache when written, so a large copy is durable soon
//! after its last write instead of leaving COMMIT to flush it all.
//!
//! # Write-behind
//! A local write of 256 KiB to [`crate::ClientConfig::write_behind`] bytes
//! (default 4 MiB per file; 0 turns it off) is answered once it is queued
//! on the engine, as the kernel client answers once data is in its page
//! cache; at most that many bytes per file are queued. A write never
//! overlaps a queued one (older writes are waited for first), a read waits
//! for the queued writes it overlaps, and a sync or [`crate::File::metadata`]
//! waits for all of them (before the `fsync`; the size must show them). A
//! queued write that fails locally is written again over RPC (the file's
//! RPC route: UNSTABLE and journaled like any RPC write, COMMITted at the
//! next sync) and the mount falls back; if that fails too, its
//! error is returned by the file's next write or sync, which then does not
//! report the data durable. Other clients see a written-behind write once
//! it is done (microseconds later), within NFS's close-to-open consistency.
//!
//! # Fallback and restarts
//! Any failure on the local path (channel gone, an open refused for a
//! reason that is not about the file, an fd or engine error) redoes that
//! whole IO call over RPC (reads and writes are idempotent: the same data
//! at the same offsets), disables LOCALIO for the mount, and re-probes in
//! the background after a backoff (1 s, doubling to 60 s; back to 1 s after
//! a session that lasted a minute). The caller sees latency, never an
//! error RPC would not give.
//!
//! A dead server's fds still work on the file, so a server restart is
//! detected through the NFS connection instead: a session belongs to the
//! TCP connection it was confirmed on. When that connection is lost (the
//! server process died: the kernel closes its sockets) or replaced (a
//! reconnection), the session ends at the next IO, which goes over RPC;
//! the next probe must succeed against the restarted server (whose
//! export rules may have changed) before IO goes local again.
//!
//! # Revocation (exports reloaded while the NFS connection stays up)
//! A server whose exports change while it runs (`nfsl serve` on SIGHUP:
//! an export removed, or its options or client lists changed) revokes
//! every session that holds fds by closing its channel, because those fds
//! were authorized under the old rules (see `nfsl_localio::revoke`). A
//! task per session watches the channel for that close
//! (`LocalioChannel::closed`) and at once drops the fds the session gave
//! to files that are still open (each file's cache is registered with its
//! session; an IO in flight keeps its fd until it completes, and fds that
//! took writes not yet synced are kept for that `fsync`, below), so
//! nothing of the old session is left for new IO; nothing has to fail
//! first: the next
//! READ/WRITE/COMMIT finds the session ended, drops the session's cached
//! fds (they belong to its epoch), goes over RPC (counted in
//! [`crate::ClientStats::localio_fallbacks`]) and so gets exactly RPC's
//! answer under the new rules (`ReadOnly` on an export turned `ro`,
//! `Stale` on a removed one); the re-probe after the backoff then opens
//! files under the new rules (read-only fds on an `ro` export). An IO that
//! was already running on a cached fd when the server changed its rules
//! completes locally, as a write through an open file does on a kernel
//! server. Local writes made before the revocation stay durable-able:
//! their fds stay valid, and the next [`crate::File::sync`] `fsync`s them
//! as above even though their session ended.

mod file_route;
mod readahead;
mod router;
mod verify;
mod writebehind;

pub use nfsl_io_engine::DirectPolicy;

pub(crate) use file_route::LocalRoute;
pub(crate) use router::Router;

/// Whether a mount uses LOCALIO (URL option `localio=auto|on|off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalioMode {
    /// Probe at mount; go local if the server shares this host, else stay
    /// on RPC silently.
    #[default]
    Auto,
    /// Like `Auto`, but mounting fails with [`crate::Error::NotLocal`] if
    /// the server is not local. Later failures still fall back to RPC.
    On,
    /// Never probe: everything over RPC.
    Off,
}

impl LocalioMode {
    /// Parses `auto`, `on` or `off`.
    pub fn parse(s: &str) -> Option<LocalioMode> {
        match s {
            "auto" => Some(LocalioMode::Auto),
            "on" => Some(LocalioMode::On),
            "off" => Some(LocalioMode::Off),
            _ => None,
        }
    }

    /// The URL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalioMode::Auto => "auto",
            LocalioMode::On => "on",
            LocalioMode::Off => "off",
        }
    }
}

/// Parses a URL's `direct=auto|always|never`.
pub(crate) fn parse_direct(s: &str) -> Option<DirectPolicy> {
    match s {
        "auto" => Some(DirectPolicy::Auto),
        "always" => Some(DirectPolicy::Always),
        "never" => Some(DirectPolicy::Never),
        _ => None,
    }
}

/// The engine policy for local IO under the mount's `direct` setting.
///
/// `auto` is buffered, reads and writes: this client keeps no page cache
/// of its own, so the server host's page cache holds the only copy in
/// memory (no double caching to avoid, which is what direct IO is for in
/// the kernel client), and data written is read back from memory. Measured
/// here: a direct read of cached data goes to the device (1 GiB through
/// LOCALIO at a third of the RPC path's speed), and reading back 256 MiB
/// just written direct took 8x longer than after a buffered write, which
/// was itself faster. As in the kernel, whose LOCALIO goes direct when
/// the application asks for it, `always` makes every aligned part direct
/// (a caller that must not fill the host's cache: streaming, or its own
/// cache above), and `never` nothing.
pub(crate) fn io_policy(direct: DirectPolicy) -> DirectPolicy {
    match direct {
        DirectPolicy::Auto => DirectPolicy::Never,
        other => other,
    }
}

/// The URL spelling of a [`DirectPolicy`].
pub(crate) fn direct_str(d: DirectPolicy) -> &'static str {
    match d {
        DirectPolicy::Auto => "auto",
        DirectPolicy::Always => "always",
        DirectPolicy::Never => "never",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knob_spellings_round_trip() {
        for m in [LocalioMode::Auto, LocalioMode::On, LocalioMode::Off] {
            assert_eq!(LocalioMode::parse(m.as_str()), Some(m));
        }
        for d in [
            DirectPolicy::Auto,
            DirectPolicy::Always,
            DirectPolicy::Never,
        ] {
            assert_eq!(parse_direct(direct_str(d)), Some(d));
        }
        assert_eq!(LocalioMode::parse("yes"), None);
        assert_eq!(parse_direct("Always"), None);
    }
}
