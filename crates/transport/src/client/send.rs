//! A connection's writer task: batches queued calls into vectored writes,
//! and sends a WRITE's file-range payload with `sendfile(2)` (the data
//! goes from the page cache to the socket, never through the client's
//! memory).

use std::io::{self, IoSlice};
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::exchange::OutgoingCall;
use super::payload::{shrank, FileRange, Payload};
use super::{Conn, Failure};

/// Calls batched into one vectored write.
const MAX_BATCH: usize = 64;
/// Largest single `sendfile` (the kernel caps it near 2 GiB anyway).
const MAX_SENDFILE: usize = 1 << 30;

/// Why a batch could not be sent.
pub(super) enum SendError {
    /// The socket failed: the connection is lost.
    Socket(io::Error),
    /// The local file that call `xid`'s payload comes from failed (it
    /// shrank, or could not be read); the record is cut short, so the
    /// connection must go too, but only this call fails for good.
    Source { xid: u32, error: io::Error },
}

pub(super) async fn write_loop(
    conn: Arc<Conn>,
    mut rx: mpsc::UnboundedReceiver<OutgoingCall>,
    mut wr: OwnedWriteHalf,
) {
    let mut shutdown = conn.shutdown.subscribe();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = shutdown.wait_for(|s| *s) => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let written = tokio::select! {
            r = write_all(&mut wr, &batch) => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        batch.clear();
        match written {
            Ok(()) => {}
            Err(SendError::Socket(e)) => {
                conn.close(Failure::Lost(format!("sending: {e}")));
                break;
            }
            Err(SendError::Source { xid, error }) => {
                if let Some(waiter) = conn.pending().cancel(xid) {
                    let _ = waiter.send(Err(Failure::Source(Arc::new(error))));
                }
                // The other calls go again on a new connection.
                conn.close(Failure::Dropped(
                    "a WRITE's source file failed in the middle of its record".into(),
                ));
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
}

/// Writes every call's record with as few syscalls as the socket allows:
/// one vectored write for everything up to a file payload, `sendfile` for
/// that, and so on.
async fn write_all(wr: &mut OwnedWriteHalf, batch: &[OutgoingCall]) -> Result<(), SendError> {
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(batch.len() * 3);
    for call in batch {
        slices.push(IoSlice::new(call.head()));
        match call.payload() {
            Payload::Bytes(b) => slices.push(IoSlice::new(b)),
            Payload::File(range) => {
                write_slices(wr, &mut slices)
                    .await
                    .map_err(SendError::Socket)?;
                send_file(wr, range).await.map_err(|e| match e {
                    FileSendError::Socket(e) => SendError::Socket(e),
                    FileSendError::Source(error) => SendError::Source {
                        xid: call.xid(),
                        error,
                    },
                })?;
            }
        }
        slices.push(IoSlice::new(call.pad()));
    }
    write_slices(wr, &mut slices)
        .await
        .map_err(SendError::Socket)
}

/// Writes all of `slices` and empties it.
async fn write_slices(wr: &mut OwnedWriteHalf, slices: &mut Vec<IoSlice<'_>>) -> io::Result<()> {
    slices.retain(|s| !s.is_empty());
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = wr.write_vectored(rest).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    slices.clear();
    Ok(())
}

enum FileSendError {
    Socket(io::Error),
    Source(io::Error),
}

/// Sends all of `range` with `sendfile`, waiting for the socket to take
/// more as needed. `sendfile` may block the task while the kernel reads a
/// part of the file that is not in the page cache.
async fn send_file(wr: &OwnedWriteHalf, range: &FileRange) -> Result<(), FileSendError> {
    let sock = wr.as_ref();
    let mut at = range.offset();
    let end = at + range.len() as u64;
    while at < end {
        let want = usize::try_from(end - at)
            .unwrap_or(usize::MAX)
            .min(MAX_SENDFILE);
        let sent = sock
            .async_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(sock, range.file(), Some(&mut at), want)
                    .map_err(io::Error::from)
            })
            .await;
        match sent {
            Ok(0) => return Err(FileSendError::Source(shrank())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // sendfile does not say which side failed: these are the
            // socket's; the rest (EIO, EINVAL for an unreadable file) the
            // source's.
            Err(e) if is_socket_error(&e) => return Err(FileSendError::Socket(e)),
            Err(e) => return Err(FileSendError::Source(e)),
        }
    }
    Ok(())
}

fn is_socket_error(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let Some(raw) = e.raw_os_error() else {
        return true;
    };
    [
        Errno::PIPE,
        Errno::CONNRESET,
        Errno::CONNABORTED,
        Errno::NOTCONN,
        Errno::TIMEDOUT,
        Errno::HOSTUNREACH,
        Errno::NETUNREACH,
        Errno::NOBUFS,
    ]
    .iter()
    .any(|errno| errno.raw_os_error() == raw)
}
