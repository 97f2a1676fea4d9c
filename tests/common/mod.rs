//! Shared harness of nfsl's end-to-end tests: the `nfsl serve` child
//! process ([`server`]), the `nfsl` binary's commands ([`cli`]), the libnfs tools as a peer client ([`peers`]),
//! an independent raw ONC RPC client ([`rpc_client`]), NFS-Ganesha as a
//! peer server ([`ganesha`]), nfsl's own client library ([`client`]) and
//! real FUSE mounts of `nfsl mount` ([`fuse`]).
//!
//! Every test makes its own temporary export and state directories and its
//! own server on a kernel-chosen port, so tests run in parallel.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod client;
pub mod fuse;
pub mod ganesha;
pub mod peers;
pub mod rpc_client;
pub mod server;

pub use client::*;
pub use fuse::*;
pub use ganesha::*;
pub use peers::*;
pub use rpc_client::*;
pub use server::*;

use std::path::Path;

/// `len` deterministic pseudo-random bytes (splitmix64 of `seed`): fast
/// to make, incompressible, and different for every seed.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Creates `n` empty files `{prefix}{i:05}` in `dir`; returns their names.
pub fn create_files(dir: &Path, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i:05}");
            std::fs::File::create(dir.join(&name))
                .unwrap_or_else(|e| panic!("creating {name}: {e}"));
            name
        })
        .collect()
}

/// A fresh temporary directory (export or scratch).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A fresh temporary directory on the machine's disk (`/var/tmp`, not
/// tmpfs), where O_DIRECT works.
pub fn disk_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/var/tmp").expect("tempdir in /var/tmp")
}

/// Drops `file`'s clean pages from the page cache (`POSIX_FADV_DONTNEED`),
/// so that the next read of them has to go to the device.
pub fn drop_cached_pages(file: &std::fs::File) {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether `test`, which needs root (credential switching, a setuid
/// helper process), can run. When it cannot, prints a SKIP line and
/// returns false, or panics if `NFSL_REQUIRE_PEERS` is set.
pub fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("NFSL_REQUIRE_PEERS").is_none(),
        "{test} needs root"
    );
    eprintln!("SKIP {test}: needs root");
    false
}
