//! [`ReadAhead`]: reads queued on the IO engine ahead of a file's
//! sequential LOCALIO reader.
//!
//! Why: a caller that reads one piece at a time (an application's read
//! loop, `nfsl cp`) leaves the engine idle while it handles each piece and
//! while the answer and its next request cross threads; the kernel's NFS
//! client hides this with its page cache's read-ahead, which LOCALIO in
//! the kernel inherits. Here, once reads continue one another, the next
//! `window` bytes are queued on the engine in pieces the size of the
//! reader's own, so its next read finds its data read or being read.
//!
//! Consistency: a queued piece is used only by a read of exactly its range
//! in the same LOCALIO session, at most [`MAX_AGE`] after it was queued
//! (NFS clients cache data for seconds under close-to-open consistency;
//! this is far less), and every write, resize or sync through the file
//! drops the pieces first ([`ReadAhead::clear`]), so a file never reads
//! back older data than it wrote itself.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use nfsl_io_engine::Pending;

/// A piece queued longer ago than this is not used (and is dropped).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

/// The most pieces queued ahead of one reader: a reader of small pieces
/// gets fewer bytes ahead than the window, not thousands of tiny reads
/// (a 5-byte first read of a 5-byte file once queued 838,861 of them).
pub(crate) const MAX_PIECES: usize = 32;

/// A read queued ahead.
struct Piece {
    offset: u64,
    len: usize,
    epoch: u64,
    queued: Instant,
    pending: Pending<BytesMut>,
}

#[derive(Default)]
struct State {
    /// Where the last read ended: a read starting here continues it.
    next: u64,
    /// In offset order.
    pieces: VecDeque<Piece>,
}

/// One file's read-ahead.
#[derive(Default)]
pub(crate) struct ReadAhead {
    state: Mutex<State>,
}

impl ReadAhead {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The queued read of exactly `len` bytes at `offset` in session
    /// `epoch`, if there is a fresh one. Pieces before it (skipped by the
    /// reader), stale ones and one of another size at `offset` are dropped.
    pub(crate) fn take(&self, offset: u64, len: usize, epoch: u64) -> Option<Pending<BytesMut>> {
        let mut st = self.state();
        let now = Instant::now();
        while let Some(front) = st.pieces.front() {
            let stale = front.epoch != epoch || now.duration_since(front.queued) > MAX_AGE;
            if stale || front.offset < offset {
                st.pieces.pop_front();
                continue;
            }
            if front.offset > offset {
                return None;
            }
            let piece = st.pieces.pop_front()?;
            return (piece.len == len).then_some(piece.pending);
        }
        None
    }

    /// Records a read of `len` bytes at `offset` that returned `got` bytes,
    /// and returns the ranges to queue ahead: if the read continued the
    /// previous one and did not reach the end of the file, pieces of
    /// `unit` bytes after it, up to `window` bytes ahead, minus those
    /// already queued. A read elsewhere drops what was queued.
    pub(crate) fn advance(
        &self,
        offset: u64,
        len: usize,
        got: usize,
        unit: usize,
        window: usize,
    ) -> Vec<(u64, usize)> {
        let mut st = self.state();
        let sequential = offset == st.next;
        let end = offset + got as u64;
        st.next = end;
        if !sequential || got < len || unit == 0 || window < unit {
            st.pieces.clear();
            return Vec::new();
        }
        let mut at = st
            .pieces
            .back()
            .map_or(end, |p| p.offset + p.len as u64)
            .max(end);
        let window = window.min(unit.saturating_mul(MAX_PIECES));
        let limit = end.saturating_add(window as u64);
        let mut ranges = Vec::new();
        while at.saturating_add(unit as u64) <= limit {
            ranges.push((at, unit));
            at += unit as u64;
        }
        ranges
    }

    /// Keeps a queued read (see [`ReadAhead::advance`]).
    pub(crate) fn insert(&self, offset: u64, len: usize, epoch: u64, pending: Pending<BytesMut>) {
        let mut st = self.state();
        if st.pieces.back().is_some_and(|p| p.offset >= offset) {
            // Another reader queued this range meanwhile.
            return;
        }
        st.pieces.push_back(Piece {
            offset,
            len,
            epoch,
            queued: Instant::now(),
            pending,
        });
    }

    /// Drops everything queued (the file is written, resized or synced).
    pub(crate) fn clear(&self) {
        let mut st = self.state();
        st.pieces.clear();
        st.next = u64::MAX;
    }

    /// Bytes queued ahead.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.state().pieces.iter().map(|p| p.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_sequential_reader_gets_the_window_ahead_in_its_own_pieces() {
        let ra = ReadAhead::default();
        // The first read at 0 counts as sequential (a file is read from its start).
        assert_eq!(
            ra.advance(0, MIB, MIB, MIB, 3 * MIB),
            vec![
                (MIB as u64, MIB),
                (2 * MIB as u64, MIB),
                (3 * MIB as u64, MIB)
            ]
        );
        // Nothing was inserted: the next advance asks for the window again
        // from the new end.
        assert_eq!(
            ra.advance(MIB as u64, MIB, MIB, MIB, MIB),
            vec![(2 * MIB as u64, MIB)]
        );
    }

    #[test]
    fn small_pieces_are_queued_at_most_max_pieces_ahead() {
        let ra = ReadAhead::default();
        let ranges = ra.advance(0, 5, 5, 5, 4 * MIB);
        assert_eq!(ranges.len(), MAX_PIECES);
        assert_eq!(ranges.last(), Some(&((5 * MAX_PIECES) as u64, 5)));
    }

    #[test]
    fn a_read_elsewhere_or_at_end_of_file_queues_nothing() {
        let ra = ReadAhead::default();
        assert!(ra.advance(4096, 4096, 4096, 4096, MIB).is_empty());
        assert!(
            ra.advance(8192, 4096, 100, 4096, MIB).is_empty(),
            "short read: end of file"
        );
        ra.clear();
        assert!(
            ra.advance(0, 4096, 4096, 4096, MIB).is_empty(),
            "cleared: not a continuation"
        );
        assert!(
            ra.advance(4096, 4096, 4096, 4096, 0).is_empty(),
            "window 0: off"
        );
    }

    #[tokio::test]
    async fn pieces_are_taken_by_exact_range_and_session_only() {
        use nfsl_io_engine::{EngineConfig, IoEngine, IoFile, Read};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 4 * 4096]).unwrap();
        let engine = IoEngine::start(EngineConfig::default()).unwrap();
        let file = Arc::new(IoFile::open(&path, false).unwrap());
        let queue = |off: u64| engine.submit(Read::new(Arc::clone(&file), off, 4096));
        let ra = ReadAhead::default();
        for off in [4096u64, 8192, 12288] {
            ra.insert(off, 4096, 1, queue(off).await);
        }
        assert_eq!(ra.queued(), 3 * 4096);
        assert!(ra.take(4096, 4096, 2).is_none(), "another session's piece");
        assert_eq!(ra.queued(), 0, "stale pieces are dropped");
        for off in [4096u64, 8192, 12288] {
            ra.insert(off, 4096, 1, queue(off).await);
        }
        assert!(ra.take(0, 4096, 1).is_none(), "nothing queued at 0");
        assert!(ra.take(8192, 100, 1).is_none(), "another size: dropped");
        let data = ra.take(12288, 4096, 1).expect("queued").await.unwrap();
        assert_eq!(&data[..], &[7u8; 4096][..]);
        assert_eq!(ra.queued(), 0);
    }
}
