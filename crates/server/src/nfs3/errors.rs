//! Mapping local errors to NFSv3 status codes, as knfsd's `nfserrno` does.

use nfsl_proto::nfs3::Nfsstat3;
use rustix::io::Errno;

/// The NFSv3 status a client should see for a local errno.
pub fn nfsstat_from_errno(e: Errno) -> Nfsstat3 {
    match e {
        Errno::PERM => Nfsstat3::Perm,
        Errno::NOENT => Nfsstat3::Noent,
        Errno::IO | Errno::TXTBSY | Errno::REMOTEIO | Errno::UCLEAN | Errno::BADMSG => Nfsstat3::Io,
        Errno::NXIO => Nfsstat3::Nxio,
        Errno::ACCESS => Nfsstat3::Acces,
        Errno::EXIST => Nfsstat3::Exist,
        Errno::XDEV => Nfsstat3::Xdev,
        Errno::NODEV => Nfsstat3::Nodev,
        Errno::NOTDIR => Nfsstat3::Notdir,
        Errno::ISDIR => Nfsstat3::Isdir,
        // ELOOP comes from O_NOFOLLOW meeting a symlink: the handle names a
        // link where the procedure needs something else.
        Errno::INVAL | Errno::LOOP | Errno::OVERFLOW => Nfsstat3::Inval,
        Errno::FBIG | Errno::TOOBIG => Nfsstat3::Fbig,
        Errno::NOSPC => Nfsstat3::Nospc,
        Errno::ROFS => Nfsstat3::Rofs,
        Errno::MLINK => Nfsstat3::Mlink,
        Errno::NAMETOOLONG => Nfsstat3::Nametoolong,
        Errno::NOTEMPTY => Nfsstat3::Notempty,
        Errno::DQUOT => Nfsstat3::Dquot,
        Errno::STALE => Nfsstat3::Stale,
        Errno::REMOTE => Nfsstat3::Remote,
        Errno::OPNOTSUPP | Errno::NOSYS => Nfsstat3::Notsupp,
        // Transient: the client should retry later.
        Errno::AGAIN | Errno::NOMEM | Errno::TIMEDOUT | Errno::INTR | Errno::MFILE => {
            Nfsstat3::Jukebox
        }
        Errno::NFILE => Nfsstat3::Serverfault,
        Errno::BADF => Nfsstat3::Badhandle,
        _ => Nfsstat3::Io,
    }
}

/// The NFSv3 status for a `std::io::Error` (non-OS errors become EIO).
pub fn nfsstat_from_io(e: &std::io::Error) -> Nfsstat3 {
    match e.raw_os_error() {
        Some(code) => nfsstat_from_errno(Errno::from_raw_os_error(code)),
        None => Nfsstat3::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errnos_map_like_knfsd() {
        assert_eq!(nfsstat_from_errno(Errno::NOENT), Nfsstat3::Noent);
        assert_eq!(nfsstat_from_errno(Errno::ACCESS), Nfsstat3::Acces);
        assert_eq!(nfsstat_from_errno(Errno::NOTEMPTY), Nfsstat3::Notempty);
        assert_eq!(nfsstat_from_errno(Errno::STALE), Nfsstat3::Stale);
        assert_eq!(nfsstat_from_errno(Errno::AGAIN), Nfsstat3::Jukebox);
        assert_eq!(nfsstat_from_errno(Errno::HOSTDOWN), Nfsstat3::Io);
        let e = std::io::Error::from_raw_os_error(libc::EEXIST);
        assert_eq!(nfsstat_from_io(&e), Nfsstat3::Exist);
    }
}
