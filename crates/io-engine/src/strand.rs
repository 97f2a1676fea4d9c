//! [`WriteStrand`]: one worker at a time writes a file's buffered data.
//!
//! Why: buffered writes to one file take its inode lock for the whole
//! copy, so two workers writing the same file do not write in parallel:
//! the second spins on the lock (`rwsem_spin_on_owner` took a fifth of all
//! CPU in a LOCALIO 1 MiB write stream on two cores) or sleeps. Instead, a
//! worker that finds another writing the file leaves its job in the file's
//! strand and goes on with other work; the writing worker takes it next.
//! (No order is promised between writes in flight at once, as before:
//! callers order overlapping writes themselves.)

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::queue::JobQueue;
use crate::request::Job;
use crate::IoError;

/// The writer state of one file.
#[derive(Debug, Default)]
pub(crate) struct WriteStrand {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// A worker is writing this file.
    busy: bool,
    /// Jobs left by other workers for it, oldest first.
    waiting: VecDeque<Job>,
}

impl WriteStrand {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(job)`: the caller now writes this file and runs `job`, then
    /// asks [`WriteStrand::next`]. `None`: another worker is writing it
    /// and will run `job`, which counts against `queue`'s bound meanwhile.
    pub(crate) fn enter(&self, job: Job, queue: &JobQueue) -> Option<Job> {
        let mut st = self.state();
        if st.busy {
            queue.hold();
            st.waiting.push_back(job);
            None
        } else {
            st.busy = true;
            Some(job)
        }
    }

    /// Leaves `job` for the worker writing this file, if one is (`Err`
    /// gives it back otherwise): a submitter's write then wakes no worker
    /// that would only find the file busy.
    pub(crate) fn append_if_busy(&self, job: Job, queue: &JobQueue) -> Result<(), Job> {
        let mut st = self.state();
        if st.busy {
            queue.hold();
            st.waiting.push_back(job);
            Ok(())
        } else {
            Err(job)
        }
    }

    /// Fails every job left here and frees the strand: the writing worker
    /// is unwinding from a panic, and nobody else would ever answer them.
    pub(crate) fn abandon(&self, queue: &JobQueue) {
        let jobs = {
            let mut st = self.state();
            st.busy = false;
            std::mem::take(&mut st.waiting)
        };
        for job in jobs {
            queue.release();
            job.fail(IoError::ShutDown);
        }
    }

    /// The next job left for the writing worker, or `None`: it no longer
    /// writes this file.
    pub(crate) fn next(&self, queue: &JobQueue) -> Option<Job> {
        let job = {
            let mut st = self.state();
            let job = st.waiting.pop_front();
            if job.is_none() {
                st.busy = false;
            }
            job
        };
        if job.is_some() {
            queue.release();
        }
        job
    }
}
