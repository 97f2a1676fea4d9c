//! Record marking for stream transports (RFC 5531 §11), without IO: a
//! push-style reassembler and the matching framing helpers.
//!
//! On a stream every message is a *record* sent as one or more *fragments*,
//! each preceded by a 4-byte big-endian marker: the top bit flags the last
//! fragment of the record, the low 31 bits give the fragment's length.

use std::collections::VecDeque;

/// Marker bit flagging the last fragment of a record.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;
/// Largest fragment length a marker can express.
pub const MAX_FRAGMENT_LEN: usize = 0x7fff_ffff;
/// Default bound on fragments per record (see [`RecordDecoder::with_max_fragments`]).
pub const DEFAULT_MAX_FRAGMENTS: usize = 1024;

/// Why a stream cannot be decoded further. Both are fatal for the stream:
/// once a record is abandoned the next marker cannot be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The fragments declared so far add up to more than the limit.
    #[error("RPC record of at least {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Record length declared so far (earlier fragments plus this one).
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A record was split into more fragments than allowed (this bounds
    /// streams of empty non-final fragments, which would never end a record).
    #[error("RPC record has more than {max} fragments")]
    TooManyFragments {
        /// The configured maximum.
        max: usize,
    },
}

/// Returns the 4-byte marker for a fragment of `len` bytes. Only the low
/// 31 bits of `len` fit; larger payloads must be split ([`frame_record`]
/// does so).
pub fn encode_record_marker(len: u32, last: bool) -> [u8; 4] {
    let flag = if last { LAST_FRAGMENT } else { 0 };
    ((len & !LAST_FRAGMENT) | flag).to_be_bytes()
}

/// Appends `payload` to `out` as one record, split into as many fragments
/// as its length requires (one, for anything under 2 GiB).
pub fn frame_record(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 4);
    let mut chunks = payload.chunks(MAX_FRAGMENT_LEN).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&encode_record_marker(0, true));
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        out.extend_from_slice(&encode_record_marker(chunk.len() as u32, last));
        out.extend_from_slice(chunk);
    }
}

/// Builds a framed record whose message `write` appends to the buffer it
/// is given, writing the message in place after a reserved marker (no copy
/// unless the message needs more than one fragment).
pub fn build_record(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    write(&mut out);
    let len = out.len().saturating_sub(4);
    match out.get_mut(..4) {
        Some(marker) if len <= MAX_FRAGMENT_LEN => {
            marker.copy_from_slice(&encode_record_marker(len as u32, true));
            out
        }
        _ => {
            let mut framed = Vec::new();
            frame_record(out.get(4..).unwrap_or_default(), &mut framed);
            framed
        }
    }
}

#[derive(Debug)]
enum State {
    /// Collecting a fragment marker; `filled` bytes of it are in `buf`.
    Marker { buf: [u8; 4], filled: usize },
    /// Receiving a fragment's payload.
    Payload { remaining: usize, last: bool },
}

/// Where a [`RecordDecoder`] gets the buffer each record is assembled in,
/// so a caller can recycle the buffers of records it is done with.
pub trait RecordBuffers: Send {
    /// A buffer for a record whose first fragment holds `len` bytes. Its
    /// contents do not matter (they are overwritten; keeping a recycled
    /// buffer's length spares zeroing it again) and its capacity is only a
    /// hint. Called only once `len` has passed the size check.
    fn take(&mut self, len: usize) -> Vec<u8>;
}

/// The default [`RecordBuffers`]: a fresh allocation per record.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreshBuffers;

impl RecordBuffers for FreshBuffers {
    fn take(&mut self, _len: usize) -> Vec<u8> {
        Vec::new()
    }
}

/// Reassembles records from a byte stream fed in arbitrary chunks.
///
/// Fragment payloads are copied straight into the record being built, so
/// each byte is copied once whatever the chunking (no O(n²) buffering).
/// A fragment's length is checked against `max_record_len` as soon as its
/// marker is complete, before any of its payload is buffered; only then is
/// room for it made. Records completed before an error are still
/// delivered; after an error all further input is ignored. Each record's
/// buffer comes from a [`RecordBuffers`] ([`FreshBuffers`] unless
/// [`with_buffers`](Self::with_buffers) says otherwise).
pub struct RecordDecoder {
    max_record_len: usize,
    max_fragments: usize,
    state: State,
    /// The record being built: its first `filled` bytes are received
    /// payload, the rest (up to `len()`) room for the current fragment.
    current: Vec<u8>,
    filled: usize,
    fragments: usize,
    ready: VecDeque<Vec<u8>>,
    error: Option<RecordError>,
    buffers: Box<dyn RecordBuffers>,
}

impl std::fmt::Debug for RecordDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordDecoder")
            .field("max_record_len", &self.max_record_len)
            .field("max_fragments", &self.max_fragments)
            .field("state", &self.state)
            .field("filled", &self.filled)
            .field("fragments", &self.fragments)
            .field("ready", &self.ready.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl RecordDecoder {
    /// A decoder that accepts records of up to `max_record_len` bytes
    /// (payload, not counting markers) in up to [`DEFAULT_MAX_FRAGMENTS`]
    /// fragments.
    pub fn new(max_record_len: usize) -> Self {
        RecordDecoder {
            max_record_len,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            state: State::Marker {
                buf: [0; 4],
                filled: 0,
            },
            current: Vec::new(),
            filled: 0,
            fragments: 0,
            ready: VecDeque::new(),
            error: None,
            buffers: Box::new(FreshBuffers),
        }
    }

    /// Sets how many fragments one record may have (at least 1).
    pub fn with_max_fragments(mut self, max_fragments: usize) -> Self {
        self.max_fragments = max_fragments.max(1);
        self
    }

    /// Takes each record's buffer from `buffers`.
    pub fn with_buffers(mut self, buffers: impl RecordBuffers + 'static) -> Self {
        self.buffers = Box::new(buffers);
        self
    }

    /// The record length limit.
    pub fn max_record_len(&self) -> usize {
        self.max_record_len
    }

    /// Feeds the next bytes of the stream.
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.error.is_none() {
            match &mut self.state {
                State::Marker { buf, filled } => {
                    let n = (4 - *filled).min(data.len());
                    buf[*filled..*filled + n].copy_from_slice(&data[..n]);
                    *filled += n;
                    data = &data[n..];
                    if *filled == 4 {
                        let marker = u32::from_be_bytes(*buf);
                        self.start_fragment(marker);
                    }
                }
                State::Payload { .. } => {
                    let Some(room) = self.unfilled_payload() else {
                        break;
                    };
                    let n = room.len().min(data.len());
                    room[..n].copy_from_slice(&data[..n]);
                    data = &data[n..];
                    self.payload_filled(n);
                }
            }
        }
    }

    /// The part of the current fragment's payload not received yet, while
    /// a payload is being received.
    fn unfilled_payload(&mut self) -> Option<&mut [u8]> {
        match self.state {
            State::Payload { remaining, .. } if self.error.is_none() => {
                self.current.get_mut(self.filled..self.filled + remaining)
            }
            _ => None,
        }
    }

    /// Records that the first `n` bytes of the unfilled payload were
    /// received.
    fn payload_filled(&mut self, n: usize) {
        if let State::Payload { remaining, last } = &mut self.state {
            let n = n.min(*remaining);
            *remaining -= n;
            self.filled += n;
            if *remaining == 0 {
                let last = *last;
                self.end_fragment(last);
            }
        }
    }

    fn start_fragment(&mut self, marker: u32) {
        let len = (marker & !LAST_FRAGMENT) as usize;
        let last = marker & LAST_FRAGMENT != 0;
        self.fragments += 1;
        if self.fragments > self.max_fragments {
            self.error = Some(RecordError::TooManyFragments {
                max: self.max_fragments,
            });
            return;
        }
        let total = self.filled as u64 + len as u64;
        if total > self.max_record_len as u64 {
            self.error = Some(RecordError::TooLarge {
                len: total,
                max: self.max_record_len,
            });
            return;
        }
        if len == 0 {
            self.end_fragment(last);
            return;
        }
        if self.filled == 0 {
            // The record's first payload byte: its buffer.
            self.current = self.buffers.take(len);
        }
        // `total` is within `max_record_len`, a usize. Bytes a recycled
        // buffer already holds are overwritten, not zeroed first.
        let total = self.filled + len;
        if self.current.len() < total {
            self.current.reserve_exact(total - self.current.len());
            self.current.resize(total, 0);
        }
        self.state = State::Payload {
            remaining: len,
            last,
        };
    }

    fn end_fragment(&mut self, last: bool) {
        if last {
            let mut record = std::mem::take(&mut self.current);
            record.truncate(self.filled);
            self.ready.push_back(record);
            self.filled = 0;
            self.fragments = 0;
        }
        self.state = State::Marker {
            buf: [0; 4],
            filled: 0,
        };
    }

    /// The next complete record, `None` if more input is needed, or the
    /// stream's error once every record completed before it was delivered
    /// (the error is then returned on every call).
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordError> {
        match (self.ready.pop_front(), &self.error) {
            (Some(record), _) => Ok(Some(record)),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Ok(None),
        }
    }

    /// Whether nothing is buffered: no complete record waiting to be taken
    /// and none started.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && !self.is_mid_record()
    }

    /// Whether a record has been started but not finished (useful to tell a
    /// clean end of stream from a truncated one).
    pub fn is_mid_record(&self) -> bool {
        self.fragments > 0
            || !matches!(self.state, State::Marker { filled: 0, .. })
            || self.filled > 0
    }
}

#[cfg(test)]
mod tests;
