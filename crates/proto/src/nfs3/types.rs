//! NFSv3 basic data types (RFC 1813 section 2.5 and 2.6).

use nfsl_xdr::{xdr_enum, xdr_opaque, xdr_struct, Decoder, Encoder, Xdr, XdrError};

use super::NFS3_FHSIZE;
use crate::MAX_WIRE_NAME;

/// A READDIR position (`cookie3`).
pub type Cookie3 = u64;
/// Validates a READDIR cookie across calls (`cookieverf3`).
pub type Cookieverf3 = [u8; 8];
/// Exclusive CREATE verifier (`createverf3`).
pub type Createverf3 = [u8; 8];
/// Write verifier: changes when the server loses unstable data (`writeverf3`).
pub type Writeverf3 = [u8; 8];

xdr_opaque! {
    /// An opaque NFSv3 file handle (`nfs_fh3`), at most 64 bytes.
    pub struct NfsFh3(max = NFS3_FHSIZE);
}

xdr_opaque! {
    /// One path component (`filename3`), raw bytes as on the wire.
    pub struct Filename3(max = MAX_WIRE_NAME);
}

xdr_opaque! {
    /// A symbolic link's contents (`nfspath3`).
    pub struct Nfspath3(max = MAX_WIRE_NAME);
}

/// READ and WRITE payload: opaque data bounded only by the record that
/// carries it (the decoder checks the remaining bytes before copying).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data(pub Vec<u8>);

impl Xdr for Data {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_opaque(&self.0);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(Data(d.opaque(usize::MAX)?.to_vec()))
    }
}

xdr_enum! {
    /// File types (`ftype3`).
    pub enum Ftype3 {
        /// Regular file.
        Reg = 1,
        /// Directory.
        Dir = 2,
        /// Block special device.
        Blk = 3,
        /// Character special device.
        Chr = 4,
        /// Symbolic link.
        Lnk = 5,
        /// Socket.
        Sock = 6,
        /// Named pipe.
        Fifo = 7,
    }
}

xdr_enum! {
    /// How durable a WRITE must be before it is answered (`stable_how`).
    pub enum StableHow {
        /// The server may cache the data; COMMIT makes it durable.
        Unstable = 0,
        /// Data and the metadata needed to read it back are durable.
        DataSync = 1,
        /// Data and all metadata are durable.
        FileSync = 2,
    }
}

xdr_struct! {
    /// A time in seconds and nanoseconds since the epoch (`nfstime3`).
    #[derive(Copy, Default)]
    pub struct Nfstime3 {
        /// Seconds.
        pub seconds: u32,
        /// Nanoseconds.
        pub nseconds: u32,
    }
}

xdr_struct! {
    /// Device numbers (`specdata3`): major and minor for devices.
    #[derive(Copy, Default)]
    pub struct Specdata3 {
        /// Major number.
        pub specdata1: u32,
        /// Minor number.
        pub specdata2: u32,
    }
}

xdr_struct! {
    /// File attributes (`fattr3`).
    pub struct Fattr3 {
        /// File type.
        pub ftype: Ftype3,
        /// Protection mode bits (permissions, setuid, setgid, sticky).
        pub mode: u32,
        /// Hard link count.
        pub nlink: u32,
        /// Owner.
        pub uid: u32,
        /// Group.
        pub gid: u32,
        /// Size in bytes.
        pub size: u64,
        /// Bytes of disk space used.
        pub used: u64,
        /// Device numbers for block and character devices.
        pub rdev: Specdata3,
        /// File system identifier.
        pub fsid: u64,
        /// File identifier (inode number) within the file system.
        pub fileid: u64,
        /// Last access time.
        pub atime: Nfstime3,
        /// Last data modification time.
        pub mtime: Nfstime3,
        /// Last attribute change time.
        pub ctime: Nfstime3,
    }
}

/// Attributes returned after an operation, if the server has them.
pub type PostOpAttr = Option<Fattr3>;
/// A file handle returned after an operation, if the server has it.
pub type PostOpFh3 = Option<NfsFh3>;

xdr_struct! {
    /// The attributes weak cache consistency compares (`wcc_attr`).
    #[derive(Copy)]
    pub struct WccAttr {
        /// Size in bytes.
        pub size: u64,
        /// Data modification time.
        pub mtime: Nfstime3,
        /// Attribute change time.
        pub ctime: Nfstime3,
    }
}

/// Attributes before an operation, if the server has them.
pub type PreOpAttr = Option<WccAttr>;

xdr_struct! {
    /// Weak cache consistency data (`wcc_data`): before and after.
    #[derive(Default)]
    pub struct WccData {
        /// Attributes before the operation.
        pub before: PreOpAttr,
        /// Attributes after the operation.
        pub after: PostOpAttr,
    }
}

/// How SETATTR sets a time (`set_atime` / `set_mtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetTime {
    /// Leave the time alone.
    #[default]
    DontChange,
    /// Set it to the server's current time.
    ServerTime,
    /// Set it to the given time.
    ClientTime(Nfstime3),
}

impl Xdr for SetTime {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SetTime::DontChange => out.put_u32(0),
            SetTime::ServerTime => out.put_u32(1),
            SetTime::ClientTime(t) => {
                out.put_u32(2);
                t.encode(out);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        match d.u32()? {
            0 => Ok(SetTime::DontChange),
            1 => Ok(SetTime::ServerTime),
            2 => Ok(SetTime::ClientTime(Nfstime3::decode(d)?)),
            value => Err(XdrError::InvalidDiscriminant {
                value,
                type_name: "time_how",
            }),
        }
    }
}

xdr_struct! {
    /// Attributes to set (`sattr3`); `None` leaves a field alone.
    #[derive(Default)]
    pub struct Sattr3 {
        /// New mode bits.
        pub mode: Option<u32>,
        /// New owner.
        pub uid: Option<u32>,
        /// New group.
        pub gid: Option<u32>,
        /// New size (truncate or extend).
        pub size: Option<u64>,
        /// New access time.
        pub atime: SetTime,
        /// New modification time.
        pub mtime: SetTime,
    }
}

xdr_struct! {
    /// A directory and a name in it (`diropargs3`).
    pub struct DirOpArgs3 {
        /// The directory.
        pub dir: NfsFh3,
        /// The name.
        pub name: Filename3,
    }
}
