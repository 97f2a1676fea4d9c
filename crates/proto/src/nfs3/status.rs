//! `nfsstat3`: every NFSv3 status code.

use nfsl_xdr::xdr_enum;

xdr_enum! {
    /// NFSv3 status codes (RFC 1813 section 2.6).
    pub enum Nfsstat3 {
        /// Success.
        Ok = 0,
        /// Not owner: the caller lacks privilege for this operation.
        Perm = 1,
        /// No such file or directory.
        Noent = 2,
        /// A hard I/O error.
        Io = 5,
        /// No such device or address.
        Nxio = 6,
        /// Permission denied.
        Acces = 13,
        /// The file exists.
        Exist = 17,
        /// Cross-device hard link attempted.
        Xdev = 18,
        /// No such device.
        Nodev = 19,
        /// Not a directory.
        Notdir = 20,
        /// Is a directory.
        Isdir = 21,
        /// Invalid argument.
        Inval = 22,
        /// File too large.
        Fbig = 27,
        /// No space left on device.
        Nospc = 28,
        /// Read-only file system.
        Rofs = 30,
        /// Too many hard links.
        Mlink = 31,
        /// File name too long.
        Nametoolong = 63,
        /// Directory not empty.
        Notempty = 66,
        /// Quota exceeded.
        Dquot = 69,
        /// Stale file handle.
        Stale = 70,
        /// Too many levels of remote in path.
        Remote = 71,
        /// Illegal NFS file handle.
        Badhandle = 10001,
        /// SETATTR guard check failed.
        NotSync = 10002,
        /// READDIR cookie is stale.
        BadCookie = 10003,
        /// Operation not supported.
        Notsupp = 10004,
        /// Buffer or request too small.
        Toosmall = 10005,
        /// A server error with no better mapping.
        Serverfault = 10006,
        /// Object type not supported by the server.
        Badtype = 10007,
        /// Retry later: the server is busy with the request.
        Jukebox = 10008,
    }
}
