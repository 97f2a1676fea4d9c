//! One worker thread: owns an io_uring, takes jobs from the shared queue,
//! submits their IOs without waiting for each, and completes jobs as their
//! completions arrive (many IOs in flight per worker).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{mpsc, Arc};

use io_uring::{opcode, squeue, types, IoUring};

use crate::inflight::{seg_addr, Body, InFlight, MAX_SEGS};
use crate::queue::JobQueue;
use crate::request::Job;
use crate::stats::{add, Counters};
use crate::strand::WriteStrand;
use crate::syncio::sync_write;
use crate::EngineConfig;

/// What the engine and its workers share.
#[derive(Debug)]
pub(crate) struct EngineState {
    pub(crate) queue: JobQueue,
    pub(crate) stats: Counters,
    pub(crate) config: EngineConfig,
}

/// A worker's start-up report: its ring was set up (outer), and whether
/// `PR_SET_IO_FLUSHER` was granted (inner).
pub(crate) type Ready = Result<Result<(), io::Error>, io::Error>;

/// user_data of the eventfd poll that wakes the worker.
const WAKE_TOKEN: u64 = u64::MAX;

fn token(slot: usize, seg: usize) -> u64 {
    ((slot as u64) << 2) | seg as u64
}

fn untoken(token: u64) -> (usize, usize) {
    ((token >> 2) as usize, (token & 3) as usize)
}

pub(crate) struct Worker {
    ring: IoUring,
    shared: Arc<EngineState>,
    index: usize,
    table: Vec<Option<InFlight>>,
    free: Vec<usize>,
    /// SQEs in flight, not counting the wake poll.
    sqes: usize,
    poll_armed: bool,
    cqes: Vec<(u64, i32)>,
}

fn new_ring(entries: u32) -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .build(entries)
        .or_else(|_| IoUring::new(entries))
}

/// The worker thread's body.
pub(crate) fn run(shared: Arc<EngineState>, index: usize, ready: mpsc::Sender<Ready>) {
    let flusher = rustix::process::configure_io_flusher_behavior(true).map_err(io::Error::from);
    let ring = match new_ring(shared.config.ring_entries) {
        Ok(ring) => ring,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(flusher));
    drop(ready);
    let mut worker = Worker {
        ring,
        shared,
        index,
        table: Vec::new(),
        free: Vec::new(),
        sqes: 0,
        poll_armed: false,
        cqes: Vec::new(),
    };
    worker.main_loop();
}

impl Worker {
    fn has_room(&self) -> bool {
        // One entry stays for the wake poll.
        self.sqes + MAX_SEGS < self.shared.config.ring_entries as usize
    }

    fn main_loop(&mut self) {
        let shared = Arc::clone(&self.shared);
        let wake = shared.queue.wake(self.index);
        loop {
            // One job at a time, submitted at once: a buffered read of
            // cached data runs inside the submission, and meanwhile another
            // worker takes the next job, so the copies of a caller's
            // requests run in parallel instead of one after another here.
            while self.has_room() {
                match shared.queue.try_pop() {
                    Some(job) => {
                        self.take(job);
                        self.submit_now();
                    }
                    None => break,
                }
            }
            let closed = shared.queue.is_closed();
            if closed && self.sqes == 0 {
                return;
            }
            if !self.poll_armed {
                self.arm_poll();
            }
            // Advertise sleep only with room to take work, then re-check the
            // queue: a pusher either sees `sleeping` or we see its job.
            let advertise = !closed && self.has_room();
            if advertise {
                wake.sleeping.store(true, SeqCst);
                if shared.queue.needs_attention() {
                    wake.sleeping.store(false, SeqCst);
                    continue;
                }
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => {
                    tracing::error!(worker = self.index, "io_uring_enter failed: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            wake.sleeping.store(false, SeqCst);
            self.reap();
        }
    }

    /// Submits the queued SQEs without waiting (errors surface at the next
    /// `submit_and_wait`).
    fn submit_now(&mut self) {
        if let Err(e) = self.ring.submit() {
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
            ) {
                tracing::warn!(worker = self.index, "io_uring submit failed: {e}");
            }
        }
    }

    fn reap(&mut self) {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
        for &(token, res) in &cqes {
            self.complete(token, res);
        }
        self.cqes = cqes;
    }

    fn arm_poll(&mut self) {
        let fd = self.shared.queue.wake(self.index).eventfd.as_raw_fd();
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .build()
            .user_data(WAKE_TOKEN);
        // SAFETY: a poll references no memory of ours; the eventfd is owned
        // by `shared`, which outlives the ring (and the kernel holds its own
        // reference to the file while the poll is armed).
        if unsafe { self.push_sqe(&entry) }.is_ok() {
            self.poll_armed = true;
        }
    }

    /// Pushes an SQE, flushing the submission queue once if it is full.
    ///
    /// # Safety
    /// Every buffer the entry points to must stay valid until its CQE is reaped.
    unsafe fn push_sqe(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: forwarded from the caller.
        if unsafe { self.ring.submission().push(entry) }.is_ok() {
            return Ok(());
        }
        self.ring.submit()?;
        // SAFETY: forwarded from the caller.
        unsafe { self.ring.submission().push(entry) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))
    }

    fn insert(&mut self, inflight: InFlight) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.table[slot] = Some(inflight);
                slot
            }
            None => {
                self.table.push(Some(inflight));
                self.table.len() - 1
            }
        }
    }

    /// Starts a job; a buffered unstable write goes through its file's
    /// [`WriteStrand`]: run here now with the
    /// file's other waiting writes, or left to the worker writing the file.
    fn take(&mut self, job: Job) {
        if !job.is_buffered_write(self.shared.config.direct) {
            return self.start(job);
        }
        let file = Arc::clone(&job.file);
        let shared = Arc::clone(&self.shared);
        let Some(mut job) = file.strand.enter(job, &shared.queue) else {
            add(&shared.stats.strand_waits, 1);
            return;
        };
        /// Answers the strand's waiting jobs if `start` panics.
        struct Unwinding<'a>(&'a WriteStrand, &'a JobQueue);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.abandon(self.1);
                }
            }
        }
        let _guard = Unwinding(&file.strand, &shared.queue);
        loop {
            self.start(job);
            match file.strand.next(&shared.queue) {
                Some(next) => job = next,
                None => return,
            }
        }
    }

    /// Turns a job into in-flight IO.
    fn start(&mut self, job: Job) {
        let inflight = InFlight::new(job, &self.shared.config, &self.shared.stats);
        let nsegs = inflight.segs.len();
        let slot = self.insert(inflight);
        if nsegs == 0 {
            self.submit_fsync(slot);
        } else {
            for i in 0..nsegs {
                self.submit_seg(slot, i);
            }
        }
        if self.table[slot].as_ref().is_some_and(|f| f.active == 0) {
            self.finish(slot);
        }
    }

    fn submit_fsync(&mut self, slot: usize) {
        let Some(inf) = self.table[slot].as_ref() else {
            return;
        };
        let Body::Fsync { data_only, .. } = inf.body else {
            return;
        };
        let flags = if data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        let entry = opcode::Fsync::new(types::Fd(inf.file.buffered_fd().as_raw_fd()))
            .flags(flags)
            .build()
            .user_data(token(slot, 0));
        // SAFETY: fsync references no memory; the fd stays open because the
        // in-flight entry holds the file until the CQE is reaped.
        let pushed = unsafe { self.push_sqe(&entry) };
        self.account_push(slot, pushed);
    }

    /// Submits (the rest of) segment `i` of the job in `slot`, or does it
    /// here when it is a buffered unstable write (see [`sync_write`]).
    fn submit_seg(&mut self, slot: usize, i: usize) {
        loop {
            let Some(inf) = self.table[slot].as_ref() else {
                return;
            };
            let seg = &inf.segs[i];
            let remaining = (seg.len - seg.done) as u32;
            let file_off = inf.offset + (seg.start + seg.done) as u64;
            let fd = match (seg.direct, inf.file.direct_fd()) {
                (true, Some(d)) => d.as_raw_fd(),
                _ => inf.file.buffered_fd().as_raw_fd(),
            };
            let entry = match &inf.body {
                Body::Read { base, .. } => {
                    // SAFETY: start + done + remaining = start + len <= request
                    // len, within the buffer's capacity.
                    let ptr = unsafe { base.add(seg.start + seg.done) };
                    opcode::Read::new(types::Fd(fd), ptr, remaining)
                        .offset(file_off)
                        .build()
                }
                Body::Write { data, stable, .. } => {
                    if !seg.direct && !*stable {
                        let from = seg.start + seg.done;
                        let fd = inf.file.buffered_fd();
                        let (res, dontcache) =
                            sync_write(fd, &data[from..seg.start + seg.len], file_off);
                        add(&self.shared.stats.sync_writes, 1);
                        if dontcache && res > 0 {
                            add(&self.shared.stats.dontcache_writes, 1);
                        }
                        if self.progress(slot, i, res) {
                            continue;
                        }
                        return;
                    }
                    let ptr = match &seg.bounce {
                        // SAFETY: the bounce buffer holds seg.len bytes.
                        Some(b) => unsafe { b.as_ptr().add(seg.done) },
                        // SAFETY: start + len <= data.len().
                        None => unsafe { data.as_ptr().add(seg.start + seg.done) },
                    };
                    let flags = if *stable { libc::RWF_DSYNC } else { 0 };
                    if *stable {
                        add(&self.shared.stats.dsync_writes, 1);
                    }
                    opcode::Write::new(types::Fd(fd), ptr, remaining)
                        .offset(file_off)
                        .rw_flags(flags)
                        .build()
                }
                Body::Fsync { .. } => return,
            }
            .user_data(token(slot, i));
            // SAFETY: the memory (the read's BytesMut, the write's Bytes or
            // its bounce buffer) and the fds (via Arc<IoFile>) are owned by
            // the in-flight entry in `table`, which is only removed in
            // `finish` once no SQE of the job is active; on unwinding, `Drop
            // for Worker` waits for every CQE before the table is freed.
            let pushed = unsafe { self.push_sqe(&entry) };
            self.account_push(slot, pushed);
            return;
        }
    }

    fn account_push(&mut self, slot: usize, pushed: io::Result<()>) {
        let Some(inf) = self.table[slot].as_mut() else {
            return;
        };
        match pushed {
            Ok(()) => {
                inf.active += 1;
                self.sqes += 1;
            }
            Err(e) => {
                inf.error.get_or_insert(e);
            }
        }
    }

    /// Handles one CQE.
    fn complete(&mut self, token: u64, res: i32) {
        if token == WAKE_TOKEN {
            self.poll_armed = false;
            self.shared.queue.wake(self.index).drain();
            return;
        }
        let (slot, i) = untoken(token);
        self.sqes = self.sqes.saturating_sub(1);
        let Some(inf) = self.table.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        inf.active = inf.active.saturating_sub(1);
        if self.progress(slot, i, res) {
            let fsync = self.table[slot]
                .as_ref()
                .is_some_and(|inf| inf.segs.is_empty());
            if fsync {
                self.submit_fsync(slot);
            } else {
                self.submit_seg(slot, i);
            }
        }
        if self.table[slot].as_ref().is_some_and(|f| f.active == 0) {
            self.finish(slot);
        }
    }

    /// Records the result `res` (bytes, or -errno) of one IO of segment `i`
    /// (or of the fsync) of the job in `slot`; true if the rest of it must
    /// be (re)submitted.
    fn progress(&mut self, slot: usize, i: usize, res: i32) -> bool {
        let stats = &self.shared.stats;
        let Some(inf) = self.table.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        let retry_errno = |e: i32| e == libc::EINTR || e == libc::EAGAIN;
        match &inf.body {
            Body::Fsync { .. } => {
                if res < 0 && retry_errno(-res) {
                    true
                } else {
                    if res < 0 {
                        inf.error.get_or_insert(io::Error::from_raw_os_error(-res));
                    }
                    false
                }
            }
            body => {
                let read = matches!(body, Body::Read { .. });
                let align = inf.file.alignment();
                let seg = &mut inf.segs[i];
                if res < 0 {
                    let errno = -res;
                    if retry_errno(errno) {
                        true
                    } else if seg.direct && errno == libc::EINVAL {
                        // Alignment surprise: redo this part buffered.
                        seg.direct = false;
                        add(&stats.direct_retries, 1);
                        true
                    } else {
                        inf.error.get_or_insert(io::Error::from_raw_os_error(errno));
                        false
                    }
                } else if res == 0 {
                    if !read {
                        inf.error.get_or_insert(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "write made no progress",
                        ));
                    }
                    // A read returning 0 is end of file: this part ends here.
                    false
                } else {
                    let n = (res as usize).min(seg.len - seg.done);
                    seg.done += n;
                    let counter = if seg.direct {
                        &stats.direct_bytes
                    } else {
                        &stats.buffered_bytes
                    };
                    add(counter, n as u64);
                    if seg.done < seg.len && inf.error.is_none() {
                        // Continue a short IO; direct only while still aligned.
                        let off_align = u64::from(if read {
                            align.read_align()
                        } else {
                            align.offset_align
                        });
                        let pos = inf.offset + (seg.start + seg.done) as u64;
                        let rest = (seg.len - seg.done) as u64;
                        let mem_align = align.mem_align.max(1) as usize;
                        let mem_ok = seg_addr(body, seg).is_multiple_of(mem_align);
                        if seg.direct
                            && !(mem_ok
                                && pos.is_multiple_of(off_align)
                                && rest.is_multiple_of(off_align))
                        {
                            seg.direct = false;
                        }
                        true
                    } else {
                        false
                    }
                }
            }
        }
    }

    /// Answers the job in `slot` (no SQE of it is active any more).
    fn finish(&mut self, slot: usize) {
        if let Some(inf) = self.table[slot].take() {
            self.free.push(slot);
            inf.answer(&self.shared.stats);
        }
    }
}

impl Drop for Worker {
    /// Never frees a buffer the kernel may still use: on an unexpected exit
    /// (a panic), waits for every in-flight IO, and leaks the table if the
    /// ring itself fails. Also closes the queue so no caller waits forever.
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                worker = self.index,
                "IO engine worker panicked: engine closed"
            );
            self.shared.queue.close();
        }
        while self.sqes > 0 {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(_) => {
                    std::mem::forget(std::mem::take(&mut self.table));
                    return;
                }
            }
            let done = self
                .ring
                .completion()
                .filter(|c| c.user_data() != WAKE_TOKEN)
                .count();
            self.sqes = self.sqes.saturating_sub(done);
        }
    }
}
