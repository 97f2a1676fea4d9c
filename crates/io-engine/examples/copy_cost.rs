//! What a buffered 1 MiB `pwrite`/`pread` costs depending on the user
//! buffer: its alignment, how many buffers take turns, and whether another
//! thread does the IO. The figures behind [`nfsl_io_engine::buffer`] and
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

/// MB/s of 1 MiB writes (or reads) for `RUN`, from `count` buffers in turn,
/// by this thread or (`handoff`) by a second thread it hands them to.
fn run(file: &File, write: bool, count: usize, shift: usize, handoff: bool) -> f64 {
    let mut bufs: Vec<Buf> = (0..count).map(|i| Buf::new(i as u8 + 1, shift)).collect();
    let slots = FILE_SIZE / MIB as u64;
    let mut next = 0u64;
    let mut offset = move || {
        next = (next + 1) % slots;
        next * MIB as u64
    };
    let start = Instant::now();
    let mut done = 0u64;
    if !handoff {
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
    } else {
        let (to_worker, jobs) = mpsc::sync_channel::<(Buf, u64)>(count);
        let (to_caller, back) = mpsc::channel::<Buf>();
        let worker_file = file.try_clone().expect("dup");
        let worker = std::thread::spawn(move || {
            for (mut buf, at) in jobs {
                if write {
                    worker_file.write_all_at(buf.data(), at).expect("pwrite");
                } else {
                    worker_file
                        .read_exact_at(buf.data_mut(), at)
                        .expect("pread");
                }
                let _ = to_caller.send(buf);
            }
        });
        for buf in bufs {
            to_worker.send((buf, offset())).expect("worker gone");
        }
        while start.elapsed() < RUN {
            let buf = back.recv().expect("worker gone");
            done += 1;
            to_worker.send((buf, offset())).expect("worker gone");
        }
        drop(to_worker);
        worker.join().expect("worker panicked");
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
        "{:<6} {:>7} {:>7} {:>8} {:>8}",
        "op", "buffers", "shift", "thread", "MB/s"
    );
    let rows: &[(bool, usize, usize, bool)] = &[
        (true, 1, 0, false),
        (true, 1, 16, false),
        (true, 1, 32, false),
        (true, 1, 64, false),
        (true, 2, 0, false),
        (true, 6, 0, false),
        (true, 2, 0, true),
        (true, 3, 0, true),
        (true, 6, 0, true),
        (false, 1, 0, false),
        (false, 1, 16, false),
        (false, 1, 64, false),
    ];
    for &(write, count, shift, handoff) in rows {
        let mbs = run(&file, write, count, shift, handoff);
        let op = if write { "pwrite" } else { "pread" };
        let by = if handoff { "other" } else { "same" };
        println!("{op:<6} {count:>7} {shift:>7} {by:>8} {mbs:>8.0}");
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
