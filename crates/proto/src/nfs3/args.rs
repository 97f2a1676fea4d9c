//! Arguments of the NFSv3 procedures (RFC 1813 section 3.3).

use nfsl_xdr::{xdr_struct, Decoder, Encoder, Xdr, XdrError};

use super::types::*;

xdr_struct! {
    /// GETATTR arguments.
    pub struct Getattr3Args { /** Object. */ pub object: NfsFh3 }
}

xdr_struct! {
    /// SETATTR arguments.
    pub struct Setattr3Args {
        /// Object.
        pub object: NfsFh3,
        /// Attributes to set.
        pub new_attributes: Sattr3,
        /// If present, the call fails with NOT_SYNC unless the object's
        /// ctime equals this (`sattrguard3`).
        pub guard: Option<Nfstime3>,
    }
}

xdr_struct! {
    /// LOOKUP arguments.
    pub struct Lookup3Args { /** Directory and name. */ pub what: DirOpArgs3 }
}

xdr_struct! {
    /// ACCESS arguments.
    pub struct Access3Args {
        /// Object.
        pub object: NfsFh3,
        /// ACCESS3_* bits to check.
        pub access: u32,
    }
}

xdr_struct! {
    /// READLINK arguments.
    pub struct Readlink3Args { /** The symbolic link. */ pub symlink: NfsFh3 }
}

xdr_struct! {
    /// READ arguments.
    pub struct Read3Args {
        /// File.
        pub file: NfsFh3,
        /// Byte offset.
        pub offset: u64,
        /// Bytes wanted.
        pub count: u32,
    }
}

xdr_struct! {
    /// WRITE arguments.
    pub struct Write3Args {
        /// File.
        pub file: NfsFh3,
        /// Byte offset.
        pub offset: u64,
        /// Bytes to write (must not exceed `data`'s length).
        pub count: u32,
        /// Durability requested.
        pub stable: StableHow,
        /// The bytes.
        pub data: Data,
    }
}

/// How CREATE treats an existing file (`createhow3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateHow3 {
    /// Create or truncate, then set these attributes.
    Unchecked(Sattr3),
    /// Fail with EXIST if the name exists.
    Guarded(Sattr3),
    /// Exactly-once creation identified by a verifier.
    Exclusive(Createverf3),
}

impl Xdr for CreateHow3 {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            CreateHow3::Unchecked(a) => {
                out.put_u32(0);
                a.encode(out);
            }
            CreateHow3::Guarded(a) => {
                out.put_u32(1);
                a.encode(out);
            }
            CreateHow3::Exclusive(v) => {
                out.put_u32(2);
                v.encode(out);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        match d.u32()? {
            0 => Ok(CreateHow3::Unchecked(Sattr3::decode(d)?)),
            1 => Ok(CreateHow3::Guarded(Sattr3::decode(d)?)),
            2 => Ok(CreateHow3::Exclusive(Createverf3::decode(d)?)),
            value => Err(XdrError::InvalidDiscriminant {
                value,
                type_name: "createmode3",
            }),
        }
    }
}

xdr_struct! {
    /// CREATE arguments.
    pub struct Create3Args {
        /// Directory and name (`where` in the RFC).
        pub location: DirOpArgs3,
        /// Creation mode and attributes.
        pub how: CreateHow3,
    }
}

xdr_struct! {
    /// MKDIR arguments.
    pub struct Mkdir3Args {
        /// Directory and name.
        pub location: DirOpArgs3,
        /// Initial attributes.
        pub attributes: Sattr3,
    }
}

xdr_struct! {
    /// The new link of SYMLINK (`symlinkdata3`).
    pub struct Symlinkdata3 {
        /// Initial attributes.
        pub symlink_attributes: Sattr3,
        /// The link's contents.
        pub symlink_data: Nfspath3,
    }
}

xdr_struct! {
    /// SYMLINK arguments.
    pub struct Symlink3Args {
        /// Directory and name.
        pub location: DirOpArgs3,
        /// Attributes and contents.
        pub symlink: Symlinkdata3,
    }
}

xdr_struct! {
    /// Attributes and numbers of a new device (`devicedata3`).
    pub struct Devicedata3 {
        /// Initial attributes.
        pub dev_attributes: Sattr3,
        /// Major and minor numbers.
        pub spec: Specdata3,
    }
}

/// What MKNOD creates (`mknoddata3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mknoddata3 {
    /// Character device.
    Chr(Devicedata3),
    /// Block device.
    Blk(Devicedata3),
    /// Socket.
    Sock(Sattr3),
    /// Named pipe.
    Fifo(Sattr3),
    /// A type MKNOD cannot create (regular file, directory, link): the
    /// server answers NFS3ERR_BADTYPE.
    Other(Ftype3),
}

impl Xdr for Mknoddata3 {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Mknoddata3::Chr(d) => {
                Ftype3::Chr.encode(out);
                d.encode(out);
            }
            Mknoddata3::Blk(d) => {
                Ftype3::Blk.encode(out);
                d.encode(out);
            }
            Mknoddata3::Sock(a) => {
                Ftype3::Sock.encode(out);
                a.encode(out);
            }
            Mknoddata3::Fifo(a) => {
                Ftype3::Fifo.encode(out);
                a.encode(out);
            }
            Mknoddata3::Other(t) => t.encode(out),
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(match Ftype3::decode(d)? {
            Ftype3::Chr => Mknoddata3::Chr(Devicedata3::decode(d)?),
            Ftype3::Blk => Mknoddata3::Blk(Devicedata3::decode(d)?),
            Ftype3::Sock => Mknoddata3::Sock(Sattr3::decode(d)?),
            Ftype3::Fifo => Mknoddata3::Fifo(Sattr3::decode(d)?),
            other => Mknoddata3::Other(other),
        })
    }
}

xdr_struct! {
    /// MKNOD arguments.
    pub struct Mknod3Args {
        /// Directory and name.
        pub location: DirOpArgs3,
        /// What to create.
        pub what: Mknoddata3,
    }
}

xdr_struct! {
    /// REMOVE arguments.
    pub struct Remove3Args { /** Directory and name. */ pub object: DirOpArgs3 }
}

xdr_struct! {
    /// RMDIR arguments.
    pub struct Rmdir3Args { /** Directory and name. */ pub object: DirOpArgs3 }
}

xdr_struct! {
    /// RENAME arguments.
    pub struct Rename3Args {
        /// Source directory and name.
        pub from: DirOpArgs3,
        /// Target directory and name.
        pub to: DirOpArgs3,
    }
}

xdr_struct! {
    /// LINK arguments.
    pub struct Link3Args {
        /// Existing file.
        pub file: NfsFh3,
        /// Directory and name of the new link.
        pub link: DirOpArgs3,
    }
}

xdr_struct! {
    /// READDIR arguments.
    pub struct Readdir3Args {
        /// Directory.
        pub dir: NfsFh3,
        /// Where to resume (0 = start).
        pub cookie: Cookie3,
        /// Verifier returned with `cookie` (zeros at the start).
        pub cookieverf: Cookieverf3,
        /// Maximum size of the reply's directory information, in bytes.
        pub count: u32,
    }
}

xdr_struct! {
    /// READDIRPLUS arguments.
    pub struct Readdirplus3Args {
        /// Directory.
        pub dir: NfsFh3,
        /// Where to resume (0 = start).
        pub cookie: Cookie3,
        /// Verifier returned with `cookie` (zeros at the start).
        pub cookieverf: Cookieverf3,
        /// Maximum bytes of names and cookies alone.
        pub dircount: u32,
        /// Maximum size of the whole reply.
        pub maxcount: u32,
    }
}

xdr_struct! {
    /// FSSTAT arguments.
    pub struct Fsstat3Args { /** Any handle in the file system. */ pub fsroot: NfsFh3 }
}

xdr_struct! {
    /// FSINFO arguments.
    pub struct Fsinfo3Args { /** Any handle in the file system. */ pub fsroot: NfsFh3 }
}

xdr_struct! {
    /// PATHCONF arguments.
    pub struct Pathconf3Args { /** Object. */ pub object: NfsFh3 }
}

xdr_struct! {
    /// COMMIT arguments.
    pub struct Commit3Args {
        /// File.
        pub file: NfsFh3,
        /// Start of the range (0 with count 0 means the whole file).
        pub offset: u64,
        /// Length of the range (0 = to the end).
        pub count: u32,
    }
}
