//! What a buffered 1 MiB `pwrite`/`pread` costs depending on the user
//! buffer: its alignment, how many buffers take turns, and whether another
//! thread does the IO (waking the caller after each one, after several,
//! or never: the caller spins). The figures behind [`nfsl_io_engine::buffer`] and
//! the LOCALIO write analysis in `docs/BENCHMARKS.md`.
//!
//! ```sh
//! cargo run --release -p nfsl-io-engine --example copy_cost [DIR]
//! ```
//!
//! Uses a 1 GiB file in DIR (default: the system temp dir), written and
//! synced first so that every timed write rewrites cached pages, as the
//! `nfsl bench` write rows do.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;
const FILE_SIZE: u64 = 1 << 30;
const RUN: Duration = Duration::from_secs(2);

/// A buffer whose data starts `shift` bytes past a page boundary.
struct Buf {
    raw: Vec<u8>,
    start: usize,
}

impl Buf {
    fn new(fill: u8, shift: usize) -> Buf {
        let raw = vec![fill; MIB + 8192];
        let start = raw.as_ptr().align_offset(4096) + shift;
        Buf { raw, start }
    }
    fn data(&self) -> &[u8] {
        &self.raw[self.start..self.start + MIB]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + MIB]
    }
}

/// Who does the IO: the caller itself, or a second thread the caller
/// hands its buffers to, which hands them back in batches of `batch`
/// (one wake-up of the caller per batch, or none: `spin`, the caller
/// polls instead of sleeping).
#[derive(Clone, Copy)]
enum By {
    Caller,
    Worker { batch: usize, spin: bool },
}

/// MB/s of 1 MiB writes (or reads) for `RUN`, from `count` buffers in turn.
fn run(file: &File, write: bool, count: usize, shift: usize, by: By) -> f64 {
    let mut bufs: Vec<Buf> = (0..count).map(|i| Buf::new(i as u8 + 1, shift)).collect();
    let slots = FILE_SIZE / MIB as u64;
    let mut next = 0u64;
    let mut offset = move || {
        next = (next + 1) % slots;
        next * MIB as u64
    };
    let start = Instant::now();
    let mut done = 0u64;
    match by {
        By::Caller => {
            while start.elapsed() < RUN {
                let buf = &mut bufs[done as usize % count];
                let at = offset();
                if write {
                    file.write_all_at(buf.data(), at).expect("pwrite");
                } else {
                    file.read_exact_at(buf.data_mut(), at).expect("pread");
                }
                done += 1;
            }
        }
        By::Worker { batch, spin } => {
            let (to_worker, jobs) = mpsc::sync_channel::<(Buf, u64)>(count);
            let (to_caller, back) = mpsc::channel::<Vec<Buf>>();
            let worker_file = file.try_clone().expect("dup");
            let worker = std::thread::spawn(move || {
                let mut finished = Vec::new();
                for (mut buf, at) in jobs {
                    if write {
                        worker_file.write_all_at(buf.data(), at).expect("pwrite");
                    } else {
                        worker_file
                            .read_exact_at(buf.data_mut(), at)
                            .expect("pread");
                    }
                    finished.push(buf);
                    if finished.len() >= batch {
                        let _ = to_caller.send(std::mem::take(&mut finished));
                    }
                }
            });
            for buf in bufs {
                to_worker.send((buf, offset())).expect("worker gone");
            }
            while start.elapsed() < RUN {
                let returned = if spin {
                    loop {
                        match back.try_recv() {
                            Ok(b) => break b,
                            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                            Err(e) => panic!("worker gone: {e}"),
                        }
                    }
                } else {
                    back.recv().expect("worker gone")
                };
                for buf in returned {
                    done += 1;
                    to_worker.send((buf, offset())).expect("worker gone");
                }
            }
            drop(to_worker);
            worker.join().expect("worker panicked");
        }
    }
    done as f64 * MIB as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("copy-cost-{}.dat", std::process::id()));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("creating the test file");
    let chunk = vec![0x5a; MIB];
    for i in 0..FILE_SIZE / MIB as u64 {
        file.write_all_at(&chunk, i * MIB as u64).expect("filling");
    }
    file.sync_all().expect("fsync");
    println!(
        "1 MiB buffered IO on a cached 1 GiB file, {} s per row",
        RUN.as_secs()
    );
    println!(
        "{:<6} {:>7} {:>5}  {:<24} {:>6}",
        "op", "buffers", "shift", "who does the IO", "MB/s"
    );
    let caller = By::Caller;
    let worker = |batch| By::Worker { batch, spin: false };
    let spinning = By::Worker {
        batch: 1,
        spin: true,
    };
    let rows: &[(bool, usize, usize, By)] = &[
        (true, 1, 0, caller),
        (true, 1, 16, caller),
        (true, 1, 32, caller),
        (true, 1, 64, caller),
        (true, 2, 0, caller),
        (true, 6, 0, caller),
        (true, 12, 0, caller),
        (true, 2, 0, worker(1)),
        (true, 3, 0, worker(1)),
        (true, 6, 0, worker(1)),
        (true, 12, 0, worker(1)),
        (true, 6, 0, worker(3)),
        (true, 12, 0, worker(6)),
        (true, 6, 0, spinning),
        (true, 12, 0, spinning),
        (false, 1, 0, caller),
        (false, 1, 16, caller),
        (false, 1, 64, caller),
    ];
    for &(write, count, shift, by) in rows {
        let mbs = run(&file, write, count, shift, by);
        let op = if write { "pwrite" } else { "pread" };
        let who = match by {
            By::Caller => "caller".to_string(),
            By::Worker { spin: true, .. } => "worker, caller spins".to_string(),
            By::Worker { batch: 1, .. } => "worker, wake each".to_string(),
            By::Worker { batch, .. } => format!("worker, wake per {batch}"),
        };
        println!("{op:<6} {count:>7} {shift:>5}  {who:<24} {mbs:>6.0}");
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
