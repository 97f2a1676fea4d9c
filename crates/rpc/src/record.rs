//! Record marking for stream transports (RFC 5531 §11), without IO: the
//! one record reassembler both sides use ([`RecordDecoder`]) and the
//! matching framing helpers.
//!
//! On a stream every message is a *record* sent as one or more *fragments*,
//! each preceded by a 4-byte big-endian marker: the top bit flags the last
//! fragment of the record, the low 31 bits give the fragment's length.
//!
//! # Design: pull first, push on top
//!
//! [`RecordDecoder`] is a state machine that owns no socket. Its primary
//! interface is *pull-style*: the IO side asks where the next bytes of the
//! stream must go ([`RecordDecoder::read_target`]), reads into exactly that
//! place, and reports how many bytes it read ([`RecordDecoder::filled`]).
//! The place is either the rest of the 4-byte marker (a small scratch
//! array) or the unfilled part of the current fragment, which is the spare
//! capacity of the record's own buffer. A reader that reads from the
//! socket into that target puts a 1 MiB READ reply into its record with no
//! intermediate buffer and no copy.
//!
//! The payload target is the record's spare capacity (a
//! [`bytes::BufMut`] limited to the fragment, see [`ReadTarget::Payload`])
//! rather than an initialised `&mut [u8]`: handing out an initialised slice
//! would mean zeroing every fragment's memory just before the socket
//! overwrites it (a memset per MiB on the hot path), or `unsafe` length
//! juggling in a pure crate. Appending to the buffer costs neither, and the
//! decoder counts what was received from the record's length, so a caller
//! cannot make it lose track of the stream.
//!
//! Both sides read this way (`nfsl-transport`'s server connections and
//! the client's reader): small records through a small buffer, large
//! payloads (1 MiB WRITE calls, READ replies) straight into their records.
//! [`RecordDecoder::push`] is the push-style adapter over the same state
//! machine for code that already holds the bytes in a slice (tests,
//! fuzzing): it copies each byte once, straight into its record, whatever
//! the chunking.
//!
//! # Bounds
//!
//! A fragment's length is checked against the record limit as soon as its
//! marker is complete, before any room is made for it, so an oversized
//! record is an error ([`RecordError::TooLarge`]) before any large
//! allocation; a record may use at most [`DEFAULT_MAX_FRAGMENTS`] fragments
//! (configurable), so a stream of empty non-final fragments ends in
//! [`RecordError::TooManyFragments`] instead of spinning, and allocates
//! nothing. Each record's buffer comes from a [`RecordBuffers`], so a
//! caller can recycle the buffers of records it is done with.

use std::collections::VecDeque;

use bytes::buf::Limit;
use bytes::BufMut;

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
    /// Receiving a fragment's payload: the fragment ends when the record
    /// is `end` bytes long.
    Payload { end: usize, last: bool },
}

/// Where a [`RecordDecoder`] gets the buffer each record is assembled in,
/// so a caller can recycle the buffers of records it is done with.
pub trait RecordBuffers: Send {
    /// A buffer for a record whose first fragment holds `len` bytes. Its
    /// contents and length do not matter (the decoder clears it and
    /// appends, so a recycled buffer is never zeroed again); only its
    /// capacity is reused, and it is only a hint. Called only once `len`
    /// has passed the size check, and only for records with payload.
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

/// Where the next bytes of the stream must go (see
/// [`RecordDecoder::read_target`]). It is never empty.
#[derive(Debug)]
pub enum ReadTarget<'a> {
    /// The rest of a fragment marker (1 to 4 bytes): read into this slice.
    Marker(&'a mut [u8]),
    /// Payload: append up to the limit's bytes (the rest of the fragment)
    /// to the record, e.g. with tokio's `read_buf`, which reads straight
    /// into the buffer's spare capacity without initialising it first.
    Payload(Limit<&'a mut Vec<u8>>),
    /// The stream is unusable ([`RecordDecoder::next_record`] says why):
    /// nothing more is wanted.
    Failed,
}

/// Reassembles records from a byte stream: pulled with
/// [`read_target`](Self::read_target) and [`filled`](Self::filled), or
/// pushed with [`push`](Self::push) (the module docs say why both).
///
/// Each payload byte is stored once, in the record it belongs to (no
/// O(n²) buffering whatever the chunking). A fragment's length is checked
/// against `max_record_len` as soon as its marker is complete, before any
/// room is made for it. Records completed before an error are still
/// delivered; after an error all further input is ignored. Each record's
/// buffer comes from a [`RecordBuffers`] ([`FreshBuffers`] unless
/// [`with_buffers`](Self::with_buffers) says otherwise).
pub struct RecordDecoder {
    max_record_len: usize,
    max_fragments: usize,
    state: State,
    /// The record being built: the payload received so far, with room
    /// reserved for the rest of the current fragment.
    current: Vec<u8>,
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
            .field("received", &self.current.len())
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

    /// Where the next bytes read from the stream must go: how many are
    /// wanted is the target's length (marker) or limit (payload). After
    /// reading into it, call [`filled`](Self::filled).
    pub fn read_target(&mut self) -> ReadTarget<'_> {
        if self.error.is_some() {
            return ReadTarget::Failed;
        }
        match &mut self.state {
            State::Marker { buf, filled } => ReadTarget::Marker(&mut buf[*filled..]),
            State::Payload { end, .. } => {
                let room = end.saturating_sub(self.current.len());
                ReadTarget::Payload((&mut self.current).limit(room))
            }
        }
    }

    /// Records that `n` bytes were read into the last
    /// [`read_target`](Self::read_target). For a marker target `n` says
    /// how many of its bytes are now valid; for a payload target the bytes
    /// appended to the record are what counts (`n` is not needed).
    pub fn filled(&mut self, n: usize) {
        match &mut self.state {
            State::Marker { buf, filled } => {
                *filled = (*filled + n).min(4);
                if *filled == 4 {
                    let marker = u32::from_be_bytes(*buf);
                    self.start_fragment(marker);
                }
            }
            State::Payload { end, last } => {
                if self.current.len() >= *end {
                    let last = *last;
                    self.end_fragment(last);
                }
            }
        }
    }

    /// Feeds the next bytes of the stream by copying them (the push-style
    /// adapter over [`read_target`](Self::read_target) and
    /// [`filled`](Self::filled)).
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = match self.read_target() {
                ReadTarget::Failed => return,
                ReadTarget::Marker(buf) => {
                    let n = buf.len().min(data.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    n
                }
                ReadTarget::Payload(mut room) => {
                    let n = room.remaining_mut().min(data.len());
                    room.put_slice(&data[..n]);
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
        if self.fragments > self.max_fragments {
            self.error = Some(RecordError::TooManyFragments {
                max: self.max_fragments,
            });
            return;
        }
        let received = self.current.len();
        let total = received as u64 + len as u64;
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
        if received == 0 {
            // The record's first payload: its buffer. A recycled one's
            // stale bytes are dropped, not overwritten, so none is zeroed.
            self.current = self.buffers.take(len);
            self.current.clear();
        }
        // `received + len` is within `max_record_len`, a usize.
        self.current.reserve_exact(len);
        self.state = State::Payload {
            end: received + len,
            last,
        };
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
    /// stream's error once every record completed before it was delivered
    /// (the error is then returned on every call).
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordError> {
        match (self.ready.pop_front(), &self.error) {
            (Some(record), _) => Ok(Some(record)),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Ok(None),
        }
    }

    /// Payload bytes still to come in the current fragment, while one is
    /// being received (a reader may size its wake-ups by it: the peer is
    /// bound to send at least this much more).
    pub fn payload_remaining(&self) -> Option<usize> {
        match (&self.state, &self.error) {
            (State::Payload { end, .. }, None) => Some(end.saturating_sub(self.current.len())),
            _ => None,
        }
    }

    /// Memory held for the record being built: its buffer's capacity,
    /// reserved for a whole fragment as soon as the fragment's marker is
    /// complete (so a server can charge it to a budget before the peer has
    /// sent, or proven, anything).
    pub fn buffered_capacity(&self) -> usize {
        self.current.capacity()
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
            || !self.current.is_empty()
    }
}

#[cfg(test)]
mod tests;
