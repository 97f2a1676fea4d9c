//! The kernel's word on who is at the other end of a Unix socket:
//! `SO_PEERCRED` (pid, uid, gid) and `SO_PEERGROUPS` (supplementary
//! groups), both fixed when the peer connected. The syscall edge for the
//! groups, which rustix does not wrap.

use std::io;
use std::os::fd::AsRawFd;

use tokio::net::UnixStream;

use crate::session::PeerCred;

/// Most supplementary groups read (Linux's `NGROUPS_MAX`).
const MAX_GROUPS: usize = 65536;

/// The peer's pid, uid and gid, without its groups.
pub(crate) fn peer_ids(stream: &UnixStream) -> io::Result<PeerCred> {
    let cred = stream.peer_cred()?;
    Ok(PeerCred {
        pid: cred.pid().unwrap_or(0),
        uid: cred.uid(),
        gid: cred.gid(),
        groups: Vec::new(),
    })
}

/// The peer's pid, uid, gid and supplementary groups.
pub(crate) fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    let mut peer = peer_ids(stream)?;
    peer.groups = peer_groups(stream)?;
    Ok(peer)
}

/// `SO_PEERGROUPS`: the groups the peer had when it connected.
#[allow(unsafe_code)]
fn peer_groups(stream: &UnixStream) -> io::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = (groups.len() * size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is `len` bytes of gid_t that the kernel fills
        // (at most `len` bytes); the fd is a live socket borrowed from
        // `stream` for the call.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let needed = len as usize / size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(needed);
            return Ok(groups);
        }
        let e = io::Error::last_os_error();
        // ERANGE: `len` now says how much is needed.
        if e.raw_os_error() == Some(libc::ERANGE) && needed > groups.len() && needed <= MAX_GROUPS {
            groups.resize(needed, 0);
            continue;
        }
        return Err(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_socketpair_peer_has_our_groups() {
        let (a, _b) = UnixStream::pair().unwrap();
        let p = peer_cred(&a).unwrap();
        assert_eq!(p.uid, rustix::process::geteuid().as_raw());
        assert_eq!(p.gid, rustix::process::getegid().as_raw());
        let mut mine: Vec<u32> = rustix::process::getgroups()
            .unwrap()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        let mut got = p.groups.clone();
        mine.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, mine);
    }
}
