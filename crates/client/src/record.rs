//! Reassembling reply records (RFC 5531 §11 record marking) without IO,
//! pull-style so the IO side can read large payloads straight into the
//! record being built.
//!
//! `nfsl_rpc::RecordDecoder` is push-style: it copies from whatever chunk
//! it is given. A client streaming 1 MiB READ replies wants the socket to
//! read into the record's own buffer instead, so this assembler says what
//! it needs next ([`RecordAssembler::read_target`]): the rest of a 4-byte
//! marker, or up to `remaining` bytes of payload appended (uninitialised,
//! never zeroed) to the record. [`RecordAssembler::receive`] is the
//! copying form of the same state machine, for tests and small reads. The
//! limits are the same as `RecordDecoder`'s and the errors its
//! [`RecordError`]s: a fragment's length is checked against the record
//! limit as soon as its marker is complete, before anything is reserved.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::buf::Limit;
use bytes::BufMut;
use nfsl_rpc::{RecordError, DEFAULT_MAX_FRAGMENTS, LAST_FRAGMENT};

use crate::pool::{BufferPool, MIN_POOLED};

#[derive(Debug)]
enum State {
    Marker { buf: [u8; 4], filled: usize },
    Payload { remaining: usize, last: bool },
}

/// Where the next bytes of the stream go.
#[derive(Debug)]
pub enum ReadTarget<'a> {
    /// The rest of a fragment marker (1 to 4 bytes).
    Marker(&'a mut [u8]),
    /// Payload: append at most the limit's bytes to the record.
    Payload(Limit<&'a mut Vec<u8>>),
    /// The stream is unusable (see [`RecordAssembler::next_record`]).
    Failed,
}

/// Reassembles reply records from a byte stream.
#[derive(Debug)]
pub struct RecordAssembler {
    max_record_len: usize,
    state: State,
    current: Vec<u8>,
    fragments: usize,
    ready: VecDeque<Vec<u8>>,
    error: Option<RecordError>,
    pool: Option<Arc<BufferPool>>,
}

impl RecordAssembler {
    /// An assembler accepting records of up to `max_record_len` payload bytes.
    pub fn new(max_record_len: usize) -> Self {
        RecordAssembler {
            max_record_len,
            state: State::Marker {
                buf: [0; 4],
                filled: 0,
            },
            current: Vec::new(),
            fragments: 0,
            ready: VecDeque::new(),
            error: None,
            pool: None,
        }
    }

    /// Builds large records in buffers taken from `pool`.
    pub(crate) fn with_pool(mut self, pool: Arc<BufferPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Where the next bytes read from the stream must go; after reading
    /// `n` bytes into it, call [`RecordAssembler::filled`] with `n`.
    pub fn read_target(&mut self) -> ReadTarget<'_> {
        if self.error.is_some() {
            return ReadTarget::Failed;
        }
        match &mut self.state {
            State::Marker { buf, filled } => ReadTarget::Marker(&mut buf[*filled..]),
            State::Payload { remaining, .. } => {
                ReadTarget::Payload((&mut self.current).limit(*remaining))
            }
        }
    }

    /// Records that `n` bytes were read into the last [`ReadTarget`] (for
    /// a payload target, they were already appended to the record).
    pub fn filled(&mut self, n: usize) {
        match &mut self.state {
            State::Marker { buf, filled } => {
                *filled = (*filled + n).min(4);
                if *filled == 4 {
                    let marker = u32::from_be_bytes(*buf);
                    self.start_fragment(marker);
                }
            }
            State::Payload { remaining, last } => {
                *remaining = remaining.saturating_sub(n);
                if *remaining == 0 {
                    let last = *last;
                    self.end_fragment(last);
                }
            }
        }
    }

    /// Feeds bytes by copying them (the push-style form of the above).
    pub fn receive(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = match self.read_target() {
                ReadTarget::Failed => return,
                ReadTarget::Marker(buf) => {
                    let n = buf.len().min(data.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    n
                }
                ReadTarget::Payload(mut limit) => {
                    let n = limit.remaining_mut().min(data.len());
                    limit.put_slice(&data[..n]);
                    n
                }
            };
            self.filled(n);
            data = &data[n..];
        }
    }

    fn start_fragment(&mut self, marker: u32) {
        let len = (marker & !LAST_FRAGMENT) as usize;
        let last = marker & LAST_FRAGMENT != 0;
        self.fragments += 1;
        if self.fragments > DEFAULT_MAX_FRAGMENTS {
            self.error = Some(RecordError::TooManyFragments {
                max: DEFAULT_MAX_FRAGMENTS,
            });
            return;
        }
        let total = self.current.len() as u64 + len as u64;
        if total > self.max_record_len as u64 {
            self.error = Some(RecordError::TooLarge {
                len: total,
                max: self.max_record_len,
            });
            return;
        }
        if len == 0 {
            self.end_fragment(last);
        } else {
            if self.current.capacity() == 0 && len >= MIN_POOLED {
                if let Some(pool) = &self.pool {
                    self.current = pool.take(len);
                }
            }
            self.current.reserve_exact(len);
            self.state = State::Payload {
                remaining: len,
                last,
            };
        }
    }

    fn end_fragment(&mut self, last: bool) {
        if last {
            self.ready.push_back(std::mem::take(&mut self.current));
            self.fragments = 0;
        }
        self.state = State::Marker {
            buf: [0; 4],
            filled: 0,
        };
    }

    /// The next complete record, `None` if more input is needed, or the
    /// stream's (permanent) error once the records before it are delivered.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordError> {
        match (self.ready.pop_front(), &self.error) {
            (Some(r), _) => Ok(Some(r)),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Ok(None),
        }
    }

    /// Payload bytes still to come in the current fragment, if one is
    /// being received.
    pub fn payload_remaining(&self) -> Option<usize> {
        match (&self.state, &self.error) {
            (State::Payload { remaining, .. }, None) => Some(*remaining),
            _ => None,
        }
    }

    /// Whether the stream stopped inside a record (a truncated reply).
    pub fn is_mid_record(&self) -> bool {
        self.fragments > 0
            || !self.current.is_empty()
            || !matches!(self.state, State::Marker { filled: 0, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfsl_rpc::frame_record;

    #[test]
    fn reassembles_across_any_chunking() {
        let mut stream = Vec::new();
        frame_record(b"first record", &mut stream);
        // A record in two fragments.
        stream.extend_from_slice(&3u32.to_be_bytes());
        stream.extend_from_slice(b"abc");
        stream.extend_from_slice(&(LAST_FRAGMENT | 2).to_be_bytes());
        stream.extend_from_slice(b"de");
        frame_record(b"", &mut stream);
        for chunk in 1..stream.len() {
            let mut a = RecordAssembler::new(100);
            for c in stream.chunks(chunk) {
                a.receive(c);
            }
            assert_eq!(a.next_record().unwrap().unwrap(), b"first record");
            assert_eq!(a.next_record().unwrap().unwrap(), b"abcde");
            assert_eq!(a.next_record().unwrap().unwrap(), b"");
            assert_eq!(a.next_record().unwrap(), None);
            assert!(!a.is_mid_record());
        }
    }

    #[test]
    fn oversized_marker_fails_before_reserving() {
        let mut a = RecordAssembler::new(1 << 20);
        a.receive(&(LAST_FRAGMENT | 0x7fff_ffff).to_be_bytes());
        assert!(matches!(a.next_record(), Err(RecordError::TooLarge { .. })));
        assert!(a.current.capacity() < 1 << 20);
        assert!(matches!(a.read_target(), ReadTarget::Failed));
    }

    #[test]
    fn truncated_record_is_mid_record() {
        let mut a = RecordAssembler::new(100);
        a.receive(&(LAST_FRAGMENT | 10).to_be_bytes());
        a.receive(b"12345");
        assert_eq!(a.next_record().unwrap(), None);
        assert!(a.is_mid_record());
    }

    #[test]
    fn endless_empty_fragments_are_bounded() {
        let mut a = RecordAssembler::new(100);
        for _ in 0..=DEFAULT_MAX_FRAGMENTS {
            a.receive(&0u32.to_be_bytes());
        }
        assert!(matches!(
            a.next_record(),
            Err(RecordError::TooManyFragments { .. })
        ));
    }
}
