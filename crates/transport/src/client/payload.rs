//! The data of a WRITE: bytes in memory, or a range of a local file that
//! the transport sends with `sendfile(2)` straight from the page cache,
//! never copied into the client's memory.
//!
//! A [`FileRange`] costs no memory while the unstable-write journal holds
//! it until COMMIT; a re-send (after the server lost unstable data) sends
//! the range again from the file. So the file must not change while it is
//! being written and until the write is committed: a re-send would send
//! its new contents, and a range the file no longer has fails the WRITE
//! with [`crate::Error::Source`] (never a short record on the wire).

use std::io;
use std::ops::{Bound, Range, RangeBounds};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::error::{CallError as Error, Result};

/// A byte range of a local file, sent without being read into memory.
#[derive(Debug, Clone)]
pub struct FileRange {
    file: Arc<std::fs::File>,
    offset: u64,
    len: usize,
}

impl FileRange {
    /// `len` bytes of `file` from `offset`. Fails if the range ends past
    /// the largest file offset.
    pub fn new(file: Arc<std::fs::File>, offset: u64, len: usize) -> Result<FileRange> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= i64::MAX as u64 => Ok(FileRange { file, offset, len }),
            _ => Err(Error::InvalidArgument(format!(
                "source range of {len} bytes at offset {offset} is beyond the largest file offset"
            ))),
        }
    }

    /// The file.
    pub fn file(&self) -> &Arc<std::fs::File> {
        &self.file
    }

    /// Where the range starts in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes in the range.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The part `range` of this range (positions relative to its start).
    ///
    /// # Panics
    /// If `range` is not within `0..self.len()`, as [`Bytes::slice`].
    pub fn slice(&self, range: impl RangeBounds<usize>) -> FileRange {
        let range = bounds(range, self.len);
        assert!(
            range.start <= range.end && range.end <= self.len,
            "range {range:?} out of bounds of {} bytes",
            self.len
        );
        FileRange {
            file: Arc::clone(&self.file),
            offset: self.offset + range.start as u64,
            len: range.end - range.start,
        }
    }

    /// Reads the range into memory (`pread`); a file that no longer has
    /// all of it is an `UnexpectedEof` error.
    pub fn read(&self) -> io::Result<Bytes> {
        self.read_into(BytesMut::new())
    }

    /// [`read`](FileRange::read) into `buf` (cleared first), e.g. memory
    /// aligned where the caller's next copy is fastest.
    pub fn read_into(&self, mut buf: BytesMut) -> io::Result<Bytes> {
        buf.clear();
        buf.resize(self.len, 0);
        let mut filled = 0;
        while filled < buf.len() {
            match self
                .file
                .read_at(&mut buf[filled..], self.offset + filled as u64)
            {
                Ok(0) => return Err(shrank()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf.freeze())
    }
}

/// `range` as a `start..end` within `0..len` (unchecked).
fn bounds(range: impl RangeBounds<usize>, len: usize) -> Range<usize> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    start..end
}

/// The error for a source file that ended inside a range being written.
pub(crate) fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the source file shrank while it was being written",
    )
}

/// The data of a WRITE.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Bytes in memory (shared, not copied).
    Bytes(Bytes),
    /// A range of a local file, sent with `sendfile(2)`.
    File(FileRange),
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Bytes(Bytes::new())
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Bytes(b)
    }
}

impl From<FileRange> for Payload {
    fn from(r: FileRange) -> Self {
        Payload::File(r)
    }
}

impl Payload {
    /// Bytes of data.
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::File(r) => r.len(),
        }
    }

    /// Whether there is no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The part `range` of the data, sharing it.
    ///
    /// # Panics
    /// If `range` is not within `0..self.len()`, as [`Bytes::slice`].
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Payload {
        match self {
            Payload::Bytes(b) => Payload::Bytes(b.slice(range)),
            Payload::File(r) => Payload::File(r.slice(range)),
        }
    }

    /// The data in memory (a file range is read with `pread`).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Payload::Bytes(b) => Ok(b.clone()),
            Payload::File(r) => r.read(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn slices_and_reads_a_file_range() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let whole = Payload::from(FileRange::new(Arc::new(f), 2, 6).unwrap());
        assert_eq!(whole.to_bytes().unwrap(), &b"234567"[..]);
        let part = whole.slice(1..4);
        assert_eq!(part.len(), 3);
        assert_eq!(part.to_bytes().unwrap(), &b"345"[..]);
        let Payload::File(r) = &whole else {
            unreachable!()
        };
        // Past the end of the file: an error, not a short buffer.
        let past = FileRange::new(Arc::clone(r.file()), 8, 4).unwrap();
        assert_eq!(
            past.read().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert!(FileRange::new(Arc::clone(r.file()), u64::MAX - 1, 4).is_err());
    }
}
