//! Results of the NFSv3 procedures (RFC 1813 section 3.3). Each is an
//! [`NfsResult`] of its success arm and its failure arm.

use nfsl_xdr::{encode_list, xdr_struct, Decoder, Encoder, Xdr, XdrError};

use super::types::*;
use crate::{NfsResult, MAX_LIST_ENTRIES};

xdr_struct! {
    /// GETATTR success.
    pub struct Getattr3ResOk { /** Attributes. */ pub obj_attributes: Fattr3 }
}
/// GETATTR result.
pub type Getattr3Res = NfsResult<Getattr3ResOk, ()>;

xdr_struct! {
    /// SETATTR success.
    pub struct Setattr3ResOk { /** Object before and after. */ pub obj_wcc: WccData }
}
/// SETATTR result.
pub type Setattr3Res = NfsResult<Setattr3ResOk, WccData>;

xdr_struct! {
    /// LOOKUP success.
    pub struct Lookup3ResOk {
        /// Handle of the object found.
        pub object: NfsFh3,
        /// Its attributes.
        pub obj_attributes: PostOpAttr,
        /// The directory's attributes.
        pub dir_attributes: PostOpAttr,
    }
}
/// LOOKUP result (failure carries the directory's attributes).
pub type Lookup3Res = NfsResult<Lookup3ResOk, PostOpAttr>;

xdr_struct! {
    /// ACCESS success.
    pub struct Access3ResOk {
        /// Attributes.
        pub obj_attributes: PostOpAttr,
        /// The ACCESS3_* bits granted, among those asked.
        pub access: u32,
    }
}
/// ACCESS result.
pub type Access3Res = NfsResult<Access3ResOk, PostOpAttr>;

xdr_struct! {
    /// READLINK success.
    pub struct Readlink3ResOk {
        /// The link's attributes.
        pub symlink_attributes: PostOpAttr,
        /// Its contents.
        pub data: Nfspath3,
    }
}
/// READLINK result.
pub type Readlink3Res = NfsResult<Readlink3ResOk, PostOpAttr>;

xdr_struct! {
    /// READ success.
    pub struct Read3ResOk {
        /// Attributes after the read.
        pub file_attributes: PostOpAttr,
        /// Bytes read.
        pub count: u32,
        /// The read reached the end of the file.
        pub eof: bool,
        /// The bytes.
        pub data: Data,
    }
}
/// READ result.
pub type Read3Res = NfsResult<Read3ResOk, PostOpAttr>;

xdr_struct! {
    /// WRITE success.
    pub struct Write3ResOk {
        /// The file before and after.
        pub file_wcc: WccData,
        /// Bytes written.
        pub count: u32,
        /// Durability actually achieved.
        pub committed: StableHow,
        /// The server's write verifier.
        pub verf: Writeverf3,
    }
}
/// WRITE result.
pub type Write3Res = NfsResult<Write3ResOk, WccData>;

xdr_struct! {
    /// Success of CREATE, MKDIR, SYMLINK and MKNOD (identical in the RFC).
    pub struct NewObject3ResOk {
        /// Handle of the new object.
        pub obj: PostOpFh3,
        /// Its attributes.
        pub obj_attributes: PostOpAttr,
        /// The directory before and after.
        pub dir_wcc: WccData,
    }
}
/// CREATE result.
pub type Create3Res = NfsResult<NewObject3ResOk, WccData>;
/// MKDIR result.
pub type Mkdir3Res = NfsResult<NewObject3ResOk, WccData>;
/// SYMLINK result.
pub type Symlink3Res = NfsResult<NewObject3ResOk, WccData>;
/// MKNOD result.
pub type Mknod3Res = NfsResult<NewObject3ResOk, WccData>;

xdr_struct! {
    /// REMOVE and RMDIR success.
    pub struct Remove3ResOk { /** The directory before and after. */ pub dir_wcc: WccData }
}
/// REMOVE result.
pub type Remove3Res = NfsResult<Remove3ResOk, WccData>;
/// RMDIR result.
pub type Rmdir3Res = NfsResult<Remove3ResOk, WccData>;

xdr_struct! {
    /// RENAME success and failure arms (identical).
    #[derive(Default)]
    pub struct Rename3Wcc {
        /// Source directory before and after.
        pub fromdir_wcc: WccData,
        /// Target directory before and after.
        pub todir_wcc: WccData,
    }
}
/// RENAME result.
pub type Rename3Res = NfsResult<Rename3Wcc, Rename3Wcc>;

xdr_struct! {
    /// LINK success and failure arms (identical).
    #[derive(Default)]
    pub struct Link3Wcc {
        /// The file's attributes.
        pub file_attributes: PostOpAttr,
        /// The link directory before and after.
        pub linkdir_wcc: WccData,
    }
}
/// LINK result.
pub type Link3Res = NfsResult<Link3Wcc, Link3Wcc>;

xdr_struct! {
    /// One READDIR entry (`entry3`).
    pub struct Entry3 {
        /// File identifier.
        pub fileid: u64,
        /// Name.
        pub name: Filename3,
        /// Cookie to resume after this entry.
        pub cookie: Cookie3,
    }
}

xdr_struct! {
    /// One READDIRPLUS entry (`entryplus3`).
    pub struct Entryplus3 {
        /// File identifier.
        pub fileid: u64,
        /// Name.
        pub name: Filename3,
        /// Cookie to resume after this entry.
        pub cookie: Cookie3,
        /// Attributes.
        pub name_attributes: PostOpAttr,
        /// Handle.
        pub name_handle: PostOpFh3,
    }
}

/// A directory listing page (`dirlist3` / `dirlistplus3`): entries as an
/// XDR linked list, then whether the directory ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirList<E> {
    /// Entries in this reply.
    pub entries: Vec<E>,
    /// No entries follow the last one.
    pub eof: bool,
}

impl<E: Xdr> Xdr for DirList<E> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_list(&self.entries, out);
        out.put_bool(self.eof);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(DirList {
            entries: d.list_of(MAX_LIST_ENTRIES)?,
            eof: d.bool()?,
        })
    }
}

xdr_struct! {
    /// READDIR success.
    pub struct Readdir3ResOk {
        /// The directory's attributes.
        pub dir_attributes: PostOpAttr,
        /// Verifier to send back with the cookies.
        pub cookieverf: Cookieverf3,
        /// The entries.
        pub reply: DirList<Entry3>,
    }
}
/// READDIR result.
pub type Readdir3Res = NfsResult<Readdir3ResOk, PostOpAttr>;

xdr_struct! {
    /// READDIRPLUS success.
    pub struct Readdirplus3ResOk {
        /// The directory's attributes.
        pub dir_attributes: PostOpAttr,
        /// Verifier to send back with the cookies.
        pub cookieverf: Cookieverf3,
        /// The entries.
        pub reply: DirList<Entryplus3>,
    }
}
/// READDIRPLUS result.
pub type Readdirplus3Res = NfsResult<Readdirplus3ResOk, PostOpAttr>;

xdr_struct! {
    /// FSSTAT success.
    pub struct Fsstat3ResOk {
        /// Attributes of the handle asked about.
        pub obj_attributes: PostOpAttr,
        /// Total bytes.
        pub tbytes: u64,
        /// Free bytes.
        pub fbytes: u64,
        /// Bytes available to the caller.
        pub abytes: u64,
        /// Total file slots.
        pub tfiles: u64,
        /// Free file slots.
        pub ffiles: u64,
        /// File slots available to the caller.
        pub afiles: u64,
        /// Seconds for which these figures are not expected to change.
        pub invarsec: u32,
    }
}
/// FSSTAT result.
pub type Fsstat3Res = NfsResult<Fsstat3ResOk, PostOpAttr>;

xdr_struct! {
    /// FSINFO success.
    pub struct Fsinfo3ResOk {
        /// Attributes of the handle asked about.
        pub obj_attributes: PostOpAttr,
        /// Largest READ.
        pub rtmax: u32,
        /// Preferred READ size.
        pub rtpref: u32,
        /// Suggested READ multiple.
        pub rtmult: u32,
        /// Largest WRITE.
        pub wtmax: u32,
        /// Preferred WRITE size.
        pub wtpref: u32,
        /// Suggested WRITE multiple.
        pub wtmult: u32,
        /// Preferred READDIR size.
        pub dtpref: u32,
        /// Largest file size.
        pub maxfilesize: u64,
        /// Server time granularity.
        pub time_delta: Nfstime3,
        /// FSF3_* bits.
        pub properties: u32,
    }
}
/// FSINFO result.
pub type Fsinfo3Res = NfsResult<Fsinfo3ResOk, PostOpAttr>;

xdr_struct! {
    /// PATHCONF success.
    pub struct Pathconf3ResOk {
        /// Attributes.
        pub obj_attributes: PostOpAttr,
        /// Maximum hard links.
        pub linkmax: u32,
        /// Maximum name length.
        pub name_max: u32,
        /// Long names are rejected, not truncated.
        pub no_trunc: bool,
        /// Only privileged users may chown.
        pub chown_restricted: bool,
        /// Names are compared without case.
        pub case_insensitive: bool,
        /// Names keep their case.
        pub case_preserving: bool,
    }
}
/// PATHCONF result.
pub type Pathconf3Res = NfsResult<Pathconf3ResOk, PostOpAttr>;

xdr_struct! {
    /// COMMIT success.
    pub struct Commit3ResOk {
        /// The file before and after.
        pub file_wcc: WccData,
        /// The server's write verifier.
        pub verf: Writeverf3,
    }
}
/// COMMIT result.
pub type Commit3Res = NfsResult<Commit3ResOk, WccData>;
