//! Benchmark: 1 GiB sequential read and write through libnfs (`nfs-cp`,
//! `nfs-cat`) against `nfsl serve` and, in the same run, NFS-Ganesha
//! exporting the same file system, plus a local read of the same file as
//! the ceiling. Prints medians and ratios (this machine is noisy: only
//! ratios measured in one run mean anything).
//!
//! Run: `cargo bench --bench server_vs_ganesha` (root; needs libnfs-utils,
//! nfs-ganesha, nfs-ganesha-vfs and rpcbind). `NFSL_BENCH_MIB` sets the file
//! size (default 1024), `NFSL_BENCH_REPEATS` the timed repetitions (3).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{env_usize, free_port, have, make_file, median, timed, url, Nfsl};

struct Ganesha(PathBuf);

impl Ganesha {
    fn start(dir: &Path, state: &Path) -> (Ganesha, u16, u16) {
        let (nfs, mnt) = (free_port(), free_port());
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/peers/ganesha.sh"
            ))
            .args([
                "start",
                dir.to_str().unwrap(),
                &nfs.to_string(),
                &mnt.to_string(),
                state.to_str().unwrap(),
            ])
            // Not piped: the daemon inherits these and would hold a pipe
            // open forever.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .unwrap();
        assert!(out.success(), "ganesha failed to start");
        (Ganesha(state.to_path_buf()), nfs, mnt)
    }
}

impl Drop for Ganesha {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/peers/ganesha.sh"
            ))
            .args(["stop", self.0.to_str().unwrap()])
            .status();
    }
}

struct Figures {
    read: Duration,
    write: Duration,
}

fn measure(export: &Path, nfs: u16, mnt: u16, src: &Path, repeats: usize) -> Figures {
    let read_url = url(export, "source.bin", nfs, mnt);
    let read = |_: usize| {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("nfs-cat '{read_url}' > /dev/null"));
        timed(c)
    };
    let write = |i: usize| {
        let mut c = Command::new("nfs-cp");
        c.arg(src)
            .arg(url(export, &format!("written-{i}.bin"), nfs, mnt));
        timed(c)
    };
    read(0); // warm-up: server caches, client page cache of `src`
    write(0);
    Figures {
        read: median((1..=repeats).map(read).collect()),
        write: median((1..=repeats).map(write).collect()),
    }
}

fn local_read(path: &Path) -> Duration {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    while f.read(&mut buf).unwrap() > 0 {}
    start.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probes
    }
    for tool in ["nfs-cp", "nfs-cat", "ganesha.nfsd"] {
        if !have(tool) {
            eprintln!("server_vs_ganesha: {tool} not installed (apt-get install libnfs-utils nfs-ganesha nfs-ganesha-vfs rpcbind); skipping");
            return;
        }
    }
    let mib = env_usize("NFSL_BENCH_MIB", 1024);
    let repeats = env_usize("NFSL_BENCH_REPEATS", 3).max(1);
    let root = tempfile::Builder::new()
        .prefix("nfsl-bench-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let src = root.path().join("client-source.bin");
    make_file(&src, mib);
    let mut exports = Vec::new();
    for name in ["nfsl-export", "ganesha-export"] {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(&src, dir.join("source.bin")).unwrap();
        exports.push(dir.canonicalize().unwrap());
    }
    let bytes = (mib as f64) * 1024.0 * 1024.0;
    let rate = |d: Duration| bytes / d.as_secs_f64() / 1e6;

    let nfsl_fig = {
        let server = Nfsl::start(&exports[0], &root.path().join("nfsl-state"));
        measure(&exports[0], server.1, server.1, &src, repeats)
    };
    let ganesha_fig = {
        let (_g, nfs, mnt) = Ganesha::start(&exports[1], &root.path().join("ganesha-state"));
        measure(&exports[1], nfs, mnt, &src, repeats)
    };
    local_read(&exports[0].join("source.bin"));
    let ceiling = median(
        (0..repeats)
            .map(|_| local_read(&exports[0].join("source.bin")))
            .collect(),
    );

    println!("server_vs_ganesha: {mib} MiB, median of {repeats} (MB/s)");
    println!("{:<28} {:>10} {:>10}", "", "read", "write");
    println!(
        "{:<28} {:>10.0} {:>10.0}",
        "nfsl serve (libnfs client)",
        rate(nfsl_fig.read),
        rate(nfsl_fig.write)
    );
    println!(
        "{:<28} {:>10.0} {:>10.0}",
        "Ganesha (libnfs client)",
        rate(ganesha_fig.read),
        rate(ganesha_fig.write)
    );
    println!(
        "{:<28} {:>10.0} {:>10}",
        "local read (ceiling)",
        rate(ceiling),
        "-"
    );
    println!(
        "ratio nfsl/Ganesha read:   {:.2}x (target >= 1.0x)",
        ganesha_fig.read.as_secs_f64() / nfsl_fig.read.as_secs_f64()
    );
    println!(
        "ratio nfsl/Ganesha write:  {:.2}x (target >= 1.5x)",
        ganesha_fig.write.as_secs_f64() / nfsl_fig.write.as_secs_f64()
    );
    println!(
        "ratio nfsl read/ceiling:   {:.2}x (target >= 0.5x)",
        ceiling.as_secs_f64() / nfsl_fig.read.as_secs_f64()
    );
}
