//! What a 4 KiB buffered overwrite costs by who does it: `pwrite` in the
//! caller, `pwritev2(RWF_NOWAIT)` in the caller (what `IoEngine::write`
//! tries first; a refused one is written with `pwrite`, in the caller
//! here: a refusal is what updates mtime, without which every later
//! `RWF_NOWAIT` write to the file is refused too), a worker thread the caller hands it to and waits for (one
//! hop there and one back, as the engine's workers did every LOCALIO
//! write), that hop alone with no write, and `IoEngine::write` itself. The
//! figures behind the QD1 write analysis in `docs/BENCHMARKS.md`.
//!
//! ```sh
//! cargo run --release -p nfsl-io-engine --example write_hop_cost [DIR]
//! ```
//!
//! Uses a 64 MiB file in DIR (default: the system temp dir), written and
//! synced first, so every timed write rewrites a cached clean-or-dirty
//! page at a random 4 KiB offset, as the `nfsl bench` write rows do. Each
//! way runs for 1 s, the ways alternate, 3 rounds; medians are printed
//! with their ratio to `pwrite` in the caller.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nfsl_io_engine::{DirectPolicy, EngineConfig, IoEngine, IoFile};
use rustix::io::{pwritev2, Errno, ReadWriteFlags};

const BLOCK: usize = 4096;
const FILE_SIZE: u64 = 64 << 20;
const RUN: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;

/// The ways a write is done.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Pwrite,
    Nowait,
    HopEmpty,
    HopPwrite,
    Harness,
    Engine,
}

impl Way {
    const ALL: [Way; 6] = [
        Way::Pwrite,
        Way::Nowait,
        Way::HopEmpty,
        Way::HopPwrite,
        Way::Harness,
        Way::Engine,
    ];
    fn name(self) -> &'static str {
        match self {
            Way::Pwrite => "pwrite in the caller",
            Way::Nowait => "RWF_NOWAIT in the caller (pwrite on EAGAIN)",
            Way::HopEmpty => "hop to a worker and back, no write",
            Way::HopPwrite => "hop to a worker that pwrites, and back",
            Way::Harness => "the engine row's harness alone, no write",
            Way::Engine => "IoEngine::write (QD1)",
        }
    }
}

/// Random 4 KiB-aligned offsets in the file (xorshift).
struct Offsets(u64);

impl Offsets {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % (FILE_SIZE / BLOCK as u64) * BLOCK as u64
    }
}

/// A thread that, per request, does `pwrite` (or nothing) and answers:
/// the caller sleeps until then, as an engine caller does.
struct Worker {
    jobs: mpsc::SyncSender<u64>,
    done: mpsc::Receiver<()>,
}

impl Worker {
    fn start(file: Arc<File>, write: bool) -> Worker {
        let (jobs, rx) = mpsc::sync_channel::<u64>(1);
        let (tx, done) = mpsc::sync_channel::<()>(1);
        std::thread::spawn(move || {
            let data = vec![0x5a; BLOCK];
            for at in rx {
                if write {
                    file.write_all_at(&data, at).expect("pwrite");
                }
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        Worker { jobs, done }
    }
    fn call(&self, at: u64) {
        self.jobs.send(at).expect("worker alive");
        self.done.recv().expect("worker alive");
    }
}

/// Writes per second one way for `RUN`; for `Nowait`, also the share
/// refused (`EAGAIN`), or `None` when the file system refuses outright.
fn run(way: Way, file: &Arc<File>, engine: &Engine) -> (f64, Option<f64>) {
    let data = vec![0xa5u8; BLOCK];
    let mut offsets = Offsets(0x9e37_79b9_7f4a_7c15);
    let worker = match way {
        Way::HopEmpty => Some(Worker::start(Arc::clone(file), false)),
        Way::HopPwrite => Some(Worker::start(Arc::clone(file), true)),
        _ => None,
    };
    let (mut done, mut refused) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < RUN {
        // 64 writes between clock reads.
        for _ in 0..64 {
            let at = offsets.next();
            match way {
                Way::Pwrite => file.write_all_at(&data, at).expect("pwrite"),
                Way::Nowait => {
                    let iov = [std::io::IoSlice::new(&data)];
                    match pwritev2(file.as_fd(), &iov, at, ReadWriteFlags::NOWAIT) {
                        Ok(n) if n == BLOCK => {}
                        // Would block (e.g. mtime must be updated): here,
                        // unlike in the engine, the caller writes it.
                        Ok(_) | Err(Errno::AGAIN) => {
                            refused += 1;
                            file.write_all_at(&data, at).expect("pwrite");
                        }
                        Err(Errno::OPNOTSUPP | Errno::INVAL) => return (0.0, None),
                        Err(e) => panic!("pwritev2: {e}"),
                    }
                }
                Way::HopEmpty | Way::HopPwrite => worker.as_ref().expect("worker").call(at),
                Way::Harness => engine.harness(&data),
                Way::Engine => engine.write(at, &data),
            }
            done += 1;
        }
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    (rate, Some(refused as f64 / done as f64))
}

/// An engine with its own file and a current-thread runtime (the caller).
struct Engine {
    engine: IoEngine,
    file: Arc<IoFile>,
    rt: tokio::runtime::Runtime,
}

impl Engine {
    /// What the engine row spends around `IoEngine::write`: the copy
    /// into `Bytes` and a `block_on` of a future that is ready at once.
    fn harness(&self, data: &[u8]) {
        let data = bytes::Bytes::copy_from_slice(data);
        let n = self.rt.block_on(async { std::hint::black_box(data).len() });
        std::hint::black_box(n);
    }

    fn write(&self, at: u64, data: &[u8]) {
        let data = bytes::Bytes::copy_from_slice(data);
        self.rt
            .block_on(self.engine.write(&self.file, at, data, false))
            .expect("engine write");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join("nfsl-write-hop-cost");
    let file = Arc::new(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("create the test file"),
    );
    let chunk = vec![1u8; 1 << 20];
    for at in (0..FILE_SIZE).step_by(chunk.len()) {
        file.write_all_at(&chunk, at).expect("fill");
    }
    file.sync_all().expect("fsync");
    let engine = Engine {
        engine: IoEngine::start(EngineConfig {
            direct: DirectPolicy::Never,
            ..EngineConfig::default()
        })
        .expect("engine"),
        file: Arc::new(IoFile::open(&path, true).expect("open")),
        rt: tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime"),
    };
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Way::ALL.len()];
    let mut refusals: Vec<Option<f64>> = vec![Some(0.0); Way::ALL.len()];
    for _ in 0..ROUNDS {
        for (i, way) in Way::ALL.into_iter().enumerate() {
            let (rate, refused) = run(way, &file, &engine);
            rates[i].push(rate);
            refusals[i] = refused;
        }
    }
    let fs = rustix::fs::fstatfs(file.as_fd())
        .map(|s| s.f_type)
        .unwrap_or(0);
    println!(
        "4 KiB buffered random overwrites of a warm 64 MiB file in {} (f_type {fs:#x}), median of {ROUNDS} x 1 s:",
        dir.display()
    );
    let base = median(rates[0].clone());
    for (i, way) in Way::ALL.into_iter().enumerate() {
        let rate = median(rates[i].clone());
        let note = match (way, refusals[i]) {
            (Way::Nowait, None) => "  refused by the file system (EOPNOTSUPP)".to_string(),
            (Way::Nowait, Some(r)) => format!("  ({:.3}% EAGAIN)", r * 100.0),
            _ => String::new(),
        };
        if way == Way::Nowait && refusals[i].is_none() {
            println!("  {:<40} {note}", way.name());
            continue;
        }
        println!(
            "  {:<40} {:>9.0} /s {:>6.2} us  {:>5.2}x pwrite{note}",
            way.name(),
            rate,
            1e6 / rate,
            rate / base
        );
    }
    let s = engine.engine.stats();
    println!(
        "  engine: {} in the caller, {} tried there and sent to a worker, {} by workers",
        s.nowait_writes, s.nowait_write_refusals, s.writes
    );
    drop(file);
    let _ = std::fs::remove_file(&path);
}
