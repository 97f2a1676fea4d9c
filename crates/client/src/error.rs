//! The client's error type: NFS status codes, RPC-level failures, transport
//! failures and malformed replies, each a clear one-line message.

use std::io;

use nfsl_proto::mount3::Mountstat3;
use nfsl_proto::nfs3::Nfsstat3;

use crate::url::UrlError;

/// What went wrong in a client operation.
///
/// NFS failures are one variant carrying the `nfsstat3`; use
/// [`Error::kind`] to match the common cases (`ErrorKind::NotFound`,
/// `ErrorKind::PermissionDenied`, `ErrorKind::Stale`, ...) and
/// [`Error::nfsstat`] for the exact status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered an NFS procedure with a failure status.
    #[error("{op}{}: {} ({})", path_suffix(.path), describe(*.status), nfsstat_name(*.status))]
    Nfs {
        /// The status the server returned.
        status: Nfsstat3,
        /// The procedure (`"LOOKUP"`, `"WRITE"`, ...).
        op: &'static str,
        /// The path (inside the export) the operation was about, or empty.
        path: String,
    },
    /// The MOUNT server refused to mount the export.
    #[error("MNT {path}: {}", describe_mount(*.status))]
    Mount {
        /// The status the server returned.
        status: Mountstat3,
        /// The path asked for.
        path: String,
    },
    /// The server did not answer in time, after every retransmission.
    #[error("{what}: no reply from the server after {tries} tries (timed out)")]
    TimedOut {
        /// The call that timed out, e.g. `"NFS READ"`.
        what: String,
        /// How many times it was sent.
        tries: u32,
    },
    /// The connection could not be made or was lost, after every retry.
    #[error("{what}: {source}")]
    Connection {
        /// What was being done (`"connecting to 127.0.0.1:2049"`, ...).
        what: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The server rejected the call at the RPC level.
    #[error("{what}: {error}")]
    Rpc {
        /// The call, e.g. `"NFS GETATTR"`.
        what: String,
        /// The RPC-level failure.
        error: RpcError,
    },
    /// The server sent something that is not a valid reply.
    #[error("malformed reply from the server: {0}")]
    Protocol(String),
    /// The URL could not be parsed.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// An argument the client refuses before sending anything.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Opening `path` as a file was refused by the client (NFSv3 has no
    /// OPEN): it is a directory ([`ErrorKind::IsDir`]) or another
    /// non-regular file ([`ErrorKind::InvalidArgument`]).
    #[error("{path}: {}", if *.is_dir { "Is a directory" } else { "not a regular file" })]
    NotAFile {
        /// The path inside the export.
        path: String,
        /// It is a directory.
        is_dir: bool,
    },
    /// `localio=on` was asked for, but the server is not local (or the
    /// handshake failed): the reason.
    #[error("localio=on: the server is not reachable through LOCALIO: {0}")]
    NotLocal(String),
    /// The local file a WRITE's data comes from ([`crate::FileRange`])
    /// could not be read (or no longer has the range).
    #[error("reading the data to write: {0}")]
    Source(#[source] io::Error),
}

pub use nfsl_transport::client::RpcError;

/// The broad category of an [`Error`], for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `NFS3ERR_NOENT`.
    NotFound,
    /// `NFS3ERR_PERM` or `NFS3ERR_ACCES`.
    PermissionDenied,
    /// `NFS3ERR_STALE` or `NFS3ERR_BADHANDLE`: the handle no longer names
    /// an object.
    Stale,
    /// `NFS3ERR_EXIST`.
    Exists,
    /// `NFS3ERR_NOTDIR`.
    NotDir,
    /// `NFS3ERR_ISDIR`.
    IsDir,
    /// `NFS3ERR_NOTEMPTY`.
    NotEmpty,
    /// `NFS3ERR_NOSPC` or `NFS3ERR_DQUOT`.
    NoSpace,
    /// `NFS3ERR_ROFS`.
    ReadOnly,
    /// `NFS3ERR_NAMETOOLONG`.
    NameTooLong,
    /// `NFS3ERR_NOTSUPP`.
    Unsupported,
    /// Any other NFS status.
    OtherNfs,
    /// The MOUNT server refused.
    Mount,
    /// No reply in time.
    TimedOut,
    /// Connection failures.
    Connection,
    /// RPC-level rejection.
    Rpc,
    /// Malformed reply.
    Protocol,
    /// URL parse failure.
    Url,
    /// Refused locally before sending.
    InvalidArgument,
    /// `localio=on` and the server is not local.
    NotLocal,
    /// The local source of a WRITE's data failed.
    Source,
}

/// A `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The category, for matching.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Nfs { status, .. } => kind_of(*status),
            Error::Mount { .. } => ErrorKind::Mount,
            Error::TimedOut { .. } => ErrorKind::TimedOut,
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Rpc { .. } => ErrorKind::Rpc,
            Error::Protocol(_) => ErrorKind::Protocol,
            Error::Url(_) => ErrorKind::Url,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NotAFile { is_dir: true, .. } => ErrorKind::IsDir,
            Error::NotAFile { is_dir: false, .. } => ErrorKind::InvalidArgument,
            Error::NotLocal(_) => ErrorKind::NotLocal,
            Error::Source(_) => ErrorKind::Source,
        }
    }

    /// The NFS status, if the server answered with one.
    pub fn nfsstat(&self) -> Option<Nfsstat3> {
        match self {
            Error::Nfs { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// An NFS failure of `op` on `path`.
    pub fn nfs(status: Nfsstat3, op: &'static str, path: impl Into<String>) -> Error {
        Error::Nfs {
            status,
            op,
            path: path.into(),
        }
    }

    /// The same error with `path` filled in if it had none.
    pub(crate) fn at(mut self, p: &str) -> Error {
        if let Error::Nfs { path, .. } = &mut self {
            if path.is_empty() {
                *path = p.to_string();
            }
        }
        self
    }

    /// Shorthand: is this `kind`?
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind() == kind
    }
}

/// A MOUNT refusal as a user can act on it: what the status means and,
/// for the one status that covers several rules, which ones it may be.
fn describe_mount(status: Mountstat3) -> String {
    use Mountstat3 as M;
    let (name, what) = match status {
        M::Ok => ("MNT3_OK", "no error"),
        M::Perm => ("MNT3ERR_PERM", "not owner"),
        M::Noent => ("MNT3ERR_NOENT", "no such directory on the server"),
        M::Io => ("MNT3ERR_IO", "I/O error on the server"),
        M::Acces => (
            "MNT3ERR_ACCES",
            "permission denied: not exported to this client, or exported `secure` \
             while this client's source port is not privileged (only root can use \
             ports below 1024); the server's log says which",
        ),
        M::Notdir => ("MNT3ERR_NOTDIR", "not a directory"),
        M::Inval => ("MNT3ERR_INVAL", "invalid path"),
        M::Nametoolong => ("MNT3ERR_NAMETOOLONG", "name too long"),
        M::Notsupp => ("MNT3ERR_NOTSUPP", "not supported"),
        M::Serverfault => ("MNT3ERR_SERVERFAULT", "server fault"),
    };
    format!("{what} ({name})")
}

fn path_suffix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" {path}")
    }
}

fn kind_of(status: Nfsstat3) -> ErrorKind {
    use Nfsstat3 as S;
    match status {
        S::Noent => ErrorKind::NotFound,
        S::Perm | S::Acces => ErrorKind::PermissionDenied,
        S::Stale | S::Badhandle => ErrorKind::Stale,
        S::Exist => ErrorKind::Exists,
        S::Notdir => ErrorKind::NotDir,
        S::Isdir => ErrorKind::IsDir,
        S::Notempty => ErrorKind::NotEmpty,
        S::Nospc | S::Dquot => ErrorKind::NoSpace,
        S::Rofs => ErrorKind::ReadOnly,
        S::Nametoolong => ErrorKind::NameTooLong,
        S::Notsupp => ErrorKind::Unsupported,
        _ => ErrorKind::OtherNfs,
    }
}

/// The RFC 1813 name of a status (`NFS3ERR_NOENT`, ...).
pub fn nfsstat_name(status: Nfsstat3) -> &'static str {
    use Nfsstat3 as S;
    match status {
        S::Ok => "NFS3_OK",
        S::Perm => "NFS3ERR_PERM",
        S::Noent => "NFS3ERR_NOENT",
        S::Io => "NFS3ERR_IO",
        S::Nxio => "NFS3ERR_NXIO",
        S::Acces => "NFS3ERR_ACCES",
        S::Exist => "NFS3ERR_EXIST",
        S::Xdev => "NFS3ERR_XDEV",
        S::Nodev => "NFS3ERR_NODEV",
        S::Notdir => "NFS3ERR_NOTDIR",
        S::Isdir => "NFS3ERR_ISDIR",
        S::Inval => "NFS3ERR_INVAL",
        S::Fbig => "NFS3ERR_FBIG",
        S::Nospc => "NFS3ERR_NOSPC",
        S::Rofs => "NFS3ERR_ROFS",
        S::Mlink => "NFS3ERR_MLINK",
        S::Nametoolong => "NFS3ERR_NAMETOOLONG",
        S::Notempty => "NFS3ERR_NOTEMPTY",
        S::Dquot => "NFS3ERR_DQUOT",
        S::Stale => "NFS3ERR_STALE",
        S::Remote => "NFS3ERR_REMOTE",
        S::Badhandle => "NFS3ERR_BADHANDLE",
        S::NotSync => "NFS3ERR_NOT_SYNC",
        S::BadCookie => "NFS3ERR_BAD_COOKIE",
        S::Notsupp => "NFS3ERR_NOTSUPP",
        S::Toosmall => "NFS3ERR_TOOSMALL",
        S::Serverfault => "NFS3ERR_SERVERFAULT",
        S::Badtype => "NFS3ERR_BADTYPE",
        S::Jukebox => "NFS3ERR_JUKEBOX",
    }
}

/// A human description of a status, like strerror.
fn describe(status: Nfsstat3) -> &'static str {
    use Nfsstat3 as S;
    match status {
        S::Ok => "success",
        S::Perm => "operation not permitted",
        S::Noent => "no such file or directory",
        S::Io => "I/O error",
        S::Nxio => "no such device or address",
        S::Acces => "permission denied",
        S::Exist => "file exists",
        S::Xdev => "cross-device link",
        S::Nodev => "no such device",
        S::Notdir => "not a directory",
        S::Isdir => "is a directory",
        S::Inval => "invalid argument",
        S::Fbig => "file too large",
        S::Nospc => "no space left on device",
        S::Rofs => "read-only file system",
        S::Mlink => "too many links",
        S::Nametoolong => "file name too long",
        S::Notempty => "directory not empty",
        S::Dquot => "disk quota exceeded",
        S::Stale => "stale file handle",
        S::Remote => "too many levels of remote in path",
        S::Badhandle => "illegal file handle",
        S::NotSync => "attribute guard check failed",
        S::BadCookie => "directory cookie is stale",
        S::Notsupp => "operation not supported",
        S::Toosmall => "buffer too small",
        S::Serverfault => "server fault",
        S::Badtype => "object type not supported",
        S::Jukebox => "server busy, retry later",
    }
}

impl From<nfsl_transport::client::CallError> for Error {
    fn from(e: nfsl_transport::client::CallError) -> Self {
        use nfsl_transport::client::CallError as C;
        match e {
            C::TimedOut { what, tries } => Error::TimedOut { what, tries },
            C::Connection { what, source } => Error::Connection { what, source },
            C::Rpc { what, error } => Error::Rpc { what, error },
            C::Protocol(m) => Error::Protocol(m),
            C::InvalidArgument(m) => Error::InvalidArgument(m),
            C::Source(e) => Error::Source(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_clear_line() {
        let e = Error::nfs(Nfsstat3::Noent, "LOOKUP", "/dir/missing");
        assert_eq!(
            e.to_string(),
            "LOOKUP /dir/missing: no such file or directory (NFS3ERR_NOENT)"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.nfsstat(), Some(Nfsstat3::Noent));
        let e = Error::Rpc {
            what: "NFS NULL".into(),
            error: RpcError::ProgUnavail,
        };
        assert!(!e.to_string().contains('\n'));
        assert_eq!(e.kind(), ErrorKind::Rpc);
    }

    #[test]
    fn kinds_of_common_statuses() {
        for (s, k) in [
            (Nfsstat3::Acces, ErrorKind::PermissionDenied),
            (Nfsstat3::Perm, ErrorKind::PermissionDenied),
            (Nfsstat3::Stale, ErrorKind::Stale),
            (Nfsstat3::Badhandle, ErrorKind::Stale),
            (Nfsstat3::Exist, ErrorKind::Exists),
            (Nfsstat3::Notempty, ErrorKind::NotEmpty),
            (Nfsstat3::Jukebox, ErrorKind::OtherNfs),
        ] {
            assert_eq!(Error::nfs(s, "X", "").kind(), k);
        }
    }
}
