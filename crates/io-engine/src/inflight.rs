//! A job while its IO is in flight: how it is cut into direct and buffered
//! segments, the memory the kernel uses (owned here until every completion
//! is reaped), and the answer once it is done.

use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer::{aligned_copy, COPY_ALIGN};
use crate::file::QueuedWrite;
use crate::request::{Job, JobOp, Reply};
use crate::split::Split;
use crate::stats::{add, Counters};
use crate::{DirectPolicy, EngineConfig, IoError, IoFile, OpKind};

/// A request is cut into at most a head, a middle and a tail.
pub(crate) const MAX_SEGS: usize = 3;

/// A contiguous part of a read or write, done either direct or buffered.
pub(crate) struct Seg {
    /// Offset within the request.
    pub(crate) start: usize,
    pub(crate) len: usize,
    /// Bytes done so far (a short IO is continued from here).
    pub(crate) done: usize,
    pub(crate) direct: bool,
    /// Aligned copy of a direct write's data whose memory was misaligned.
    pub(crate) bounce: Option<BytesMut>,
}

impl Seg {
    fn new(start: usize, len: usize, direct: bool) -> Seg {
        Seg {
            start,
            len,
            done: 0,
            direct,
            bounce: None,
        }
    }
}

/// What the job does, with the memory and the reply it owns.
pub(crate) enum Body {
    Read {
        /// Owns the memory the kernel writes into (capacity `pad + len`).
        buf: BytesMut,
        /// `buf`'s start + `pad`: where byte 0 of the request goes.
        base: *mut u8,
        /// Leading bytes that align the direct middle in memory.
        pad: usize,
        reply: Reply<BytesMut>,
    },
    Write {
        /// Owns the memory the kernel reads from.
        data: Bytes,
        stable: bool,
        /// Dropped when the write is answered, before the answer is sent.
        queued: QueuedWrite,
        reply: Reply<usize>,
    },
    Fsync {
        data_only: bool,
        reply: Reply<()>,
    },
}

/// A job with IO in flight. Everything the kernel touches is owned here
/// until the last of its completions is reaped.
pub(crate) struct InFlight {
    pub(crate) file: Arc<IoFile>,
    pub(crate) offset: u64,
    pub(crate) len: usize,
    pub(crate) body: Body,
    pub(crate) segs: Vec<Seg>,
    /// SQEs submitted and not yet completed.
    pub(crate) active: usize,
    pub(crate) error: Option<io::Error>,
}

/// The alignment of a direct write's middle: whole pages (and a multiple of
/// the file's `offset_align`), so that no page holds both a buffered and a
/// direct part of a write, of this request or of a neighbouring one.
///
/// Why: after a direct write the kernel invalidates the page cache over the
/// written pages. If a buffered write dirties one of them meanwhile (a
/// buffered head written at the same time as the direct middle, on the same
/// page when the alignment is below the page size), the invalidation fails,
/// the kernel logs "Page cache invalidation failure on direct I/O. Possible
/// data corruption due to collision with buffered I/O!" and records EIO on
/// the file, which the next fsync or RWF_DSYNC write reports. Reads need no
/// such care (a direct read only flushes dirty pages first).
pub(crate) fn write_align(offset_align: u64) -> u64 {
    if offset_align == 0 {
        return 0;
    }
    let page = rustix::param::page_size() as u64;
    let (mut a, mut b) = (offset_align, page);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    offset_align / a * page
}

/// Decides how a read or write of `len` bytes at `offset` is cut.
pub(crate) fn plan(
    config: &EngineConfig,
    stats: &Counters,
    file: &IoFile,
    policy: DirectPolicy,
    offset: u64,
    len: usize,
    read: bool,
) -> Vec<Seg> {
    let whole = vec![Seg::new(0, len, false)];
    if policy == DirectPolicy::Never || !file.direct_capable() {
        return whole;
    }
    let align = file.alignment();
    let offset_align = if read {
        u64::from(align.read_align())
    } else {
        write_align(u64::from(align.offset_align))
    };
    let split = Split::new(offset, len as u64, offset_align);
    let min = config.auto_direct_min;
    if split.middle.is_empty() {
        if policy == DirectPolicy::Always || len >= min {
            add(&stats.misaligned_buffered, 1);
        }
        return whole;
    }
    let mid_len = (split.middle.end - split.middle.start) as usize;
    if policy == DirectPolicy::Auto && mid_len < min {
        return whole;
    }
    if split.is_split() {
        add(&stats.misaligned_splits, 1);
    }
    let head = (split.head.end - split.head.start) as usize;
    let mut segs = Vec::with_capacity(MAX_SEGS);
    if head > 0 {
        segs.push(Seg::new(0, head, false));
    }
    segs.push(Seg::new(head, mid_len, true));
    let tail = len - head - mid_len;
    if tail > 0 {
        segs.push(Seg::new(head + mid_len, tail, false));
    }
    segs
}

impl InFlight {
    /// Plans a job's IO and takes ownership of its memory.
    pub(crate) fn new(job: Job, config: &EngineConfig, stats: &Counters) -> InFlight {
        let Job { file, op } = job;
        let default = config.direct;
        let mem_align = file.alignment().mem_align as usize;
        match op {
            JobOp::Fsync { data_only, reply } => InFlight {
                file,
                offset: 0,
                len: 0,
                body: Body::Fsync { data_only, reply },
                segs: Vec::new(),
                active: 0,
                error: None,
            },
            JobOp::Read {
                offset,
                len,
                policy,
                buf,
                reply,
            } => {
                let segs = plan(
                    config,
                    stats,
                    &file,
                    policy.unwrap_or(default),
                    offset,
                    len,
                    true,
                );
                // The direct segment's memory at the file's alignment;
                // otherwise the data at a cache line (see `crate::buffer`).
                let (align, rel) = match segs.iter().find(|s| s.direct) {
                    Some(s) => (mem_align, s.start),
                    None => (COPY_ALIGN, 0),
                };
                // A caller's buffer is reused (emptied; grown if too small).
                let mut buf = buf.unwrap_or_default();
                buf.clear();
                buf.reserve(len + align);
                let start = buf.as_mut_ptr();
                let pad = (align - (start as usize + rel) % align) % align;
                // SAFETY: pad < align, so [start, start + pad) is within
                // the capacity (len + align); zeroing it makes the bytes
                // before the data initialized (they become part of `len`
                // for an instant in `finish`).
                unsafe { std::ptr::write_bytes(start, 0, pad) };
                // SAFETY: pad + len <= capacity.
                let base = unsafe { start.add(pad) };
                InFlight {
                    file,
                    offset,
                    len,
                    body: Body::Read {
                        buf,
                        base,
                        pad,
                        reply,
                    },
                    segs,
                    active: 0,
                    error: None,
                }
            }
            JobOp::Write {
                offset,
                data,
                stable,
                policy,
                queued,
                reply,
            } => {
                let len = data.len();
                let mut segs = plan(
                    config,
                    stats,
                    &file,
                    policy.unwrap_or(default),
                    offset,
                    len,
                    false,
                );
                for seg in segs.iter_mut().filter(|s| s.direct) {
                    if !(data.as_ptr() as usize + seg.start).is_multiple_of(mem_align) {
                        seg.bounce = aligned_copy(&data[seg.start..seg.start + seg.len], mem_align);
                        seg.direct = seg.bounce.is_some();
                    }
                }
                InFlight {
                    file,
                    offset,
                    len,
                    body: Body::Write {
                        data,
                        stable,
                        queued,
                        reply,
                    },
                    segs,
                    active: 0,
                    error: None,
                }
            }
        }
    }

    /// Answers the job's caller (no SQE of the job is active any more).
    pub(crate) fn answer(self, stats: &Counters) {
        let InFlight {
            body,
            segs,
            error,
            offset,
            len,
            ..
        } = self;
        // The job's error, counted, or what `ok` makes of its success.
        let outcome = |op: OpKind, ok: &mut dyn FnMut()| match error {
            Some(source) => {
                add(&stats.errors, 1);
                Err(IoError::Io {
                    op,
                    offset,
                    len,
                    source,
                })
            }
            None => {
                ok();
                Ok(())
            }
        };
        match body {
            Body::Read {
                mut buf,
                pad,
                reply,
                ..
            } => {
                let read = outcome(OpKind::Read, &mut || {
                    // The answer is the contiguous prefix that was read.
                    let mut total = 0;
                    for seg in &segs {
                        total += seg.done;
                        if seg.done < seg.len {
                            break;
                        }
                    }
                    // SAFETY: [0, pad) was zeroed in `start`, and
                    // [pad, pad + total) was written by completed reads
                    // (the prefix of segments read in full, then the done
                    // part of the first short one); pad + total is within
                    // the capacity. No IO of this job is active.
                    unsafe { buf.set_len(pad + total) };
                    buf.advance(pad);
                    add(&stats.reads, 1);
                    add(&stats.bytes_read, total as u64);
                });
                let _ = reply.send(read.map(|()| buf));
            }
            Body::Write { reply, queued, .. } => {
                let wrote = outcome(OpKind::Write, &mut || {
                    add(&stats.writes, 1);
                    add(&stats.bytes_written, len as u64);
                });
                // The IO is done: a write submitted once the answer is out
                // may run in its caller (see `IoEngine::write`).
                drop(queued);
                let _ = reply.send(wrote.map(|()| len));
            }
            Body::Fsync { reply, .. } => {
                let _ = reply.send(outcome(OpKind::Fsync, &mut || add(&stats.syncs, 1)));
            }
        }
    }
}

/// The memory address where the rest of `seg` goes (reads) or comes from (writes).
pub(crate) fn seg_addr(body: &Body, seg: &Seg) -> usize {
    match body {
        Body::Read { base, .. } => *base as usize + seg.start + seg.done,
        Body::Write { data, .. } => match &seg.bounce {
            Some(b) => b.as_ptr() as usize + seg.done,
            None => data.as_ptr() as usize + seg.start + seg.done,
        },
        Body::Fsync { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::write_align;

    #[test]
    fn write_alignment_is_whole_pages() {
        let page = rustix::param::page_size() as u64;
        assert_eq!(write_align(0), 0);
        assert_eq!(write_align(512), page);
        assert_eq!(write_align(page), page);
        assert_eq!(write_align(4 * page), 4 * page);
        assert_eq!(write_align(3 * 512) % 512, 0);
        assert_eq!(write_align(3 * 512) % page, 0);
    }
}
