//! Frames over a tokio `UnixStream`, with file descriptors attached as
//! `SCM_RIGHTS` (the syscall edge; everything else is in [`crate::codec`]).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use tokio::io::Interest;
use tokio::net::UnixStream;

use crate::codec::{FrameDecoder, FrameError, MAX_FDS};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("local channel: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection.
    #[error("local channel closed by the peer")]
    Closed,
    /// The bytes are not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// More descriptors arrived than any message carries, or the kernel
    /// truncated them.
    #[error("local channel: unexpected or truncated file descriptors")]
    Descriptors,
}

/// Writes `frame` whole; `fds` go with its first byte.
pub(crate) async fn send_frame(
    stream: &UnixStream,
    frame: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<(), WireError> {
    let mut sent = 0;
    while sent < frame.len() {
        let attach = if sent == 0 { fds } else { &[] };
        let n = stream
            .async_io(Interest::WRITABLE, || {
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
                let mut control = SendAncillaryBuffer::new(&mut space);
                if !attach.is_empty() && !control.push(SendAncillaryMessage::ScmRights(attach)) {
                    return Err(io::Error::other("too many descriptors for one message"));
                }
                sendmsg(
                    stream,
                    &[IoSlice::new(&frame[sent..])],
                    &mut control,
                    SendFlags::NOSIGNAL,
                )
                .map_err(io::Error::from)
            })
            .await?;
        if n == 0 {
            return Err(WireError::Closed);
        }
        sent += n;
    }
    Ok(())
}

/// Reads the next frame body and the descriptors that arrived with it
/// (close-on-exec). At most [`MAX_FDS`] descriptors are accepted per frame.
pub(crate) async fn recv_frame(
    stream: &UnixStream,
    decoder: &mut FrameDecoder,
) -> Result<(Vec<u8>, Vec<OwnedFd>), WireError> {
    let mut fds = Vec::new();
    loop {
        if let Some(body) = decoder.next_frame()? {
            return Ok((body, fds));
        }
        let mut buf = [0u8; 2048];
        let (n, got, truncated) = stream
            .async_io(Interest::READABLE, || {
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
                let mut control = RecvAncillaryBuffer::new(&mut space);
                let msg = recvmsg(
                    stream,
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut control,
                    RecvFlags::CMSG_CLOEXEC,
                )
                .map_err(io::Error::from)?;
                let mut got = Vec::new();
                for m in control.drain() {
                    if let RecvAncillaryMessage::ScmRights(rights) = m {
                        got.extend(rights);
                    }
                }
                Ok((msg.bytes, got, msg.flags.contains(ReturnFlags::CTRUNC)))
            })
            .await?;
        fds.extend(got);
        if truncated || fds.len() > MAX_FDS {
            return Err(WireError::Descriptors);
        }
        if n == 0 {
            return Err(WireError::Closed);
        }
        decoder.push(&buf[..n]);
    }
}
