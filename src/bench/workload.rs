//! The workloads `nfsl bench` runs and the runner that drives one of them
//! through any [`Target`] for a given time: `jobs` concurrent streams, each
//! a task of its own on the runtime (sharing one mount, as threads of one
//! application would), over its own region of the file
//! with `qd` requests in flight, timing every request and the process's
//! CPU time.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Barrier;

/// Sequential workloads move 1 MiB per request.
pub const SEQ_BLOCK: usize = 1 << 20;
/// Random workloads move 4 KiB per request.
pub const RAND_BLOCK: usize = 4 << 10;

/// Reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// One workload: what, how big, in which order, how many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub op: Op,
    /// Sequential (else uniformly random, block-aligned) offsets.
    pub sequential: bool,
    /// Bytes per request.
    pub block: usize,
    /// Requests in flight per job.
    pub qd: usize,
    /// Concurrent streams, each over its own region of the file.
    pub jobs: usize,
}

impl Workload {
    /// The default set: sequential 1 MiB read and write, 4 KiB random read
    /// and write at queue depth 1 and 8.
    pub const DEFAULT: &'static str =
        "seq-read,seq-write,rand-read-qd1,rand-read-qd8,rand-write-qd1,rand-write-qd8";

    /// Parses `seq-read`, `seq-write`, `rand-read`, `rand-write`, each
    /// optionally followed by `-qdN` (1..=256; default 1).
    pub fn parse(s: &str) -> Result<Workload, String> {
        let t = s.trim();
        let (kind, qd) = match t.rfind("-qd") {
            Some(i) => {
                let n: usize = t[i + 3..]
                    .parse()
                    .map_err(|_| format!("{s:?}: the queue depth after -qd must be a number"))?;
                (&t[..i], n)
            }
            None => (t, 1),
        };
        if !(1..=256).contains(&qd) {
            return Err(format!("{s:?}: the queue depth must be 1..=256"));
        }
        let (op, sequential) = match kind {
            "seq-read" => (Op::Read, true),
            "seq-write" => (Op::Write, true),
            "rand-read" => (Op::Read, false),
            "rand-write" => (Op::Write, false),
            _ => {
                return Err(format!(
                    "{s:?} is not a workload (seq-read, seq-write, rand-read, rand-write, \
                     optionally with -qdN)"
                ))
            }
        };
        let block = if sequential { SEQ_BLOCK } else { RAND_BLOCK };
        Ok(Workload {
            op,
            sequential,
            block,
            qd,
            jobs: 1,
        })
    }

    /// Parses a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Workload>, String> {
        let list = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Workload::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err("no workloads given".into());
        }
        Ok(list)
    }

    /// The same workload run by `jobs` streams.
    pub fn with_jobs(self, jobs: usize) -> Workload {
        Workload { jobs, ..self }
    }

    /// The name it is parsed from, e.g. `rand-read-qd8`, with `-jN` when
    /// run by N > 1 jobs (`--jobs`).
    pub fn name(&self) -> String {
        let base = self.base_name();
        if self.jobs > 1 {
            format!("{base}-j{}", self.jobs)
        } else {
            base
        }
    }

    fn base_name(&self) -> String {
        let kind = match (self.sequential, self.op) {
            (true, Op::Read) => "seq-read",
            (true, Op::Write) => "seq-write",
            (false, Op::Read) => "rand-read",
            (false, Op::Write) => "rand-write",
        };
        if self.sequential && self.qd == 1 {
            kind.to_string()
        } else {
            format!("{kind}-qd{}", self.qd)
        }
    }

    /// Whether throughput is best told in IOPS (small random IO) rather
    /// than MB/s.
    pub fn in_iops(&self) -> bool {
        !self.sequential
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bs = if self.block >= 1 << 20 {
            format!("{}M", self.block >> 20)
        } else {
            format!("{}K", self.block >> 10)
        };
        write!(f, "{} bs={bs} qd={}", self.name(), self.qd)?;
        if self.jobs > 1 {
            write!(f, " jobs={}", self.jobs)?;
        }
        Ok(())
    }
}

/// Something the workloads run against: the local file (pread/pwrite or
/// io_uring) or an NFS file through the client (LOCALIO or RPC). `Buf` is
/// whatever buffer the target moves data in, so no target pays a copy the
/// others do not.
pub trait Target {
    /// A request's buffer.
    type Buf: Send;
    /// A buffer of `len` bytes for requests of that size, filled with
    /// `fill` (what writes write).
    fn buffer(&self, len: usize, fill: u8) -> Self::Buf;
    /// Reads `len` bytes at `offset` into `buf`; gives the buffer back.
    fn read(
        &self,
        buf: Self::Buf,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = anyhow::Result<Self::Buf>> + Send;
    /// Writes `len` bytes of `buf` at `offset`; gives the buffer back.
    fn write(
        &self,
        buf: Self::Buf,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = anyhow::Result<Self::Buf>> + Send;
    /// Makes every write so far durable (fsync / COMMIT).
    fn sync(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What one timed run of a workload measured.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Requests completed.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Wall time, including the final sync of a write workload.
    pub elapsed: Duration,
    /// Each request's latency (submission to completion), sorted.
    pub latencies: Latencies,
    /// Requests each job completed (one entry per job).
    pub job_ops: Vec<u64>,
    /// CPU time of the whole benchmark process (every thread: the jobs,
    /// the runtime's workers, IO engine workers) during the run.
    pub cpu: Duration,
    /// Distinct threads the jobs ended on (a job may move between the
    /// runtime's workers; this shows whether they shared one).
    pub threads: usize,
}

impl Sample {
    /// Decimal megabytes per second.
    pub fn mb_per_sec(&self) -> f64 {
        crate::format::mb_per_sec(self.bytes, self.elapsed)
    }

    /// Requests per second.
    pub fn iops(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The slowest and the fastest job's requests per second.
    pub fn job_iops_range(&self) -> (f64, f64) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let per = self.job_ops.iter().map(|&n| n as f64 / secs);
        let lo = per.clone().fold(f64::INFINITY, f64::min);
        let hi = per.fold(0.0, f64::max);
        (if lo.is_finite() { lo } else { 0.0 }, hi)
    }

    /// Cores the benchmark process kept busy: CPU time over wall time.
    pub fn cores(&self) -> f64 {
        self.cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Request latencies in nanoseconds, sorted: exact percentiles without a
/// histogram's buckets (a few seconds at 100k IOPS is a few MB).
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    /// Sorts the recorded values.
    pub fn from_unsorted(mut v: Vec<u32>) -> Latencies {
        v.sort_unstable();
        Latencies(v)
    }

    /// Merges several sets (e.g. all repeats of a workload).
    pub fn merged<'a>(all: impl IntoIterator<Item = &'a Latencies>) -> Latencies {
        Latencies::from_unsorted(all.into_iter().flat_map(|l| l.0.iter().copied()).collect())
    }

    /// The `p`-th percentile (0..=100), nearest rank; zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        Duration::from_nanos(u64::from(self.0[i]))
    }
}

/// Small, fast, seedable offsets for random workloads (splitmix64), in
/// one job's region of the file.
struct Offsets {
    base: u64,
    state: u64,
    next_seq: u64,
    slots: u64,
    block: u64,
    sequential: bool,
}

impl Offsets {
    fn new(w: &Workload, base: u64, region: u64, seed: u64) -> Offsets {
        let block = w.block as u64;
        Offsets {
            base,
            state: seed,
            next_seq: 0,
            slots: (region / block).max(1),
            block,
            sequential: w.sequential,
        }
    }

    fn next(&mut self) -> u64 {
        if self.sequential {
            let at = self.next_seq;
            self.next_seq = (self.next_seq + 1) % self.slots;
            return self.base + at * self.block;
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        self.base + (z % self.slots) * self.block
    }
}

/// Runs `w` against `target` over the first `file_size` bytes of its file
/// for `duration` (at least one request per slot): `w.jobs` streams at
/// once, each a task of its own on the current runtime, job `j` over the
/// `j`-th of `w.jobs` equal block-aligned regions, each keeping `w.qd`
/// requests in flight. A write workload ends with a sync, counted in the
/// time.
///
/// On a current-thread runtime (as every `nfsl` command) the jobs share
/// its thread; on a multi-threaded one (`nfsl bench --threads N`) they
/// spread over its workers: a request the target answers at once (a
/// `pread`, a cached LOCALIO read) is done on the job's worker, and an RPC
/// call and its reply are handed between tasks. Every path, the ceiling
/// too, runs its jobs this way.
pub async fn run<T: Target + Send + Sync + 'static>(
    target: &Arc<T>,
    w: &Workload,
    file_size: u64,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Sample> {
    let jobs = w.jobs.max(1) as u64;
    let block = w.block as u64;
    let region = file_size / jobs / block * block;
    if region < block {
        anyhow::bail!(
            "the file ({file_size} bytes) is smaller than one {} request per job",
            w.block
        );
    }
    // Every job starts its clock when all are running, so none runs
    // alone while the others wait to be scheduled.
    let ready = Arc::new(Barrier::new(jobs as usize));
    let cpu_before = process_cpu();
    let done: Vec<_> = (0..jobs)
        .map(|j| {
            let (target, ready, w) = (target.clone(), ready.clone(), *w);
            let offsets = Offsets::new(&w, j * region, region, seed.wrapping_add(j * 0x51ed));
            tokio::spawn(async move {
                ready.wait().await;
                let start = Instant::now();
                let fill = (seed as u8) | 1;
                let latencies = stream(&*target, &w, offsets, start + duration, fill).await?;
                anyhow::Ok(JobRun {
                    start,
                    end: Instant::now(),
                    latencies,
                    thread: rustix::thread::gettid().as_raw_nonzero().get(),
                })
            })
        })
        .collect();
    let mut runs = Vec::with_capacity(done.len());
    for job in done {
        runs.push(
            job.await
                .map_err(|e| anyhow::anyhow!("a job failed: {e}"))??,
        );
    }
    let start = runs
        .iter()
        .map(|r| r.start)
        .min()
        .expect("at least one job");
    let mut end = runs.iter().map(|r| r.end).max().expect("at least one job");
    if w.op == Op::Write {
        target.sync().await?;
        end = Instant::now();
    }
    let elapsed = end - start;
    let cpu = process_cpu().saturating_sub(cpu_before);
    let mut threads: Vec<_> = runs.iter().map(|r| r.thread).collect();
    threads.sort_unstable();
    threads.dedup();
    let mut latencies = Vec::new();
    let mut job_ops = Vec::with_capacity(runs.len());
    for r in runs {
        job_ops.push(r.latencies.len() as u64);
        latencies.extend(r.latencies);
    }
    let ops = latencies.len() as u64;
    Ok(Sample {
        ops,
        bytes: ops * block,
        elapsed,
        latencies: Latencies::from_unsorted(latencies),
        job_ops,
        cpu,
        threads: threads.len(),
    })
}

/// What one job did.
struct JobRun {
    start: Instant,
    end: Instant,
    latencies: Vec<u32>,
    thread: i32,
}

/// CPU time used so far by every thread of this process.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// One job: `w.qd` requests in flight at `offsets` until `deadline`;
/// returns each request's latency in nanoseconds.
async fn stream<T: Target>(
    target: &T,
    w: &Workload,
    mut offsets: Offsets,
    deadline: Instant,
    fill: u8,
) -> anyhow::Result<Vec<u32>> {
    let mut latencies = Vec::new();
    let issue = |buf: T::Buf, offset: u64| async move {
        let t = Instant::now();
        let buf = match w.op {
            Op::Read => target.read(buf, offset, w.block).await?,
            Op::Write => target.write(buf, offset, w.block).await?,
        };
        anyhow::Ok((buf, t.elapsed()))
    };
    let mut in_flight = FuturesUnordered::new();
    for _ in 0..w.qd {
        in_flight.push(issue(target.buffer(w.block, fill), offsets.next()));
    }
    while let Some(done) = in_flight.next().await {
        let (buf, took) = done?;
        latencies.push(u32::try_from(took.as_nanos()).unwrap_or(u32::MAX));
        if Instant::now() < deadline {
            in_flight.push(issue(buf, offsets.next()));
        }
        // A request that never waits (a `pread`, a cached LOCALIO read)
        // never returns to the runtime: spend tokio's cooperative budget
        // so the job yields now and then (every 128 requests), as a
        // socket's would, and the other jobs on this thread (or a worker
        // free to steal it) run at the same time instead of after it.
        tokio::task::coop::consume_budget().await;
    }
    Ok(latencies)
}

/// Reads the first `file_size` bytes of `target`'s file once, in order,
/// untimed: every path starts its runs with the file as warm as the
/// others' (a file written over RPC is not in the page cache: the server
/// writes with `RWF_DONTCACHE`).
pub async fn warm<T: Target>(target: &T, file_size: u64) -> anyhow::Result<()> {
    let block = SEQ_BLOCK.min(file_size as usize).max(1);
    let mut buf = target.buffer(block, 0);
    let mut offset = 0u64;
    while offset + block as u64 <= file_size {
        buf = target.read(buf, offset, block).await?;
        offset += block as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_parse_and_print_back() {
        let all = Workload::parse_list(Workload::DEFAULT).unwrap();
        assert_eq!(all.len(), 6);
        let names: Vec<String> = all.iter().map(Workload::name).collect();
        assert_eq!(names.join(","), Workload::DEFAULT);
        let w = Workload::parse("rand-read-qd8").unwrap();
        assert_eq!(
            (w.op, w.sequential, w.block, w.qd),
            (Op::Read, false, 4096, 8)
        );
        assert_eq!(Workload::parse("seq-write-qd4").unwrap().qd, 4);
        assert!(Workload::parse("rand-read-qd0").is_err());
        assert!(Workload::parse("rand-read-qdx").is_err());
        assert!(Workload::parse("scan").is_err());
        assert!(Workload::parse_list(",").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latencies::from_unsorted((1..=100).rev().collect());
        assert_eq!(l.percentile(50.0), Duration::from_nanos(50));
        assert_eq!(l.percentile(99.0), Duration::from_nanos(99));
        assert_eq!(l.percentile(100.0), Duration::from_nanos(100));
        assert_eq!(l.percentile(0.0), Duration::from_nanos(1));
        assert_eq!(Latencies::default().percentile(50.0), Duration::ZERO);
    }

    #[test]
    fn offsets_stay_in_the_file_and_aligned() {
        let w = Workload::parse("rand-read").unwrap();
        let mut o = Offsets::new(&w, 0, 1 << 20, 7);
        for _ in 0..1000 {
            let at = o.next();
            assert!(at.is_multiple_of(4096) && at + 4096 <= 1 << 20);
        }
        let w = Workload::parse("seq-read").unwrap();
        let mut o = Offsets::new(&w, 0, 3 << 20, 7);
        let seq: Vec<u64> = (0..4).map(|_| o.next() >> 20).collect();
        assert_eq!(seq, [0, 1, 2, 0]);
        // A job's offsets stay in its own region.
        let w = Workload::parse("rand-read").unwrap().with_jobs(4);
        let mut o = Offsets::new(&w, 2 << 20, 1 << 20, 9);
        for _ in 0..1000 {
            let at = o.next();
            assert!(at >= 2 << 20 && at + 4096 <= 3 << 20);
        }
        assert_eq!(w.name(), "rand-read-qd1-j4");
    }
}
