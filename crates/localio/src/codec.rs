//! The local channel's messages and their framing: pure, no IO.
//!
//! Every message is one frame: a 4-byte big-endian length, then that many
//! bytes of XDR. A frame longer than [`MAX_FRAME`] is refused before
//! anything is allocated for it, and a body must decode to exactly one
//! message (trailing bytes are an error). File descriptors never appear in
//! the bytes: they travel beside the frame of an [`OpenReply`] as
//! `SCM_RIGHTS` ancillary data, and the reply says how many to expect.
//!
//! ```text
//! request  = REGISTER nonce[16] | CONFIRMED nonce[16]
//!          | OPEN fh<64> access(READ=1|READ_WRITE=2) uid gid gids<16>
//! reply    = REGISTER register_status | CONFIRMED bool
//!          | OPEN (OK mem_align offset_align read_offset_align size has_direct
//!                  | NFS nfsstat3 | ERRNO int)
//!          | ERROR string<256>          (protocol misuse; the server closes)
//! ```

use nfsl_proto::localio::{LocalioUuid, UUID_SIZE};
use nfsl_proto::nfs3::Nfsstat3;
use nfsl_xdr::{decode_exact, Decoder, Encoder, Xdr, XdrError};

pub use crate::alignment::DioAlignment;

/// Largest frame body accepted (requests and replies are far smaller).
pub const MAX_FRAME: usize = 1024;
/// Largest file handle (`NFS3_FHSIZE`).
pub const MAX_HANDLE: usize = 64;
/// Most supplementary groups in AUTH_SYS credentials.
pub const MAX_GIDS: usize = 16;
/// Most file descriptors one reply carries (buffered + `O_DIRECT`).
pub const MAX_FDS: usize = 2;
/// Longest error text in an [`Reply::Error`].
pub const MAX_ERROR_TEXT: usize = 256;

const REGISTER: u32 = 1;
const CONFIRMED: u32 = 2;
const OPEN: u32 = 3;
const ERROR: u32 = 4;

/// A LOCALIO nonce: the client's fresh random `uuid_t`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce(pub LocalioUuid);

impl Nonce {
    /// A fresh random nonce (a version 4 UUID: 122 random bits).
    pub fn random() -> Nonce {
        let mut b: [u8; UUID_SIZE] = rand::random();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Nonce(b)
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonce(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// How a file is to be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `O_RDONLY`: the fds cannot write.
    Read = 1,
    /// `O_RDWR`.
    ReadWrite = 2,
}

/// AUTH_SYS credentials as the client would send them over RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    /// Claimed uid.
    pub uid: u32,
    /// Claimed primary gid.
    pub gid: u32,
    /// Claimed supplementary gids (at most [`MAX_GIDS`]).
    pub gids: Vec<u32>,
}

/// A request from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Show the server a nonce that `UUID_IS_LOCAL` will then name.
    Register(Nonce),
    /// Was this connection's nonce confirmed by `UUID_IS_LOCAL`?
    Confirmed(Nonce),
    /// Open a file by handle (only on a confirmed connection).
    Open {
        /// The NFSv3 file handle.
        handle: Vec<u8>,
        /// Read or read-write.
        access: Access,
        /// The caller's AUTH_SYS credentials.
        creds: Creds,
    },
}

/// The answer to a [`Request::Register`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterStatus {
    /// Registered: call `UUID_IS_LOCAL` now.
    Ok = 0,
    /// The nonce is known already (in use or recently spent).
    InUse = 1,
    /// Too many nonces are waiting; try later.
    Busy = 2,
}

/// What the server says about an open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenReply {
    /// Opened: the buffered fd follows, and an `O_DIRECT` fd too if
    /// `has_direct`.
    Ok {
        /// The file's direct-IO alignment (zeros: direct IO not possible).
        alignment: DioAlignment,
        /// The file size when opened.
        size: u64,
        /// Whether a second, `O_DIRECT` fd follows the buffered one.
        has_direct: bool,
    },
    /// Refused, with the status NFSv3 would give.
    Nfs(Nfsstat3),
    /// Failed on the server with this errno.
    Errno(i32),
}

impl OpenReply {
    /// How many fds travel with this reply.
    pub fn fd_count(&self) -> usize {
        match self {
            OpenReply::Ok { has_direct, .. } => 1 + usize::from(*has_direct),
            _ => 0,
        }
    }
}

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// To [`Request::Register`].
    Register(RegisterStatus),
    /// To [`Request::Confirmed`]: whether the nonce was confirmed.
    Confirmed(bool),
    /// To [`Request::Open`].
    Open(OpenReply),
    /// The request was not valid now (e.g. OPEN before confirmation); the
    /// server closes the connection after this.
    Error(String),
}

impl Xdr for Nonce {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_fixed_opaque(&self.0);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(Nonce(d.fixed_opaque()?))
    }
}

fn bad(value: u32, type_name: &'static str) -> XdrError {
    XdrError::InvalidDiscriminant { value, type_name }
}

impl Xdr for Request {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::Register(n) => {
                out.put_u32(REGISTER);
                n.encode(out);
            }
            Request::Confirmed(n) => {
                out.put_u32(CONFIRMED);
                n.encode(out);
            }
            Request::Open {
                handle,
                access,
                creds,
            } => {
                out.put_u32(OPEN);
                out.put_opaque(handle);
                out.put_u32(*access as u32);
                out.put_u32(creds.uid);
                out.put_u32(creds.gid);
                nfsl_xdr::encode_array(&creds.gids, out);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        match d.u32()? {
            REGISTER => Ok(Request::Register(Nonce::decode(d)?)),
            CONFIRMED => Ok(Request::Confirmed(Nonce::decode(d)?)),
            OPEN => {
                let handle = d.opaque(MAX_HANDLE)?.to_vec();
                let access = match d.u32()? {
                    1 => Access::Read,
                    2 => Access::ReadWrite,
                    v => return Err(bad(v, "Access")),
                };
                let uid = d.u32()?;
                let gid = d.u32()?;
                let gids = d.array_of::<u32>(MAX_GIDS)?;
                Ok(Request::Open {
                    handle,
                    access,
                    creds: Creds { uid, gid, gids },
                })
            }
            v => Err(bad(v, "Request")),
        }
    }
}

impl Xdr for Reply {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Register(s) => {
                out.put_u32(REGISTER);
                out.put_u32(*s as u32);
            }
            Reply::Confirmed(yes) => {
                out.put_u32(CONFIRMED);
                out.put_bool(*yes);
            }
            Reply::Open(r) => {
                out.put_u32(OPEN);
                match r {
                    OpenReply::Ok {
                        alignment,
                        size,
                        has_direct,
                    } => {
                        out.put_u32(0);
                        out.put_u32(alignment.mem_align);
                        out.put_u32(alignment.offset_align);
                        out.put_u32(alignment.read_offset_align);
                        out.put_u64(*size);
                        out.put_bool(*has_direct);
                    }
                    OpenReply::Nfs(s) => {
                        out.put_u32(1);
                        s.encode(out);
                    }
                    OpenReply::Errno(e) => {
                        out.put_u32(2);
                        out.put_i32(*e);
                    }
                }
            }
            Reply::Error(text) => {
                out.put_u32(ERROR);
                let b = text.as_bytes();
                out.put_opaque(&b[..floor_char_boundary(text, MAX_ERROR_TEXT.min(b.len()))]);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        match d.u32()? {
            REGISTER => Ok(Reply::Register(match d.u32()? {
                0 => RegisterStatus::Ok,
                1 => RegisterStatus::InUse,
                2 => RegisterStatus::Busy,
                v => return Err(bad(v, "RegisterStatus")),
            })),
            CONFIRMED => Ok(Reply::Confirmed(d.bool()?)),
            OPEN => Ok(Reply::Open(match d.u32()? {
                0 => OpenReply::Ok {
                    alignment: DioAlignment {
                        mem_align: d.u32()?,
                        offset_align: d.u32()?,
                        read_offset_align: d.u32()?,
                    },
                    size: d.u64()?,
                    has_direct: d.bool()?,
                },
                1 => OpenReply::Nfs(Nfsstat3::decode(d)?),
                2 => OpenReply::Errno(d.i32()?),
                v => return Err(bad(v, "OpenReply")),
            })),
            ERROR => {
                let text = d.opaque(MAX_ERROR_TEXT)?;
                Ok(Reply::Error(String::from_utf8_lossy(text).into_owned()))
            }
            v => Err(bad(v, "Reply")),
        }
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Encodes `message` as one frame (length word + XDR body).
pub fn encode_frame<T: Xdr>(message: &T) -> Vec<u8> {
    let mut out = vec![0; 4];
    message.encode(&mut out);
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Decodes a frame body as exactly one message.
pub fn decode_body<T: Xdr>(body: &[u8]) -> Result<T, FrameError> {
    decode_exact(body).map_err(FrameError::Xdr)
}

/// Why bytes from the channel are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length word announces more than [`MAX_FRAME`] bytes.
    #[error("local channel frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLong(u32),
    /// The body is not one valid message.
    #[error("malformed local channel message: {0}")]
    Xdr(XdrError),
}

/// Reassembles frames from a byte stream: feed bytes with
/// [`push`](FrameDecoder::push), take whole frame bodies with
/// [`next_frame`](FrameDecoder::next_frame). Holds at most one frame plus
/// one read's worth of bytes.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished frame are buffered.
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next whole frame body, `None` if more bytes are needed, or an
    /// error for an oversized frame (the stream is then unusable).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len as usize > MAX_FRAME {
            return Err(FrameError::TooLong(len));
        }
        let end = 4 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let body = self.buf[4..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(body))
    }
}
