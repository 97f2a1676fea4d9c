//! [`WriteBehind`]: a file's LOCALIO writes that are queued on the IO
//! engine and not yet known to be done.
//!
//! Why: an UNSTABLE write through LOCALIO is a copy into the server host's
//! page cache; making the writer wait for each one (its hand-off to an
//! engine worker, the copy, the answer's way back) halves a one-at-a-time
//! writer's throughput. The kernel's NFS client answers a write once the
//! data is in its own page cache and writes back later; here a write is
//! answered once it is queued on the engine, within a bound of
//! [`crate::ClientConfig::write_behind`] bytes per file (large writes
//! only: small ones gain nothing from it and lose to the queueing).
//!
//! What stays true:
//! - Order: a write never overlaps a queued one (the older ones up to the
//!   last overlapping one are waited for first), and a read waits for the
//!   queued writes it overlaps, so the file reads back what it wrote.
//! - Nothing is lost: a queued write that fails locally is written again
//!   through the file's one RPC write path ([`RpcRoute`]: UNSTABLE,
//!   journaled, COMMITted by the file's next sync) after the mount falls
//!   back to RPC; if that fails too, the error is kept and
//!   returned by the file's next write or sync (as write-back errors are
//!   reported by `fsync`), and the data is not reported durable.
//! - Durability: a sync waits for every queued write before the `fsync`;
//!   so does [`crate::File::metadata`], whose size must show them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use nfsl_io_engine::{IoEngine, IoError, IoFile, Pending, Write};

use super::router::Session;
use crate::error::Error;
use crate::rpc_route::RpcRoute;
use crate::session::Nfs;
use nfsl_transport::client::Payload;

/// A write queued on the engine.
struct Queued {
    offset: u64,
    data: Bytes,
    session: Arc<Session>,
    outcome: Outcome,
}

/// A queued write's result: still to come, or awaited already (while
/// waiting for a younger write, see [`Queue::settle_for`]).
enum Outcome {
    Pending(Pending<usize>),
    Done(std::result::Result<usize, IoError>),
}

impl Outcome {
    fn is_ready(&self) -> bool {
        match self {
            Outcome::Pending(p) => p.is_ready(),
            Outcome::Done(_) => true,
        }
    }

    /// Waits for the result, keeping it.
    async fn wait(&mut self) {
        if let Outcome::Pending(p) = self {
            *self = Outcome::Done(p.await);
        }
    }

    async fn result(self) -> std::result::Result<usize, IoError> {
        match self {
            Outcome::Pending(p) => p.await,
            Outcome::Done(r) => r,
        }
    }
}

impl Queued {
    fn overlaps(&self, offset: u64, len: usize) -> bool {
        let end = self.offset + self.data.len() as u64;
        self.offset < offset + len as u64 && offset < end
    }
}

/// The queue, behind an async lock: whoever holds it orders writes.
pub(crate) struct WriteBehind {
    inner: tokio::sync::Mutex<Queue>,
    /// Writes queued, readable without the lock: a reader of a file with
    /// none queued (the common case) does not take it, so concurrent
    /// readers of one file do not line up on it (measured: 4 jobs of
    /// cached 4 KiB reads on 2 threads, 261k -> 1064k IOPS).
    count: Arc<AtomicUsize>,
}

impl Default for WriteBehind {
    fn default() -> WriteBehind {
        let count = Arc::new(AtomicUsize::new(0));
        WriteBehind {
            inner: tokio::sync::Mutex::new(Queue {
                count: Arc::clone(&count),
                ..Queue::default()
            }),
            count,
        }
    }
}

/// The queued writes of one file, oldest first.
#[derive(Default)]
pub(crate) struct Queue {
    /// Shared with [`WriteBehind::is_empty`].
    count: Arc<AtomicUsize>,
    queued: VecDeque<Queued>,
    bytes: usize,
    /// A write that failed locally and over RPC, not yet reported.
    error: Option<Error>,
}

impl WriteBehind {
    /// True if no write is queued (without taking the lock). A write
    /// that has returned to its caller is counted already.
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }

    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Queue> {
        self.inner.lock().await
    }
}

impl Queue {
    /// True if a queued write overlaps `len` bytes at `offset`.
    pub(crate) fn overlaps(&self, offset: u64, len: usize) -> bool {
        self.queued.iter().any(|q| q.overlaps(offset, len))
    }

    /// The error of a write that could not be done, once.
    pub(crate) fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Queues `data` at `offset` on `engine` through `file`.
    pub(crate) async fn push(
        &mut self,
        engine: &IoEngine,
        file: &Arc<IoFile>,
        session: &Arc<Session>,
        offset: u64,
        data: Bytes,
    ) {
        let pending = engine
            .submit(Write::new(Arc::clone(file), offset, data.clone()))
            .await;
        self.bytes += data.len();
        self.count.fetch_add(1, Ordering::SeqCst);
        self.queued.push_back(Queued {
            offset,
            data,
            session: Arc::clone(session),
            outcome: Outcome::Pending(pending),
        });
    }

    /// Waits for the oldest queued write; redoes it over RPC if it failed.
    async fn settle_oldest(&mut self, nfs: &Nfs, rpc: &RpcRoute) {
        let Some(q) = self.queued.pop_front() else {
            return;
        };
        self.count.fetch_sub(1, Ordering::SeqCst);
        self.bytes -= q.data.len();
        let why = match q.outcome.result().await {
            Ok(n) if n == q.data.len() => return,
            Ok(n) => format!("short write: {n} of {} bytes", q.data.len()),
            Err(e) => e.to_string(),
        };
        nfs.shared
            .local
            .fail(nfs, &q.session, &format!("write behind: {why}"));
        // The file's one RPC write path: UNSTABLE, journaled, COMMITted
        // by the file's next sync like every other RPC write.
        if let Err(e) = rpc.write(Payload::Bytes(q.data), q.offset).await {
            tracing::warn!("a written-behind LOCALIO write failed, and over RPC: {e}");
            self.error.get_or_insert(e);
        }
    }

    /// Lets go of the queued writes that are done already (oldest first),
    /// without waiting: a writer that reuses its buffers gets them back
    /// now, not when the window is next full, so it cycles through fewer
    /// of them (fewer stay warm in the CPU caches; memory is freed sooner).
    pub(crate) async fn settle_done(&mut self, nfs: &Nfs, rpc: &RpcRoute) {
        while self.queued.front().is_some_and(|q| q.outcome.is_ready()) {
            self.settle_oldest(nfs, rpc).await;
        }
    }

    /// Waits (oldest first) until no queued write overlaps `len` bytes at
    /// `offset` and `room` more bytes fit under `limit`. When they do not
    /// fit, it waits until half the window is free, with one wake-up: for
    /// the youngest write that gets it there first, then for the older
    /// ones (done by then, as one worker writes a file's data in order).
    ///
    /// Why: every wake-up of the writer slows the worker that sends it
    /// (on this VM, a cross-CPU interrupt). A worker `pwrite`-ing 1 MiB
    /// buffers from six in turn did 10.6-11.0 GB/s waking its writer after
    /// each, and 11.9-12.1 when the writer never slept, as fast as the
    /// writer's own loop over six buffers (`copy_cost`, figures in
    /// `docs/BENCHMARKS.md`); LOCALIO 1 MiB writes went from 0.79-0.83x to
    /// 0.84-0.86x of the `pwrite` ceiling with this (alternating runs).
    pub(crate) async fn settle_for(
        &mut self,
        nfs: &Nfs,
        rpc: &RpcRoute,
        offset: u64,
        len: usize,
        room: usize,
        limit: usize,
    ) {
        if self.bytes + room > limit {
            let low_water = (limit / 2).max(room);
            let mut left = self.bytes;
            let last = self.queued.iter().position(|q| {
                left -= q.data.len();
                left + room <= low_water
            });
            if let Some(last) = last {
                self.queued[last].outcome.wait().await;
            }
            while !self.queued.is_empty() && self.bytes + room > low_water {
                self.settle_oldest(nfs, rpc).await;
            }
        }
        while !self.queued.is_empty() && (self.overlaps(offset, len) || self.bytes + room > limit) {
            self.settle_oldest(nfs, rpc).await;
        }
    }

    /// Waits for every queued write.
    pub(crate) async fn settle_all(&mut self, nfs: &Nfs, rpc: &RpcRoute) {
        while !self.queued.is_empty() {
            self.settle_oldest(nfs, rpc).await;
        }
    }
}
