//! The client's check that the process answering on a LOCALIO socket path
//! is a server it may trust, before it sends or takes anything.
//!
//! A socket path is only a name: whoever could create it (a
//! `localio-socket=` in a shared directory, an inherited
//! `XDG_RUNTIME_DIR`) could answer the handshake as "confirmed" and hand
//! out its own fds. So, as ssh's `StrictModes` does for its files, the
//! client trusts a socket only if:
//! - the kernel's `SO_PEERCRED` for the connected socket names a trusted
//!   uid: root, or the client's own effective uid (a server run by another
//!   unprivileged user is never trusted: that user could be anyone);
//! - the socket file is a socket owned by root or by that peer uid;
//! - its directory is owned by root or by the peer uid and is not group-
//!   or world-writable, so nobody else can have put the socket there or
//!   swap it.
//!
//! These checks are made on the connected socket, before the first byte
//! is sent. They do not replace the client's check of every received fd
//! against the file's attributes fetched over NFS (in `nfsl-client`): a
//! trusted peer proves who runs it, the fd check that it is the server
//! the client mounted.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::session::PeerCred;

/// Why a socket was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("untrusted LOCALIO socket: {0}")]
pub struct Untrusted(pub String);

/// The uids a client trusts as its LOCALIO server: root and itself.
pub fn trusted_server_uid(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == 0 || peer_uid == own_uid
}

/// Checks the socket at `path`, whose connected peer is `peer`, for a
/// client running as `own_uid` (see the module docs).
pub fn check_server_socket(path: &Path, peer: &PeerCred, own_uid: u32) -> Result<(), Untrusted> {
    if !trusted_server_uid(peer.uid, own_uid) {
        return Err(Untrusted(format!(
            "{} is served by uid {} (pid {}), neither root nor this user ({own_uid})",
            path.display(),
            peer.uid,
            peer.pid
        )));
    }
    let owner_ok = |uid: u32| uid == 0 || uid == peer.uid;
    let sock = std::fs::symlink_metadata(path)
        .map_err(|e| Untrusted(format!("{}: {e}", path.display())))?;
    if !sock.file_type().is_socket() {
        return Err(Untrusted(format!("{} is not a socket", path.display())));
    }
    if !owner_ok(sock.uid()) {
        return Err(Untrusted(format!(
            "{} is owned by uid {}, not by root or its server (uid {})",
            path.display(),
            sock.uid(),
            peer.uid
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let m = std::fs::metadata(dir).map_err(|e| Untrusted(format!("{}: {e}", dir.display())))?;
    if !owner_ok(m.uid()) {
        return Err(Untrusted(format!(
            "directory {} is owned by uid {}, not by root or the server (uid {})",
            dir.display(),
            m.uid(),
            peer.uid
        )));
    }
    if m.mode() & 0o022 != 0 {
        return Err(Untrusted(format!(
            "directory {} is group- or world-writable (mode {:o})",
            dir.display(),
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn peer(uid: u32) -> PeerCred {
        PeerCred {
            pid: 1,
            uid,
            gid: uid,
            groups: vec![],
        }
    }

    #[test]
    fn root_and_self_only() {
        assert!(trusted_server_uid(0, 1000));
        assert!(trusted_server_uid(1000, 1000));
        assert!(!trusted_server_uid(1001, 1000));
        assert!(!trusted_server_uid(1001, 0));
    }

    #[test]
    fn strict_modes_on_the_socket_and_its_directory() {
        let me = rustix::process::geteuid().as_raw();
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("run");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sock = sub.join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(check_server_socket(&sock, &peer(me), me), Ok(()));
        // Another unprivileged user's server is never trusted.
        let other = if me == 4242 { 4243 } else { 4242 };
        assert!(check_server_socket(&sock, &peer(other), me).is_err());
        for mode in [0o775, 0o757, 0o1777] {
            std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = check_server_socket(&sock, &peer(me), me).unwrap_err();
            assert!(e.0.contains("writable"), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = sub.join("plain");
        std::fs::write(&file, b"").unwrap();
        assert!(check_server_socket(&file, &peer(me), me).is_err());
        if me == 0 {
            // A socket (or directory) owned by someone else than root or
            // the peer: refused even when the peer is root.
            rustix::fs::chown(&sock, Some(rustix::fs::Uid::from_raw(4242)), None).unwrap();
            let e = check_server_socket(&sock, &peer(0), 0).unwrap_err();
            assert!(e.0.contains("owned by uid 4242"), "{e}");
            rustix::fs::chown(&sock, Some(rustix::fs::Uid::ROOT), None).unwrap();
            rustix::fs::chown(&sub, Some(rustix::fs::Uid::from_raw(4242)), None).unwrap();
            let e = check_server_socket(&sock, &peer(0), 0).unwrap_err();
            assert!(e.0.contains("directory"), "{e}");
        }
    }
}
