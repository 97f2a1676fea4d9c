//! How a READ's data gets into the reply: read into it with one `pread`
//! when small, placed as a range of the open file (sent with `sendfile`)
//! when large.
//!
//! For a 4 KiB READ the copy costs less than the system calls it saves:
//! the transport would otherwise send the head and the data in two calls,
//! and a cached descriptor would have to be duplicated (and closed) to be
//! handed over. From [`SENDFILE_MIN`] on, not copying wins.

use std::io::{self, IoSliceMut};
use std::os::fd::AsFd;

use nfsl_proto::nfs3::{pad_for, Read3ResOkHead};
use nfsl_rpc_service::Results;
use rustix::fs::Stat;
use rustix::io::{Errno, ReadWriteFlags};

use super::attrs::fattr3;
use crate::filecache::TargetFd;

/// READs of at least this many bytes are sent from the file.
pub(super) const SENDFILE_MIN: u32 = 64 << 10;

/// A READ's data, ready to be placed after the reply's head.
pub(super) enum ReadData {
    /// Read in.
    Bytes(Vec<u8>),
    /// `len` bytes at `offset` of the file, sent from it.
    File {
        fd: std::os::fd::OwnedFd,
        offset: u64,
        len: usize,
    },
}

impl ReadData {
    /// Up to `n` bytes at `offset` of `fd` (fewer if the file ends first).
    pub(super) fn take(fd: TargetFd, offset: u64, n: u32) -> io::Result<ReadData> {
        if n >= SENDFILE_MIN {
            return Ok(ReadData::File {
                fd: fd.into_owned()?,
                offset,
                len: n as usize,
            });
        }
        let mut buf = vec![0u8; n as usize];
        let mut got = 0;
        while got < buf.len() {
            match rustix::io::pread(fd.as_fd(), &mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(got);
        Ok(ReadData::Bytes(buf))
    }

    /// Up to `n` (below [`SENDFILE_MIN`]) bytes at `offset` of `fd`, read
    /// only if every byte is in the page cache (`RWF_NOWAIT`): `None` if
    /// reading would wait for the disk (or fails: the caller then reads
    /// the usual way, which reports the error).
    pub(super) fn take_cached(fd: impl AsFd, offset: u64, n: u32) -> Option<ReadData> {
        if n >= SENDFILE_MIN {
            return None;
        }
        let mut buf = vec![0u8; n as usize];
        let mut got = 0;
        while got < buf.len() {
            let at = offset + got as u64;
            let slice = &mut [IoSliceMut::new(&mut buf[got..])];
            match rustix::io::preadv2(fd.as_fd(), slice, at, ReadWriteFlags::NOWAIT) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(Errno::INTR) => {}
                // EAGAIN: not all in the page cache.
                Err(_) => return None,
            }
        }
        buf.truncate(got);
        Some(ReadData::Bytes(buf))
    }

    /// Bytes of data.
    pub(super) fn len(&self) -> usize {
        match self {
            ReadData::Bytes(b) => b.len(),
            ReadData::File { len, .. } => *len,
        }
    }

    /// Appends the data to `out`.
    pub(super) fn place(self, out: &mut Results) {
        match self {
            ReadData::Bytes(b) => out.extend_from_slice(&b),
            ReadData::File { fd, offset, len } => out.push_file(fd, offset, len),
        }
    }
}

/// How many of `count` bytes at `offset` a file of attributes `st` holds.
pub(super) fn read_len(st: &Stat, offset: u64, count: u32) -> u32 {
    let size = u64::try_from(st.st_size).unwrap_or(0);
    size.saturating_sub(offset).min(u64::from(count)) as u32
}

/// Appends the successful READ reply for `data` read at `offset` of a file
/// whose attributes (taken by this request before the read, so the count
/// and eof agree with them) are `st`: the head, the data, its padding.
pub(super) fn encode_read_ok(st: &Stat, fsid: u64, offset: u64, data: ReadData, out: &mut Results) {
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let n = data.len() as u32;
    Read3ResOkHead {
        file_attributes: Some(fattr3(st, fsid)),
        count: n,
        eof: offset.saturating_add(u64::from(n)) >= size,
    }
    .encode(out);
    data.place(out);
    out.extend_from_slice(pad_for(n as usize));
}
