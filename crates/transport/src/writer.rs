//! A connection's writer: sends replies in completion order, batching
//! whatever is queued into one vectored write.

use std::io::{self, IoSlice};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use crate::dispatch::Reply;

/// Most replies gathered into one write.
const MAX_BATCH: usize = 64;

/// A reply plus the in-flight permit of its call, released once written.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) reply: Reply,
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// Writes replies until every sender is gone (then shuts the write side
/// down) or the socket fails (then drops whatever is queued).
pub(crate) async fn write_loop(mut wr: OwnedWriteHalf, mut rx: UnboundedReceiver<Outgoing>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if let Err(e) = write_batch(&mut wr, &batch).await {
            debug!(error = %e, "write failed; closing connection");
            return;
        }
        batch.clear();
    }
    if let Err(e) = wr.shutdown().await {
        debug!(error = %e, "shutdown of write side failed");
    }
}

async fn write_batch(wr: &mut OwnedWriteHalf, batch: &[Outgoing]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = batch
        .iter()
        .flat_map(|o| [&o.reply.head[..], &o.reply.body[..]])
        .filter(|s| !s.is_empty())
        .map(IoSlice::new)
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = wr.write_vectored(rest).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}
