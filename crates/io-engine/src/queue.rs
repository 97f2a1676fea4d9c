//! The shared bounded submission queue and the wake-up of sleeping workers.
//!
//! Callers push; workers pop. A full queue makes async callers wait on a
//! [`Notify`] and blocking callers on a [`Condvar`] (backpressure). A worker
//! about to sleep in `io_uring_enter` advertises it (`sleeping`) and then
//! re-checks the queue; a pusher that finds an advertised sleeper wakes it
//! through its eventfd, which the worker's ring polls. With both sides using
//! SeqCst around the queue mutex, no wake-up is lost.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard};

use rustix::event::{eventfd, EventfdFlags};
use tokio::sync::Notify;

use crate::request::Job;
use crate::stats::{add, Counters};
use crate::IoError;

/// How a worker is woken.
#[derive(Debug)]
pub(crate) struct WorkerWake {
    /// The worker is (about to be) blocked waiting for completions and has
    /// room for more requests.
    pub(crate) sleeping: AtomicBool,
    /// Written to wake the worker; polled by its ring.
    pub(crate) eventfd: OwnedFd,
}

impl WorkerWake {
    pub(crate) fn new() -> std::io::Result<WorkerWake> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(WorkerWake {
            sleeping: AtomicBool::new(false),
            eventfd: fd,
        })
    }

    fn ring(&self) {
        // EAGAIN only if the counter is about to overflow: it is set anyway.
        let _ = rustix::io::write(&self.eventfd, &1u64.to_ne_bytes());
    }

    /// Clears the eventfd after its poll fired.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.eventfd, &mut buf);
    }
}

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The bounded multi-producer multi-consumer queue of jobs.
#[derive(Debug)]
pub(crate) struct JobQueue {
    state: Mutex<State>,
    capacity: usize,
    not_full: Condvar,
    space: Notify,
    wakes: Vec<WorkerWake>,
    next_wake: AtomicUsize,
    /// Jobs parked in files' write strands (see [`crate::strand`]): they
    /// count against `capacity` as queued ones do.
    held: AtomicUsize,
}

enum PushError {
    Full(Job),
    Closed(Job),
}

impl JobQueue {
    pub(crate) fn new(capacity: usize, wakes: Vec<WorkerWake>) -> JobQueue {
        JobQueue {
            state: Mutex::new(State::default()),
            capacity,
            not_full: Condvar::new(),
            space: Notify::new(),
            wakes,
            next_wake: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
        }
    }

    pub(crate) fn wake(&self, worker: usize) -> &WorkerWake {
        &self.wakes[worker]
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (push/pop are single
        // VecDeque calls): recover it rather than poison every caller.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_push(&self, job: Job) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed(job));
        }
        if self.is_full(&st) {
            return Err(PushError::Full(job));
        }
        st.jobs.push_back(job);
        drop(st);
        self.wake_one();
        Ok(())
    }

    /// Queues `job`, waiting asynchronously while the queue is full. A
    /// closed queue fails the job with [`IoError::ShutDown`].
    pub(crate) async fn push(&self, mut job: Job, stats: &Counters) {
        let mut counted = false;
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_push(job) {
                Ok(()) => return,
                Err(PushError::Closed(j)) => return j.fail(IoError::ShutDown),
                Err(PushError::Full(j)) => {
                    job = j;
                    if !counted {
                        add(&stats.queue_full_waits, 1);
                        counted = true;
                    }
                    notified.await;
                }
            }
        }
    }

    /// Queues `job`, blocking the thread while the queue is full.
    pub(crate) fn push_blocking(&self, job: Job, stats: &Counters) {
        let mut st = self.lock();
        let mut counted = false;
        while !st.closed && self.is_full(&st) {
            if !counted {
                add(&stats.queue_full_waits, 1);
                counted = true;
            }
            st = self.not_full.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.closed {
            drop(st);
            return job.fail(IoError::ShutDown);
        }
        st.jobs.push_back(job);
        drop(st);
        self.wake_one();
    }

    fn is_full(&self, st: &State) -> bool {
        st.jobs.len() + self.held.load(SeqCst) >= self.capacity
    }

    /// True if a job could be queued now without waiting.
    pub(crate) fn has_room(&self) -> bool {
        let st = self.lock();
        !st.closed && !self.is_full(&st)
    }

    /// Counts a job parked in a write strand.
    pub(crate) fn hold(&self) {
        self.held.fetch_add(1, SeqCst);
    }

    /// A parked job was taken (or failed): its room is free again.
    pub(crate) fn release(&self) {
        // Under the lock, so a blocking pusher that found the queue full
        // is already waiting on `not_full` (no lost wake-up).
        let st = self.lock();
        self.held.fetch_sub(1, SeqCst);
        drop(st);
        self.space.notify_one();
        self.not_full.notify_one();
    }

    /// Takes the oldest job, if any (None also when closed).
    pub(crate) fn try_pop(&self) -> Option<Job> {
        let mut st = self.lock();
        let job = st.jobs.pop_front()?;
        drop(st);
        self.space.notify_one();
        self.not_full.notify_one();
        Some(job)
    }

    /// True if a job waits (or the queue closed: either needs the worker's attention).
    pub(crate) fn needs_attention(&self) -> bool {
        let st = self.lock();
        st.closed || !st.jobs.is_empty()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the queue: fails every queued job with [`IoError::ShutDown`],
    /// refuses new ones, releases waiting pushers and wakes every worker.
    pub(crate) fn close(&self) {
        let jobs = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.jobs)
        };
        for job in jobs {
            job.fail(IoError::ShutDown);
        }
        self.space.notify_waiters();
        self.not_full.notify_all();
        for w in &self.wakes {
            w.ring();
        }
    }

    /// Wakes one advertised sleeper, starting round-robin. If none sleeps,
    /// every worker is busy and will look at the queue before sleeping.
    fn wake_one(&self) {
        let n = self.wakes.len();
        let start = self.next_wake.fetch_add(1, SeqCst);
        for i in 0..n {
            let w = &self.wakes[(start + i) % n];
            if w.sleeping.swap(false, SeqCst) {
                w.ring();
                return;
            }
        }
    }
}
