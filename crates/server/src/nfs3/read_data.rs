//! How a READ's data gets into the reply: read into it with one `pread`
//! when small, placed as a range of the open file (sent with `sendfile`)
//! when large.
//!
//! For a 4 KiB READ the copy costs less than the system calls it saves:
//! the transport would otherwise send the head and the data in two calls,
//! and a cached descriptor would have to be duplicated (and closed) to be
//! handed over. From [`SENDFILE_MIN`] on, not copying wins.

use std::io;
use std::os::fd::AsFd;

use nfsl_rpc_service::Results;

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
