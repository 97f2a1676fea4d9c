//! A call's results as the service builds them: XDR bytes, with ranges of
//! open files placed between them that the transport sends straight from
//! the file.

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::OwnedFd;

/// The results of one call, as [`RpcService::call`](crate::RpcService::call)
/// builds them.
///
/// It dereferences to the `Vec<u8>` of XDR bytes, so results are encoded
/// into it as into any buffer. A service may also place a range of an open
/// file at the current end of the bytes ([`push_file`](Results::push_file));
/// the bytes appended afterwards follow it on the wire. The transport sends
/// such a range from the file itself (`sendfile`), so large data (a READ's)
/// never passes through user space; it reads it into memory only when it
/// cannot send at once (the socket is full) or must keep the reply (the
/// duplicate request cache).
///
/// A file range is read when it is sent, so its bytes are those the file
/// holds then. If the file has shrunk below the range by then, the reply
/// cannot be completed and the transport closes the connection (the client
/// retransmits on a new one).
#[derive(Debug, Default)]
pub struct Results {
    bytes: Vec<u8>,
    files: Vec<FileRange>,
}

/// `len` bytes at `offset` of `file`, placed before `bytes[at]`.
#[derive(Debug)]
pub struct FileRange {
    at: usize,
    file: OwnedFd,
    offset: u64,
    len: usize,
}

impl FileRange {
    /// The open file the range is read from.
    pub fn file(&self) -> &OwnedFd {
        &self.file
    }

    /// Where in the file the range starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many bytes the range holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty (never, for a range in [`Results`]).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Results {
    /// Empty results.
    pub fn new() -> Results {
        Results::default()
    }

    /// Places `len` bytes at `offset` of `file` (opened for reading, e.g. a
    /// regular file) at the current end of the bytes. The caller must know
    /// the file holds them (e.g. from `fstat`), since their length is
    /// usually encoded before them.
    pub fn push_file(&mut self, file: OwnedFd, offset: u64, len: usize) {
        if len > 0 {
            self.files.push(FileRange {
                at: self.bytes.len(),
                file,
                offset,
                len,
            });
        }
    }

    /// Whether any file range is placed in the results (sending them may
    /// then wait for the disk).
    pub fn has_files(&self) -> bool {
        !self.files.is_empty()
    }

    /// Length on the wire: the bytes plus every file range.
    pub fn wire_len(&self) -> usize {
        self.bytes.len() + self.files.iter().map(|f| f.len).sum::<usize>()
    }

    /// Reads every file range in, leaving the whole results as bytes (the
    /// wire layout is unchanged). Fails if a file no longer holds its range.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        self.into_bytes_with(|_| Vec::new())
    }

    /// [`into_bytes`](Results::into_bytes), with the buffer for results
    /// that have file ranges from `buffer` (given their wire length; any
    /// contents, which are replaced) rather than freshly allocated.
    pub fn into_bytes_with(self, buffer: impl FnOnce(usize) -> Vec<u8>) -> io::Result<Vec<u8>> {
        if self.files.is_empty() {
            return Ok(self.bytes);
        }
        let len = self.wire_len();
        let mut all = buffer(len);
        all.clear();
        all.reserve_exact(len);
        for part in self.parts() {
            match part {
                Part::Bytes(b) => all.extend_from_slice(b),
                Part::File(f) => read_range(f, &mut all)?,
            }
        }
        Ok(all)
    }

    /// The results in wire order. A range placed beyond bytes that were
    /// later truncated goes at their end.
    pub fn parts(&self) -> impl Iterator<Item = Part<'_>> {
        let mut from = 0;
        let mut files = self.files.iter();
        let mut pending_file = None;
        std::iter::from_fn(move || loop {
            if let Some(f) = pending_file.take() {
                return Some(Part::File(f));
            }
            match files.next() {
                Some(f) => {
                    let at = f.at.clamp(from, self.bytes.len());
                    let bytes = &self.bytes[from..at];
                    from = at;
                    pending_file = Some(f);
                    if !bytes.is_empty() {
                        return Some(Part::Bytes(bytes));
                    }
                }
                None => {
                    let bytes = &self.bytes[from..];
                    from = self.bytes.len();
                    return (!bytes.is_empty()).then_some(Part::Bytes(bytes));
                }
            }
        })
    }
}

/// A piece of [`Results`] on the wire.
#[derive(Debug)]
pub enum Part<'a> {
    /// XDR bytes, sent as they are.
    Bytes(&'a [u8]),
    /// A range of an open file, sent from the file.
    File(&'a FileRange),
}

/// Appends the whole of `f` to `out`.
fn read_range(f: &FileRange, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.resize(start + f.len, 0);
    let mut done = 0;
    while done < f.len {
        match rustix::io::pread(
            &f.file,
            &mut out[start + done..],
            f.offset.saturating_add(done as u64),
        ) {
            Ok(0) => return Err(shrunk()),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The error for a file range the file no longer holds.
pub fn shrunk() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "file shrank below a range placed in a reply",
    )
}

impl Deref for Results {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.bytes
    }
}

impl DerefMut for Results {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}
