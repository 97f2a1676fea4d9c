//! The IO engine against plain pread/pwrite from one thread, on one file.
//!
//! `cargo bench -p nfsl-io-engine --bench engine_vs_pread`
//! (env: NFSL_BENCH_MIB file size, default 1024; NFSL_BENCH_SECS per random
//! run, default 1; NFSL_BENCH_REPEATS, default 3; NFSL_BENCH_DIR, default
//! CARGO_TARGET_DIR or /var/tmp: must support O_DIRECT; NFSL_BENCH_ONLY, a
//! substring of the workload names to run; NFSL_BENCH_WORKERS, engine
//! workers, default 2).
//!
//! Workloads: 4 KiB random reads (engine at queue depth 1 and 8) and 1 MiB
//! sequential reads and writes over the whole file, each direct (O_DIRECT,
//! aligned buffers) and buffered (page cache; the file is hot after being
//! written). Baseline and engine alternate, one warm-up each, and the median
//! of the repeats is reported with the ratio engine / baseline.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use nfsl_io_engine::{DirectPolicy, EngineConfig, IoEngine, IoFile, Pending, Read, Write};

const KIB4: usize = 4096;
const MIB: usize = 1 << 20;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// 4096-aligned memory shared as `Bytes` (what a direct write needs).
struct Aligned(Vec<u8>, usize, usize);

impl Aligned {
    fn new(len: usize, fill: u8) -> Aligned {
        let v = vec![fill; len + KIB4];
        let off = (KIB4 - v.as_ptr() as usize % KIB4) % KIB4;
        Aligned(v, off, len)
    }
    fn slice_mut(&mut self) -> &mut [u8] {
        &mut self.0[self.1..self.1 + self.2]
    }
}

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        &self.0[self.1..self.1 + self.2]
    }
}

struct XorShift(u64);
impl XorShift {
    fn next_block(&mut self, blocks: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % blocks
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Direct,
    Buffered,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Buffered => "buffered",
        }
    }
    fn policy(self) -> DirectPolicy {
        match self {
            Mode::Direct => DirectPolicy::Always,
            Mode::Buffered => DirectPolicy::Never,
        }
    }
}

struct Bench {
    path: PathBuf,
    size: u64,
    secs: f64,
    engine: IoEngine,
    rt: tokio::runtime::Runtime,
    file: Arc<IoFile>,
}

fn open_std(path: &Path, mode: Mode, write: bool) -> File {
    let flags = if mode == Mode::Direct {
        libc::O_DIRECT
    } else {
        0
    };
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(flags)
        .open(path)
        .unwrap()
}

impl Bench {
    /// pread of random 4 KiB blocks for `secs`: IOPS.
    fn pread_random(&self, mode: Mode) -> f64 {
        let f = open_std(&self.path, mode, false);
        let mut buf = Aligned::new(KIB4, 0);
        let mut rng = XorShift(0x1234_5678);
        let blocks = self.size / KIB4 as u64;
        let (start, mut ops) = (Instant::now(), 0u64);
        while start.elapsed().as_secs_f64() < self.secs {
            for _ in 0..64 {
                let off = rng.next_block(blocks) * KIB4 as u64;
                assert_eq!(f.read_at(buf.slice_mut(), off).unwrap(), KIB4);
            }
            ops += 64;
        }
        ops as f64 / start.elapsed().as_secs_f64()
    }

    /// Engine reads of random 4 KiB blocks with `qd` in flight, for `secs`: IOPS.
    fn engine_random(&self, mode: Mode, qd: usize) -> f64 {
        let blocks = self.size / KIB4 as u64;
        self.rt.block_on(async {
            let mut rng = XorShift(0x1234_5678);
            let mut inflight: VecDeque<Pending<BytesMut>> = VecDeque::new();
            // Buffers are recycled, as pread reuses its buffer.
            let mut spare: Vec<BytesMut> = Vec::new();
            let (start, mut ops) = (Instant::now(), 0u64);
            while start.elapsed().as_secs_f64() < self.secs {
                for _ in 0..64 {
                    while inflight.len() < qd {
                        let off = rng.next_block(blocks) * KIB4 as u64;
                        let req = Read::new(self.file.clone(), off, KIB4)
                            .direct(mode.policy())
                            .buffer(spare.pop().unwrap_or_default());
                        inflight.push_back(self.engine.submit(req).await);
                    }
                    let got = inflight.pop_front().unwrap().await.unwrap();
                    assert_eq!(got.len(), KIB4);
                    spare.push(got);
                    ops += 1;
                }
            }
            for p in inflight {
                p.await.unwrap();
            }
            ops as f64 / start.elapsed().as_secs_f64()
        })
    }

    /// pread or pwrite of the whole file in 1 MiB pieces: MB/s.
    fn plain_seq(&self, mode: Mode, write: bool) -> f64 {
        let f = open_std(&self.path, mode, write);
        let mut buf = Aligned::new(MIB, 0x5a);
        let start = Instant::now();
        for off in (0..self.size).step_by(MIB) {
            let n = if write {
                f.write_at(buf.as_ref(), off).unwrap()
            } else {
                f.read_at(buf.slice_mut(), off).unwrap()
            };
            assert_eq!(n, MIB);
        }
        let mbs = self.size as f64 / 1e6 / start.elapsed().as_secs_f64();
        if write {
            f.sync_all().unwrap();
        }
        mbs
    }

    /// The engine over the whole file in 1 MiB pieces, `qd` in flight: MB/s.
    fn engine_seq(&self, mode: Mode, write: bool, qd: usize) -> f64 {
        let data = Bytes::from_owner(Aligned::new(MIB, 0xa5));
        let start = Instant::now();
        self.rt.block_on(async {
            let mut reads: VecDeque<Pending<BytesMut>> = VecDeque::new();
            let mut writes: VecDeque<Pending<usize>> = VecDeque::new();
            let mut spare: Vec<BytesMut> = Vec::new();
            for off in (0..self.size).step_by(MIB) {
                if write {
                    if writes.len() == qd {
                        assert_eq!(writes.pop_front().unwrap().await.unwrap(), MIB);
                    }
                    let req =
                        Write::new(self.file.clone(), off, data.clone()).direct(mode.policy());
                    writes.push_back(self.engine.submit(req).await);
                } else {
                    if reads.len() == qd {
                        let got = reads.pop_front().unwrap().await.unwrap();
                        assert_eq!(got.len(), MIB);
                        spare.push(got);
                    }
                    let req = Read::new(self.file.clone(), off, MIB)
                        .direct(mode.policy())
                        .buffer(spare.pop().unwrap_or_default());
                    reads.push_back(self.engine.submit(req).await);
                }
            }
            for p in writes {
                assert_eq!(p.await.unwrap(), MIB);
            }
            for p in reads {
                assert_eq!(p.await.unwrap().len(), MIB);
            }
        });
        let mbs = self.size as f64 / 1e6 / start.elapsed().as_secs_f64();
        if write {
            self.rt
                .block_on(self.engine.fsync(&self.file, false))
                .unwrap();
        }
        mbs
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn direct_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NFSL_BENCH_DIR") {
        return d.into();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => t.into(),
        None => "/var/tmp".into(),
    }
}

fn main() {
    let mib: u64 = env_or("NFSL_BENCH_MIB", 1024);
    let secs: f64 = env_or("NFSL_BENCH_SECS", 1.0);
    let repeats: usize = env_or("NFSL_BENCH_REPEATS", 3).max(1);
    let dir = tempfile::Builder::new()
        .prefix("nfsl-engine-bench-")
        .tempdir_in(direct_dir())
        .unwrap();
    let path = dir.path().join("data");
    let size = mib * MIB as u64;
    {
        let f = File::create(&path).unwrap();
        let chunk = vec![0x42u8; MIB];
        for off in (0..size).step_by(MIB) {
            f.write_at(&chunk, off).unwrap();
        }
        f.sync_all().unwrap();
    }
    let file = Arc::new(IoFile::open(&path, true).unwrap());
    if !file.direct_capable() {
        eprintln!(
            "{} has no O_DIRECT (set NFSL_BENCH_DIR): direct rows are buffered",
            dir.path().display()
        );
    }
    let engine = IoEngine::start(EngineConfig {
        workers: env_or("NFSL_BENCH_WORKERS", 2),
        ..EngineConfig::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = Bench {
        path,
        size,
        secs,
        engine,
        rt,
        file,
    };
    println!(
        "IO engine vs plain pread/pwrite from one thread: {mib} MiB file in {}, {} workers, {repeats} repeats (median), {}",
        dir.path().display(),
        b.engine.config().workers,
        b.engine.io_flusher()
    );
    println!(
        "{:<34} {:>12} {:>12} {:>7}",
        "workload", "pread/pwrite", "engine", "ratio"
    );
    type Run<'a> = Box<dyn Fn(&Bench) -> f64 + 'a>;
    let mut rows: Vec<(String, &str, Run, Run)> = Vec::new();
    for mode in [Mode::Direct, Mode::Buffered] {
        for qd in [1, 8] {
            rows.push((
                format!("4k random read QD{qd} {}", mode.name()),
                "IOPS",
                Box::new(move |b: &Bench| b.pread_random(mode)),
                Box::new(move |b: &Bench| b.engine_random(mode, qd)),
            ));
        }
        for (write, what) in [(false, "read"), (true, "write")] {
            for qd in [1, 4] {
                rows.push((
                    format!("1M sequential {what} QD{qd} {}", mode.name()),
                    "MB/s",
                    Box::new(move |b: &Bench| b.plain_seq(mode, write)),
                    Box::new(move |b: &Bench| b.engine_seq(mode, write, qd)),
                ));
            }
        }
    }
    let only = std::env::var("NFSL_BENCH_ONLY").unwrap_or_default();
    for (name, unit, base, eng) in rows.iter().filter(|r| r.0.contains(&only)) {
        base(&b);
        eng(&b);
        let (mut bs, mut es) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            bs.push(base(&b));
            es.push(eng(&b));
        }
        let (bm, em) = (median(bs), median(es));
        println!(
            "{:<34} {:>12.0} {:>12.0} {:>6.2}x  {unit}",
            name,
            bm,
            em,
            em / bm
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = b.engine.stats();
    println!(
        "engine: {} reads, {} writes, direct {} MiB, buffered {} MiB, splits {}, errors {}",
        s.reads,
        s.writes,
        s.direct_bytes >> 20,
        s.buffered_bytes >> 20,
        s.misaligned_splits,
        s.errors
    );
}
