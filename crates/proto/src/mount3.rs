//! MOUNT protocol version 3 (RFC 1813, appendix I).

use nfsl_xdr::{
    encode_array, encode_list, xdr_enum, xdr_opaque, xdr_struct, Decoder, Xdr, XdrError,
};

use crate::nfs3::NfsFh3;
use crate::MAX_LIST_ENTRIES;

/// RPC program number of MOUNT.
pub const MOUNT_PROGRAM: u32 = 100005;
/// The MOUNT version that goes with NFSv3.
pub const MOUNT_V3: u32 = 3;
/// Longest path a MOUNT call may carry (`MNTPATHLEN`).
pub const MNTPATHLEN: usize = 1024;
/// Longest host or group name (`MNTNAMLEN`).
pub const MNTNAMLEN: usize = 255;

xdr_opaque! {
    /// A server path being mounted (`dirpath`).
    pub struct Dirpath(max = MNTPATHLEN);
}

xdr_opaque! {
    /// A client host name or export group name (`name`).
    pub struct MountName(max = MNTNAMLEN);
}

xdr_enum! {
    /// MOUNT v3 procedures.
    pub enum Mount3Procedure {
        /// Does nothing.
        Null = 0,
        /// Mounts a path and returns its root file handle.
        Mnt = 1,
        /// Lists the mounts the server has recorded.
        Dump = 2,
        /// Removes one mount record.
        Umnt = 3,
        /// Removes every mount record of the caller.
        Umntall = 4,
        /// Lists the exports and who may mount them.
        Export = 5,
    }
}

xdr_enum! {
    /// MOUNT v3 status codes (`mountstat3`).
    pub enum Mountstat3 {
        /// No error.
        Ok = 0,
        /// Not owner.
        Perm = 1,
        /// No such file or directory.
        Noent = 2,
        /// I/O error.
        Io = 5,
        /// Permission denied.
        Acces = 13,
        /// Not a directory.
        Notdir = 20,
        /// Invalid argument.
        Inval = 22,
        /// Filename too long.
        Nametoolong = 63,
        /// Operation not supported.
        Notsupp = 10004,
        /// A failure on the server.
        Serverfault = 10006,
    }
}

/// The success arm of MNT: the root handle and accepted auth flavors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mountres3Ok {
    /// File handle of the mounted directory.
    pub fhandle: NfsFh3,
    /// RPC authentication flavors the server accepts for this mount.
    pub auth_flavors: Vec<u32>,
}

/// Auth flavors are at most a handful; this bounds the decoded array.
const MAX_AUTH_FLAVORS: usize = 64;

impl Xdr for Mountres3Ok {
    fn encode(&self, out: &mut Vec<u8>) {
        self.fhandle.encode(out);
        encode_array(&self.auth_flavors, out);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(Mountres3Ok {
            fhandle: NfsFh3::decode(d)?,
            auth_flavors: d.array_of(MAX_AUTH_FLAVORS)?,
        })
    }
}

/// The result of MNT (`mountres3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mountres3 {
    /// MNT3_OK.
    Ok(Mountres3Ok),
    /// Any other status (never [`Mountstat3::Ok`]).
    Err(Mountstat3),
}

impl Xdr for Mountres3 {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Mountres3::Ok(ok) => {
                Mountstat3::Ok.encode(out);
                ok.encode(out);
            }
            Mountres3::Err(s) => s.encode(out),
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        match Mountstat3::decode(d)? {
            Mountstat3::Ok => Ok(Mountres3::Ok(Mountres3Ok::decode(d)?)),
            s => Ok(Mountres3::Err(s)),
        }
    }
}

xdr_struct! {
    /// One record of the DUMP list (`mountbody`).
    pub struct MountBody {
        /// The client that mounted.
        pub hostname: MountName,
        /// The path it mounted.
        pub directory: Dirpath,
    }
}

/// The DUMP result (`mountlist`), an XDR linked list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountList(pub Vec<MountBody>);

impl Xdr for MountList {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_list(&self.0, out);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(MountList(d.list_of(MAX_LIST_ENTRIES)?))
    }
}

/// One export of the EXPORT result (`exportnode`): a path and the groups
/// (client specifications) that may mount it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportNode {
    /// The exported path.
    pub dir: Dirpath,
    /// Client specifications allowed to mount it.
    pub groups: Vec<MountName>,
}

impl Xdr for ExportNode {
    fn encode(&self, out: &mut Vec<u8>) {
        self.dir.encode(out);
        encode_list(&self.groups, out);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(ExportNode {
            dir: Dirpath::decode(d)?,
            groups: d.list_of(MAX_LIST_ENTRIES)?,
        })
    }
}

/// The EXPORT result (`exports`), an XDR linked list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportList(pub Vec<ExportNode>);

impl Xdr for ExportList {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_list(&self.0, out);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(ExportList(d.list_of(MAX_LIST_ENTRIES)?))
    }
}
