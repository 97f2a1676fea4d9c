//! The client's public value types: handles, attributes, directory
//! entries and file-system figures, converted from the RFC 1813 types.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::names::server_name;

use nfsl_proto::nfs3::{
    Entry3, Entryplus3, Fattr3, Fsinfo3ResOk, Fsstat3ResOk, Ftype3, NfsFh3, Nfstime3, Sattr3,
    SetTime as WireSetTime,
};

/// An opaque NFSv3 file handle (at most 64 bytes). `Debug` shows hex.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileHandle(pub(crate) Vec<u8>);

impl FileHandle {
    /// A handle from its bytes (as a server gave them).
    pub fn from_bytes(bytes: &[u8]) -> FileHandle {
        FileHandle(bytes.to_vec())
    }

    /// The handle's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The wire form.
    pub fn to_wire(&self) -> NfsFh3 {
        NfsFh3(self.0.clone())
    }
}

impl From<NfsFh3> for FileHandle {
    fn from(fh: NfsFh3) -> Self {
        FileHandle(fh.0)
    }
}

impl fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileHandle(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The type of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
    /// Block device.
    BlockDevice,
    /// Character device.
    CharDevice,
    /// Socket.
    Socket,
    /// Named pipe.
    Fifo,
}

impl From<Ftype3> for FileType {
    fn from(t: Ftype3) -> Self {
        match t {
            Ftype3::Reg => FileType::Regular,
            Ftype3::Dir => FileType::Directory,
            Ftype3::Lnk => FileType::Symlink,
            Ftype3::Blk => FileType::BlockDevice,
            Ftype3::Chr => FileType::CharDevice,
            Ftype3::Sock => FileType::Socket,
            Ftype3::Fifo => FileType::Fifo,
        }
    }
}

/// A file's attributes (from `fattr3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Type.
    pub file_type: FileType,
    /// Permission bits, set-id and sticky bits (no type bits).
    pub mode: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes of storage used.
    pub used: u64,
    /// Major and minor device numbers (devices only).
    pub rdev: (u32, u32),
    /// File system id.
    pub fsid: u64,
    /// File id (inode number).
    pub fileid: u64,
    /// Last access.
    pub atime: SystemTime,
    /// Last data change.
    pub mtime: SystemTime,
    /// Last attribute change.
    pub ctime: SystemTime,
}

impl Metadata {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::Regular
    }

    /// Whether this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type == FileType::Symlink
    }
}

fn to_system_time(t: Nfstime3) -> SystemTime {
    UNIX_EPOCH + Duration::new(u64::from(t.seconds), t.nseconds.min(999_999_999))
}

impl From<Fattr3> for Metadata {
    fn from(a: Fattr3) -> Self {
        Metadata {
            file_type: a.ftype.into(),
            mode: a.mode & 0o7777,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            size: a.size,
            used: a.used,
            rdev: (a.rdev.specdata1, a.rdev.specdata2),
            fsid: a.fsid,
            fileid: a.fileid,
            atime: to_system_time(a.atime),
            mtime: to_system_time(a.mtime),
            ctime: to_system_time(a.ctime),
        }
    }
}

/// One directory entry (`.` and `..` are never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name: one path component, checked (never empty, `.`, `..`,
    /// nor containing `/` or NUL, at most [`crate::MAX_NAME_LEN`] bytes;
    /// lossily converted if the server's bytes are not UTF-8).
    pub name: String,
    /// Its handle, if the server sent one (READDIRPLUS usually does).
    pub handle: Option<FileHandle>,
    /// Its attributes, if the server sent them.
    pub metadata: Option<Metadata>,
    /// Its file id.
    pub fileid: u64,
}

impl DirEntry {
    /// An entry of a READDIR reply: name and file id only; an error if
    /// the name is not a valid file name.
    pub(crate) fn from_entry(e: Entry3) -> Result<DirEntry> {
        Ok(DirEntry {
            name: server_name(&e.name.0, "READDIR")?,
            handle: None,
            metadata: None,
            fileid: e.fileid,
        })
    }

    /// An entry of a READDIRPLUS reply, with the handle and attributes
    /// the server sent; an error if the name is not a valid file name.
    pub(crate) fn from_entryplus(e: Entryplus3) -> Result<DirEntry> {
        Ok(DirEntry {
            name: server_name(&e.name.0, "READDIRPLUS")?,
            handle: e.name_handle.map(FileHandle::from),
            metadata: e.name_attributes.map(Metadata::from),
            fileid: e.fileid,
        })
    }
}

/// How SETATTR sets a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    /// The server's current time.
    ServerNow,
    /// This time.
    At(SystemTime),
}

/// Attributes to change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size (truncates or extends).
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<SetTime>,
    /// New modification time.
    pub mtime: Option<SetTime>,
}

fn wire_time(t: Option<SetTime>) -> WireSetTime {
    match t {
        None => WireSetTime::DontChange,
        Some(SetTime::ServerNow) => WireSetTime::ServerTime,
        Some(SetTime::At(t)) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            WireSetTime::ClientTime(Nfstime3 {
                seconds: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
                nseconds: d.subsec_nanos(),
            })
        }
    }
}

impl From<&SetAttr> for Sattr3 {
    fn from(s: &SetAttr) -> Self {
        Sattr3 {
            mode: s.mode,
            uid: s.uid,
            gid: s.gid,
            size: s.size,
            atime: wire_time(s.atime),
            mtime: wire_time(s.mtime),
        }
    }
}

/// Dynamic file-system figures (FSSTAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    /// Total bytes.
    pub tbytes: u64,
    /// Free bytes.
    pub fbytes: u64,
    /// Bytes available to this user.
    pub abytes: u64,
    /// Total file slots.
    pub tfiles: u64,
    /// Free file slots.
    pub ffiles: u64,
    /// File slots available to this user.
    pub afiles: u64,
}

impl From<&Fsstat3ResOk> for FsStat {
    fn from(r: &Fsstat3ResOk) -> Self {
        FsStat {
            tbytes: r.tbytes,
            fbytes: r.fbytes,
            abytes: r.abytes,
            tfiles: r.tfiles,
            ffiles: r.ffiles,
            afiles: r.afiles,
        }
    }
}

/// Static file-system figures (FSINFO), learnt at mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Largest READ the server accepts.
    pub rtmax: u32,
    /// Preferred READ size.
    pub rtpref: u32,
    /// Largest WRITE the server accepts.
    pub wtmax: u32,
    /// Preferred WRITE size.
    pub wtpref: u32,
    /// Preferred READDIR size.
    pub dtpref: u32,
    /// Largest file size.
    pub maxfilesize: u64,
    /// Time granularity.
    pub time_delta: Duration,
    /// FSF3_* property bits.
    pub properties: u32,
}

impl From<&Fsinfo3ResOk> for FsInfo {
    fn from(r: &Fsinfo3ResOk) -> Self {
        FsInfo {
            rtmax: r.rtmax,
            rtpref: r.rtpref,
            wtmax: r.wtmax,
            wtpref: r.wtpref,
            dtpref: r.dtpref,
            maxfilesize: r.maxfilesize,
            time_delta: Duration::new(
                u64::from(r.time_delta.seconds),
                r.time_delta.nseconds.min(999_999_999),
            ),
            properties: r.properties,
        }
    }
}
