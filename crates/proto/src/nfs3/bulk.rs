//! Borrowed views of the two bulk procedures' messages, READ and WRITE,
//! whose data is too large to copy into an owned [`Data`](super::Data):
//! the data stays where it is (a slice of the record it arrived in, or
//! bytes the sender places on the wire itself: a buffer, or a range of a
//! file it sends with `sendfile`). Decoding and encoding agree with the
//! owned [`Write3Args`](super::Write3Args) and
//! [`Read3Res`](super::Read3Res) byte for byte, so every crate speaks the
//! one wire format defined here.

use nfsl_xdr::{padding, Decoder, Encoder, Xdr, XdrError};

use super::{NfsFh3, Nfsstat3, PostOpAttr, StableHow};
use crate::NfsResult;

/// WRITE arguments with the data borrowed from the call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write3ArgsRef<'a> {
    /// File.
    pub file: NfsFh3,
    /// Byte offset.
    pub offset: u64,
    /// Bytes to write (must not exceed `data`'s length; the server checks).
    pub count: u32,
    /// Durability requested.
    pub stable: StableHow,
    /// The bytes, as they sit in the record.
    pub data: &'a [u8],
}

impl<'a> Write3ArgsRef<'a> {
    /// Decodes the whole of `args` (trailing bytes are an error); the
    /// data's declared length is checked against the bytes present before
    /// anything is taken.
    pub fn decode(args: &'a [u8]) -> Result<Self, XdrError> {
        let mut d = Decoder::new(args);
        let a = Write3ArgsRef {
            file: NfsFh3::decode(&mut d)?,
            offset: d.u64()?,
            count: d.u32()?,
            stable: StableHow::decode(&mut d)?,
            data: d.opaque(usize::MAX)?,
        };
        d.finish()?;
        Ok(a)
    }

    /// Appends the whole encoding, data included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.head().encode(out);
        out.put_fixed_opaque(self.data);
    }

    /// Everything but the data itself.
    pub fn head(&self) -> Write3Head<'_> {
        Write3Head {
            file: &self.file,
            offset: self.offset,
            count: self.count,
            stable: self.stable,
            data_len: self.data.len() as u32,
        }
    }
}

/// WRITE arguments up to the data: for a sender that places the data (and
/// its padding, [`pad_for`]) on the wire itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write3Head<'a> {
    /// File.
    pub file: &'a NfsFh3,
    /// Byte offset.
    pub offset: u64,
    /// Bytes to write.
    pub count: u32,
    /// Durability requested.
    pub stable: StableHow,
    /// Length of the data that follows (normally `count`).
    pub data_len: u32,
}

impl Write3Head<'_> {
    /// Appends `file`, `offset`, `count`, `stable` and the data's length;
    /// `data_len` bytes of data and [`pad_for`]`(data_len)` must follow.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.file.encode(out);
        out.put_u64(self.offset);
        out.put_u32(self.count);
        self.stable.encode(out);
        out.put_u32(self.data_len);
    }
}

/// READ success with the data borrowed from the reply record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read3ResOkRef<'a> {
    /// Attributes after the read.
    pub file_attributes: PostOpAttr,
    /// Bytes read (equal to `data`'s length: checked when decoding).
    pub count: u32,
    /// The read reached the end of the file.
    pub eof: bool,
    /// The bytes, as they sit in the record.
    pub data: &'a [u8],
    /// Where `data` starts in the decoded results (to slice the record
    /// that holds them without copying).
    pub data_at: usize,
}

/// READ results with the data borrowed.
pub type Read3ResRef<'a> = NfsResult<Read3ResOkRef<'a>, PostOpAttr>;

/// Decodes the whole of `results` as READ3res; a success carrying more than
/// `max` bytes (more than was asked for) or whose `count` differs from its
/// data's length is malformed.
pub fn decode_read3_res(results: &[u8], max: usize) -> Result<Read3ResRef<'_>, XdrError> {
    let mut d = Decoder::new(results);
    let status = Nfsstat3::decode(&mut d)?;
    let file_attributes = PostOpAttr::decode(&mut d)?;
    if status != Nfsstat3::Ok {
        d.finish()?;
        return Ok(NfsResult::Err(status, file_attributes));
    }
    let count = d.u32()?;
    let eof = d.bool()?;
    let data_at = d.position() + 4;
    let data = d.opaque(max)?;
    d.finish()?;
    if count as usize != data.len() {
        return Err(XdrError::TooLong {
            len: u64::from(count),
            max: data.len() as u64,
        });
    }
    Ok(NfsResult::Ok(Read3ResOkRef {
        file_attributes,
        count,
        eof,
        data,
        data_at,
    }))
}

/// A successful READ3res up to the data: for a sender that places the
/// data (and its padding, [`pad_for`]) on the wire itself, e.g. as a range
/// of the file sent with `sendfile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read3ResOkHead {
    /// Attributes after the read.
    pub file_attributes: PostOpAttr,
    /// Bytes read: the length of the data that follows.
    pub count: u32,
    /// The read reached the end of the file.
    pub eof: bool,
}

impl Read3ResOkHead {
    /// Appends `NFS3_OK`, the attributes, `count`, `eof` and the data's
    /// length; `count` bytes of data and [`pad_for`]`(count)` must follow.
    pub fn encode(&self, out: &mut Vec<u8>) {
        Nfsstat3::Ok.encode(out);
        self.file_attributes.encode(out);
        out.put_u32(self.count);
        out.put_bool(self.eof);
        out.put_u32(self.count);
    }
}

/// The zero bytes that pad `len` bytes of opaque data to a multiple of 4.
pub fn pad_for(len: usize) -> &'static [u8] {
    &[0u8; 3][..padding(len)]
}
