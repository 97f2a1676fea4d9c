//! NFS attributes as FUSE attributes.

use std::time::{Duration, SystemTime};

use fuser::{FileAttr, FileType as FuseType, INodeNo};
use nfsl_client::{FileType, Metadata};

/// The FUSE attributes of `md` for node `ino`.
pub fn file_attr(ino: u64, md: &Metadata) -> FileAttr {
    let kind = match md.file_type {
        FileType::Regular => FuseType::RegularFile,
        FileType::Directory => FuseType::Directory,
        FileType::Symlink => FuseType::Symlink,
        FileType::BlockDevice => FuseType::BlockDevice,
        FileType::CharDevice => FuseType::CharDevice,
        FileType::Socket => FuseType::Socket,
        FileType::Fifo => FuseType::NamedPipe,
    };
    let (major, minor) = md.rdev;
    FileAttr {
        ino: INodeNo(ino),
        size: md.size,
        blocks: md.used.div_ceil(512),
        atime: md.atime,
        mtime: md.mtime,
        ctime: md.ctime,
        crtime: md.ctime,
        kind,
        perm: (md.mode & 0o7777) as u16,
        nlink: md.nlink,
        uid: md.uid,
        gid: md.gid,
        rdev: libc::makedev(major, minor) as u32,
        blksize: 4096,
        flags: 0,
    }
}

/// How long ago `md` last changed (zero for times in the future).
pub fn age(md: &Metadata) -> Duration {
    SystemTime::now()
        .duration_since(md.mtime.max(md.ctime))
        .unwrap_or_default()
}
