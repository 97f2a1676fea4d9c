//! NFS version 3 (RFC 1813): constants, basic types, procedure arguments
//! and results.

mod args;
mod bulk;
mod results;
mod status;
mod types;

pub use args::*;
pub use bulk::*;
pub use results::*;
pub use status::*;
pub use types::*;

use nfsl_xdr::xdr_enum;

/// RPC program number of NFS.
pub const NFS_PROGRAM: u32 = 100003;
/// The NFS version this crate describes.
pub const NFS_V3: u32 = 3;
/// Largest file handle (`NFS3_FHSIZE`).
pub const NFS3_FHSIZE: usize = 64;

/// ACCESS: read data or list a directory.
pub const ACCESS3_READ: u32 = 0x0001;
/// ACCESS: look up a name in a directory.
pub const ACCESS3_LOOKUP: u32 = 0x0002;
/// ACCESS: rewrite existing data or directory entries.
pub const ACCESS3_MODIFY: u32 = 0x0004;
/// ACCESS: write new data or add directory entries.
pub const ACCESS3_EXTEND: u32 = 0x0008;
/// ACCESS: delete a directory entry.
pub const ACCESS3_DELETE: u32 = 0x0010;
/// ACCESS: execute a file.
pub const ACCESS3_EXECUTE: u32 = 0x0020;

/// FSINFO property: the file system supports hard links.
pub const FSF3_LINK: u32 = 0x0001;
/// FSINFO property: the file system supports symbolic links.
pub const FSF3_SYMLINK: u32 = 0x0002;
/// FSINFO property: PATHCONF answers are the same for every file.
pub const FSF3_HOMOGENEOUS: u32 = 0x0008;
/// FSINFO property: the server can set a file's times with SETATTR.
pub const FSF3_CANSETTIME: u32 = 0x0010;

xdr_enum! {
    /// NFSv3 procedure numbers.
    pub enum Nfs3Procedure {
        /// Does nothing.
        Null = 0,
        /// Gets file attributes.
        Getattr = 1,
        /// Sets file attributes.
        Setattr = 2,
        /// Looks up a file name.
        Lookup = 3,
        /// Checks access permission.
        Access = 4,
        /// Reads a symbolic link.
        Readlink = 5,
        /// Reads from a file.
        Read = 6,
        /// Writes to a file.
        Write = 7,
        /// Creates a regular file.
        Create = 8,
        /// Creates a directory.
        Mkdir = 9,
        /// Creates a symbolic link.
        Symlink = 10,
        /// Creates a special device, fifo or socket.
        Mknod = 11,
        /// Removes a file.
        Remove = 12,
        /// Removes a directory.
        Rmdir = 13,
        /// Renames a file or directory.
        Rename = 14,
        /// Creates a hard link.
        Link = 15,
        /// Reads a directory.
        Readdir = 16,
        /// Reads a directory with attributes and handles.
        Readdirplus = 17,
        /// Gets dynamic file system information.
        Fsstat = 18,
        /// Gets static file system information.
        Fsinfo = 19,
        /// Gets POSIX information.
        Pathconf = 20,
        /// Commits cached data to stable storage.
        Commit = 21,
    }
}

impl Nfs3Procedure {
    /// Whether a retransmission must get the original reply rather than be
    /// executed again (the procedure changes state and is not idempotent).
    pub fn is_non_idempotent(self) -> bool {
        matches!(
            self,
            Nfs3Procedure::Setattr
                | Nfs3Procedure::Write
                | Nfs3Procedure::Create
                | Nfs3Procedure::Mkdir
                | Nfs3Procedure::Symlink
                | Nfs3Procedure::Mknod
                | Nfs3Procedure::Remove
                | Nfs3Procedure::Rmdir
                | Nfs3Procedure::Rename
                | Nfs3Procedure::Link
        )
    }
}
