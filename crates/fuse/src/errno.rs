//! The errno a local file system would return for a client error, as the
//! Linux NFS client maps NFSv3 statuses (`nfs_stat_to_errno`).

use fuser::Errno;
use nfsl_client::{nfs3::Nfsstat3, Error};

/// The errno for an NFSv3 status.
pub fn from_status(s: Nfsstat3) -> Errno {
    use Nfsstat3 as S;
    let e = match s {
        S::Ok => 0,
        S::Perm => libc::EPERM,
        S::Noent => libc::ENOENT,
        S::Io => libc::EIO,
        S::Nxio => libc::ENXIO,
        S::Acces => libc::EACCES,
        S::Exist => libc::EEXIST,
        S::Xdev => libc::EXDEV,
        S::Nodev => libc::ENODEV,
        S::Notdir => libc::ENOTDIR,
        S::Isdir => libc::EISDIR,
        S::Inval => libc::EINVAL,
        S::Fbig => libc::EFBIG,
        S::Nospc => libc::ENOSPC,
        S::Rofs => libc::EROFS,
        S::Mlink => libc::EMLINK,
        S::Nametoolong => libc::ENAMETOOLONG,
        S::Notempty => libc::ENOTEMPTY,
        S::Dquot => libc::EDQUOT,
        S::Stale | S::Badhandle => libc::ESTALE,
        S::Remote => libc::EREMOTE,
        S::NotSync => libc::EIO,
        S::BadCookie => libc::EBADF,
        S::Notsupp => libc::EOPNOTSUPP,
        S::Toosmall => libc::EINVAL,
        S::Serverfault => libc::EREMOTEIO,
        S::Badtype => libc::EINVAL,
        S::Jukebox => libc::EAGAIN,
    };
    Errno::from_i32(e)
}

/// The errno for any client error: an NFS status as above; no answer
/// from the server ETIMEDOUT (a `soft` mount's answer); anything else EIO.
pub fn from_error(e: &Error) -> Errno {
    match e {
        Error::Nfs { status, .. } => from_status(*status),
        Error::TimedOut { .. } => Errno::from_i32(libc::ETIMEDOUT),
        Error::InvalidArgument(_) => Errno::EINVAL,
        Error::Rpc { .. } => Errno::EACCES,
        _ => Errno::EIO,
    }
}
