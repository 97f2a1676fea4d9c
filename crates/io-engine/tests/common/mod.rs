//! Helpers for the engine tests: a temporary directory on a file system that
//! supports O_DIRECT, and plain pread/pwrite to compare against.

#![allow(dead_code)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nfsl_io_engine::IoFile;

pub mod loopfs;
use tempfile::TempDir;

/// A temporary directory where `IoFile::open` gets an O_DIRECT fd with a
/// known alignment. None (after saying why) if no such file system is found;
/// with NFSL_REQUIRE_PEERS=1 that is a failure instead.
pub fn direct_dir() -> Option<TempDir> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        bases.push(t.into());
    }
    bases.push("/var/tmp".into());
    bases.push(std::env::temp_dir());
    bases.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    for base in bases {
        let Ok(dir) = tempfile::Builder::new()
            .prefix("nfsl-io-engine-")
            .tempdir_in(&base)
        else {
            continue;
        };
        let probe = dir.path().join("probe");
        if std::fs::write(&probe, b"x").is_err() {
            continue;
        }
        if IoFile::open(&probe, true).is_ok_and(|f| f.direct_capable()) {
            return Some(dir);
        }
    }
    let msg = "no file system with O_DIRECT and STATX_DIOALIGN found (tried CARGO_TARGET_DIR, /var/tmp, the temp dir)";
    if std::env::var("NFSL_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{msg} and NFSL_REQUIRE_PEERS=1");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// Deterministic, position-dependent bytes (so misplaced data shows).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Creates `path` holding `data`.
pub fn create(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap();
}

/// What plain pread returns for `[offset, offset + len)` (short at EOF).
pub fn pread(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let f = File::open(path).unwrap();
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = f.read_at(&mut buf[done..], offset + done as u64).unwrap();
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    buf
}

/// Odd offsets and lengths around 512 and 4096 byte boundaries, for a file of `size` bytes.
pub fn odd_ranges(size: u64) -> Vec<(u64, usize)> {
    vec![
        (0, 1),
        (1, 1),
        (511, 1),
        (512, 1),
        (0, 511),
        (1, 511),
        (0, 512),
        (512, 512),
        (511, 2),
        (100, 4095),
        (0, 4096),
        (4095, 4097),
        (1, 4097),
        (4096, 4097),
        (511, 8194),
        (3, 70_000),
        (65_536, 65_536),
        (size - 100, 300),
        (size - 1, 1),
        (size + 10, 100),
        (0, size as usize + 5000),
        (size / 512 * 512, 4096),
    ]
}
