//! A random-operation integrity test in the style of fsx: thousands of
//! seeded, reproducible writes, truncates, reads, mmap reads and mmap
//! writes at random offsets on one file inside a real `nfsl mount`,
//! checked against an in-memory model after every read and at the end
//! (also on the server's file itself). Run on the passthrough path, the
//! daemon's LOCALIO path and the daemon's RPC path.
//!
//! `NFSL_FSX_SEED=N` and `NFSL_FSX_OPS=N` reproduce or lengthen a run.

mod common;

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;

/// Largest file the run makes.
const MAX_LEN: u64 = 1 << 20;
/// Largest single write or read.
const MAX_IO: u64 = 64 << 10;
const PAGE: u64 = 4096;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap()
}

/// Maps `[offset, offset + len)` of `f` (page-aligned around it).
fn with_map<T>(f: &File, offset: u64, len: u64, write: bool, op: impl FnOnce(&mut [u8]) -> T) -> T {
    let start = offset / PAGE * PAGE;
    let span = (offset + len - start) as usize;
    let prot = if write {
        rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE
    } else {
        rustix::mm::ProtFlags::READ
    };
    // SAFETY: a shared map of a range inside the file's current size;
    // nothing else truncates the file while it is mapped.
    let map = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            span,
            prot,
            rustix::mm::MapFlags::SHARED,
            f.as_fd(),
            start,
        )
    }
    .unwrap();
    // SAFETY: the map is `span` bytes, readable (and writable if asked).
    let bytes = unsafe { std::slice::from_raw_parts_mut(map.cast::<u8>(), span) };
    let at = (offset - start) as usize;
    let result = op(&mut bytes[at..at + len as usize]);
    if write {
        // SAFETY: the range mapped above.
        unsafe { rustix::mm::msync(map, span, rustix::mm::MsyncFlags::SYNC).unwrap() };
    }
    // SAFETY: unmapping what was mapped above.
    unsafe { rustix::mm::munmap(map, span).unwrap() };
    result
}

/// Runs the operations on `path`; returns the model.
fn fsx(path: &Path, seed: u64, ops: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut model: Vec<u8> = Vec::new();
    let mut file = open(path);
    file.set_len(0).unwrap();
    let mut log: Vec<String> = Vec::new();
    for n in 0..ops {
        let size = model.len() as u64;
        let what = rng.below(100);
        let fail = |log: &[String], msg: String| -> ! {
            let tail = log[log.len().saturating_sub(20)..].join("\n");
            panic!("seed {seed}, op {n}: {msg}\nlast operations:\n{tail}");
        };
        match what {
            0..=34 => {
                let off = rng.below(MAX_LEN);
                let len = 1 + rng.below(MAX_IO.min(MAX_LEN - off));
                let byte = (rng.next() & 0xff) as u8;
                let data: Vec<u8> = (0..len).map(|i| byte.wrapping_add(i as u8)).collect();
                log.push(format!("write {off}+{len}"));
                file.write_all_at(&data, off).unwrap();
                let end = (off + len) as usize;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[off as usize..end].copy_from_slice(&data);
            }
            35..=44 => {
                let len = rng.below(MAX_LEN);
                log.push(format!("truncate {len}"));
                file.set_len(len).unwrap();
                model.resize(len as usize, 0);
            }
            45..=74 => {
                let off = rng.below(size + 1);
                let len = rng.below(MAX_IO);
                log.push(format!("read {off}+{len}"));
                let mut buf = vec![0u8; len as usize];
                let mut got = 0;
                while got < buf.len() {
                    let k = file.read_at(&mut buf[got..], off + got as u64).unwrap();
                    if k == 0 {
                        break;
                    }
                    got += k;
                }
                let expect = &model[off as usize..(off + len).min(size) as usize];
                if &buf[..got] != expect {
                    fail(&log, format!("read {off}+{len}: got {got} bytes that differ from the model ({} bytes)", expect.len()));
                }
            }
            75..=84 if size > 0 => {
                let off = rng.below(size);
                let len = 1 + rng.below(MAX_IO.min(size - off));
                log.push(format!("mapread {off}+{len}"));
                let same = with_map(&file, off, len, false, |m| {
                    m == &model[off as usize..(off + len) as usize]
                });
                if !same {
                    fail(&log, format!("mapread {off}+{len} differs from the model"));
                }
            }
            85..=92 if size > 0 => {
                let off = rng.below(size);
                let len = 1 + rng.below(MAX_IO.min(size - off));
                let byte = (rng.next() & 0xff) as u8;
                log.push(format!("mapwrite {off}+{len}"));
                with_map(&file, off, len, true, |m| {
                    for (i, b) in m.iter_mut().enumerate() {
                        *b = byte.wrapping_add(i as u8);
                    }
                });
                for i in 0..len as usize {
                    model[off as usize + i] = byte.wrapping_add(i as u8);
                }
            }
            93..=96 => {
                log.push("fsync".into());
                file.sync_all().unwrap();
            }
            _ => {
                log.push("close and reopen".into());
                drop(file);
                file = open(path);
            }
        }
        let len = file.metadata().unwrap().len();
        if len != model.len() as u64 {
            fail(&log, format!("size {len}, model {}", model.len()));
        }
    }
    drop(file);
    model
}

fn run(options: &str, seed_offset: u64) {
    if !fuse_available() {
        return;
    }
    let seed = env_u64("NFSL_FSX_SEED", 0x5eed_0000) + seed_offset;
    let ops = env_u64("NFSL_FSX_OPS", 3000);
    let export = disk_tempdir();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let url = format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    );
    let mount = FuseMount::mount(&url, options);
    let model = fsx(&mount.join("fsx"), seed, ops);
    // The server's file itself holds exactly the model.
    let on_server = std::fs::read(export.path().join("fsx")).unwrap();
    assert!(
        on_server == model,
        "seed {seed}: the server's file differs from the model"
    );
    // And a fresh open through the mount reads it too.
    assert!(std::fs::read(mount.join("fsx")).unwrap() == model);
    eprintln!(
        "fsx -o {options:?}: seed {seed}, {ops} operations, final size {}",
        model.len()
    );
    eprintln!("{}", mount.stats());
    // The IO took the path under test.
    let passthrough = mount.stat("passthrough_opens") > 0;
    assert_eq!(passthrough, options.is_empty(), "{}", mount.stats());
    assert_eq!(
        mount.stat("daemon_reads") == 0,
        passthrough,
        "{}",
        mount.stats()
    );
    assert_eq!(
        mount.stat("local_reads") > 0,
        options == "passthrough=off",
        "{}",
        mount.stats()
    );
}

#[test]
fn fsx_on_the_passthrough_path() {
    run("", 1);
}

#[test]
fn fsx_on_the_daemon_localio_path() {
    run("passthrough=off", 2);
}

#[test]
fn fsx_on_the_daemon_rpc_path() {
    run("localio=off", 3);
}
