//! The engine handle: starts the workers, queues requests, shuts down on drop.

use std::fmt;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};

use crate::nowait::{self, NowaitWrite};
use crate::queue::{JobQueue, WorkerWake};
use crate::request::{Job, Pending, Request};
use crate::stats::{add, Counters, EngineStats};
use crate::syncio::STREAMING_WRITE;
use crate::worker::{self, EngineState};
use crate::{DirectPolicy, EngineConfig, Fsync, IoError, IoFile, Read, Write};

/// Whether the workers were made IO flushers (`prctl(PR_SET_IO_FLUSHER)`:
/// their allocations cannot recurse into IO under memory pressure, which
/// matters when the engine serves a local NFS mount or a FUSE mount). It
/// needs CAP_SYS_RESOURCE; the engine works without it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoFlusherStatus {
    /// Workers the kernel made IO flushers.
    pub granted: usize,
    /// Workers the kernel refused.
    pub refused: usize,
    /// The errno of the first refusal (EPERM without CAP_SYS_RESOURCE).
    pub error: Option<i32>,
}

impl fmt::Display for IoFlusherStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PR_SET_IO_FLUSHER granted to {} worker(s)", self.granted)?;
        if self.refused > 0 {
            let err = std::io::Error::from_raw_os_error(self.error.unwrap_or(0));
            write!(f, ", refused for {} ({err})", self.refused)?;
        }
        Ok(())
    }
}

/// The IO engine: worker threads, each with its own io_uring, draining one
/// bounded queue of [`Read`], [`Write`] and [`Fsync`] requests.
///
/// Dropping it closes the queue (queued requests fail with
/// [`IoError::ShutDown`]), lets the workers finish the IO already in
/// flight, and joins them.
#[derive(Debug)]
pub struct IoEngine {
    shared: Arc<EngineState>,
    threads: Vec<JoinHandle<()>>,
    flusher: IoFlusherStatus,
}

impl IoEngine {
    /// Starts `config.workers` workers and waits until each has its ring.
    pub fn start(config: EngineConfig) -> Result<IoEngine, IoError> {
        config.validate()?;
        let wakes = (0..config.workers)
            .map(|_| WorkerWake::new())
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(IoError::Start)?;
        let shared = Arc::new(EngineState {
            queue: JobQueue::new(config.queue_capacity, wakes),
            stats: Counters::default(),
            config,
        });
        let mut engine = IoEngine {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            flusher: IoFlusherStatus::default(),
        };
        let (tx, rx) = mpsc::channel();
        for index in 0..shared.config.workers {
            let (shared, tx) = (Arc::clone(&shared), tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", shared.config.thread_name))
                .spawn(move || worker::run(shared, index, tx));
            // On error, dropping `engine` closes the queue and joins the others.
            engine.threads.push(spawned.map_err(IoError::Start)?);
        }
        drop(tx);
        for _ in 0..engine.threads.len() {
            match rx.recv() {
                Ok(Ok(Ok(()))) => engine.flusher.granted += 1,
                Ok(Ok(Err(e))) => {
                    engine.flusher.refused += 1;
                    engine
                        .flusher
                        .error
                        .get_or_insert(e.raw_os_error().unwrap_or(0));
                }
                Ok(Err(e)) => return Err(IoError::Start(e)),
                Err(_) => return Err(IoError::WorkerLost),
            }
        }
        if engine.flusher.refused == 0 {
            tracing::info!(
                "IO engine: {} worker(s), {}",
                engine.threads.len(),
                engine.flusher
            );
        } else {
            tracing::warn!(
                "IO engine: {} worker(s), {} (best effort: IO under memory pressure may stall)",
                engine.threads.len(),
                engine.flusher
            );
        }
        Ok(engine)
    }

    /// Whether the workers became IO flushers.
    pub fn io_flusher(&self) -> IoFlusherStatus {
        self.flusher
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> EngineStats {
        self.shared.stats.snapshot()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Checks a job; answers it at once if it is invalid or needs no IO.
    fn admit(&self, job: Job) -> Option<Job> {
        if let Err(e) = job.check(self.shared.config.max_request_bytes) {
            add(&self.shared.stats.errors, 1);
            job.fail(e);
            return None;
        }
        job.answer_if_empty()
    }

    /// Queues a request, waiting (asynchronously) while the queue is full,
    /// and returns the future of its result. The IO runs on a worker thread.
    pub async fn submit<R: Request>(&self, request: R) -> Pending<R::Output> {
        let (job, pending) = request.into_job();
        if let Some(job) = self.admit(job).and_then(|j| self.park(j)) {
            self.shared.queue.push(job, &self.shared.stats).await;
        }
        pending
    }

    /// Like [`IoEngine::submit`] for threads outside async code: blocks
    /// while the queue is full. Wait for the result with [`Pending::wait`].
    pub fn submit_blocking<R: Request>(&self, request: R) -> Pending<R::Output> {
        let (job, pending) = request.into_job();
        if let Some(job) = self.admit(job).and_then(|j| self.park(j)) {
            self.shared.queue.push_blocking(job, &self.shared.stats);
        }
        pending
    }

    /// Leaves a buffered write with the worker already writing its file,
    /// if one is and the queue has room (else `Some`: queue it as usual).
    fn park(&self, job: Job) -> Option<Job> {
        let queue = &self.shared.queue;
        if !job.is_buffered_write(self.shared.config.direct) || !queue.has_room() {
            return Some(job);
        }
        let file = Arc::clone(&job.file);
        match file.strand.append_if_busy(job, queue) {
            Ok(()) => {
                add(&self.shared.stats.strand_waits, 1);
                None
            }
            Err(job) => Some(job),
        }
    }

    /// Reads `len` bytes at `offset` (fewer only at end of file).
    pub async fn read(
        &self,
        file: &Arc<IoFile>,
        offset: u64,
        len: usize,
    ) -> Result<BytesMut, IoError> {
        self.submit(Read::new(Arc::clone(file), offset, len))
            .await
            .await
    }

    /// Reads into `buf` at `offset` with the first attempt in the caller
    /// ([`IoEngine::read_cached`]), and only what would block on the
    /// workers, as a [`Read`] of what is left (copied into `buf`). Returns
    /// the bytes read (fewer only at end of file).
    pub async fn read_into(
        &self,
        file: &Arc<IoFile>,
        offset: u64,
        buf: &mut [u8],
        policy: DirectPolicy,
    ) -> Result<usize, IoError> {
        let (n, _) = self
            .read_into_with(file, offset, buf, policy, |_| BytesMut::new())
            .await?;
        Ok(n)
    }

    /// [`IoEngine::read_into`] for a caller that recycles buffers: the
    /// part that goes to the workers is read into `spare(len)` (called
    /// only then), which is handed back with the bytes read; `None`: all
    /// of it was read in the caller from the page cache.
    pub async fn read_into_with(
        &self,
        file: &Arc<IoFile>,
        offset: u64,
        buf: &mut [u8],
        policy: DirectPolicy,
        spare: impl FnOnce(usize) -> BytesMut,
    ) -> Result<(usize, Option<BytesMut>), IoError> {
        let len = buf.len();
        let done = self.read_cached(file, offset, buf, policy);
        if done == len {
            return Ok((len, None));
        }
        let rest = len - done;
        let read = Read::new(Arc::clone(file), offset + done as u64, rest)
            .direct(policy)
            .buffer(spare(rest));
        let data = self.submit(read).await.await?;
        let n = data.len().min(rest);
        buf[done..done + n].copy_from_slice(&data[..n]);
        Ok((done + n, Some(data)))
    }

    /// The part of a read into `buf` at `offset` the page cache can answer
    /// at once, done in the caller (`preadv2` with `RWF_NOWAIT`: it cannot
    /// block; it returns instead of waiting for the device, a page lock or
    /// reclaim): the bytes read from the start of `buf`, `buf.len()` when
    /// all of it was. The rest is for the workers (a [`Read`]), as is
    /// everything when the kernel refuses or `policy` reads direct (a
    /// direct read must reach the device). Allocates nothing; copies once.
    /// [`EngineStats::nowait_reads`] counts reads done entirely here,
    /// [`EngineStats::nowait_refusals`] those left (partly) to the workers.
    pub fn read_cached(
        &self,
        file: &IoFile,
        offset: u64,
        buf: &mut [u8],
        policy: DirectPolicy,
    ) -> usize {
        let len = buf.len();
        let in_range = offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= i64::MAX as u64);
        if len == 0 || !in_range || !self.reads_buffered(file, len, policy) {
            return 0;
        }
        match nowait::read_cached(file.buffered_fd(), buf, offset) {
            Some(n) if n == len => {
                add(&self.shared.stats.nowait_reads, 1);
                add(&self.shared.stats.nowait_bytes, n as u64);
                n
            }
            got => {
                add(&self.shared.stats.nowait_refusals, 1);
                got.unwrap_or(0)
            }
        }
    }

    /// True if a read of `len` bytes under `policy` is done buffered.
    fn reads_buffered(&self, file: &IoFile, len: usize, policy: DirectPolicy) -> bool {
        match policy {
            _ if !file.direct_capable() => true,
            DirectPolicy::Never => true,
            DirectPolicy::Auto => len < self.shared.config.auto_direct_min,
            DirectPolicy::Always => false,
        }
    }

    /// Writes `data` at `offset`, durably if `stable`, with the first
    /// attempt in the caller where that cannot block: an unstable write
    /// the engine's [`DirectPolicy`] does buffered, smaller than the
    /// streaming size (256 KiB, written with `RWF_DONTCACHE` by a worker),
    /// is tried with `pwritev2(RWF_NOWAIT)`, which the kernel answers with
    /// `EAGAIN` instead of throttling on dirty pages, waiting on a page
    /// lock or entering reclaim (see `nowait.rs` for where in the kernel).
    /// What it does not write goes to the workers as a [`Write`].
    ///
    /// Not tried: while an earlier write request of the same file is
    /// queued or in flight (a write never overtakes one submitted before
    /// it), and on a file whose file system refused once (`EOPNOTSUPP`:
    /// ext4, tmpfs; see [`IoFile::nowait_writes_refused`]).
    /// [`EngineStats::nowait_writes`](crate::EngineStats::nowait_writes)
    /// counts writes done in the caller, `nowait_write_refusals` those
    /// tried there that went to the workers.
    pub async fn write(
        &self,
        file: &Arc<IoFile>,
        offset: u64,
        data: impl Into<Bytes>,
        stable: bool,
    ) -> Result<usize, IoError> {
        let data = data.into();
        let len = data.len();
        let mut done = 0;
        if !stable && self.writes_in_caller(file, offset, len) {
            let stats = &self.shared.stats;
            match nowait::write_cached(file.buffered_fd(), &data, offset) {
                NowaitWrite::Wrote(n) => {
                    add(&stats.nowait_write_bytes, n as u64);
                    if n >= len {
                        add(&stats.nowait_writes, 1);
                        return Ok(len);
                    }
                    done = n;
                }
                NowaitWrite::WouldBlock => {}
                NowaitWrite::Unsupported => file.refuse_nowait_writes(),
            }
            add(&stats.nowait_write_refusals, 1);
        }
        let rest = Write::new(Arc::clone(file), offset + done as u64, data.slice(done..));
        let n = self.submit(rest.stable(stable)).await.await?;
        Ok(done + n)
    }

    /// True if an unstable write of `len` bytes at `offset` may be tried in
    /// the caller: buffered by policy, valid (else the queued request
    /// reports why), not streamed, not behind a queued write of the file,
    /// and on a file system not known to refuse.
    fn writes_in_caller(&self, file: &IoFile, offset: u64, len: usize) -> bool {
        let config = &self.shared.config;
        let buffered = match config.direct {
            _ if !file.direct_capable() => true,
            DirectPolicy::Never => true,
            DirectPolicy::Auto => len < config.auto_direct_min,
            DirectPolicy::Always => false,
        };
        buffered
            && len > 0
            && len < STREAMING_WRITE
            && len <= config.max_request_bytes
            && offset
                .checked_add(len as u64)
                .is_some_and(|end| end <= i64::MAX as u64)
            && file.is_writable()
            && !file.nowait_writes_refused()
            && !file.has_queued_writes()
    }

    /// `fsync` (or `fdatasync` if `data_only`) on a worker: NFS COMMIT.
    pub async fn fsync(&self, file: &Arc<IoFile>, data_only: bool) -> Result<(), IoError> {
        self.submit(Fsync::new(Arc::clone(file)).data_only(data_only))
            .await
            .await
    }
}

impl Drop for IoEngine {
    fn drop(&mut self) {
        self.shared.queue.close();
        for t in self.threads.drain(..) {
            // A worker that panicked already closed the queue and answered
            // (or dropped) its jobs; nothing more to do with its panic here.
            let _ = t.join();
        }
    }
}
