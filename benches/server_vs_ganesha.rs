//! Benchmark: 1 GiB sequential read and write through libnfs (`nfs-cp`,
//! `nfs-cat`) against `nfsl serve` and, in the same run, NFS-Ganesha
//! exporting the same file system, plus a local read of the same file as
//! the ceiling. Both servers run side by side and the measurements are
//! interleaved round by round. Prints medians and ratios (this machine is
//! noisy: only ratios measured in one run mean anything).
//!
//! Run: `cargo bench --bench server_vs_ganesha` (root; needs libnfs-utils,
//! nfs-ganesha, nfs-ganesha-vfs and rpcbind). `NFSL_BENCH_MIB` sets the file
//! size (default 1024), `NFSL_BENCH_REPEATS` the timed repetitions (3).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, median, timed, url, Nfsl, Setup};

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

/// One server under test: its export and ports.
struct Server<'a> {
    export: &'a Path,
    nfs: u16,
    mnt: u16,
}

impl Server<'_> {
    fn read(&self) -> Duration {
        let read_url = url(self.export, "source.bin", self.nfs, self.mnt);
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("nfs-cat '{read_url}' > /dev/null"));
        timed(c)
    }

    /// Copies `src` to a new file name (`written-{i}.bin`), so nothing
    /// changes behind Ganesha's back.
    fn write(&self, src: &Path, i: usize) -> Duration {
        let mut c = Command::new("nfs-cp");
        c.arg(src).arg(url(
            self.export,
            &format!("written-{i}.bin"),
            self.nfs,
            self.mnt,
        ));
        timed(c)
    }
}

/// Writes all dirty data back (`sync`).
fn settle() {
    let ok = Command::new("sync").status().is_ok_and(|s| s.success());
    assert!(ok, "sync failed");
}

fn local_read(path: &Path) -> Duration {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    while f.read(&mut buf).unwrap() > 0 {}
    start.elapsed()
}

fn main() {
    let Some(Setup {
        mib,
        repeats,
        root,
        src,
    }) = Setup::new(
        "server_vs_ganesha",
        &["nfs-cp", "nfs-cat", "ganesha.nfsd"],
        "libnfs-utils nfs-ganesha nfs-ganesha-vfs rpcbind",
        3,
    )
    else {
        return;
    };
    let mut exports = Vec::new();
    for name in ["nfsl-export", "ganesha-export"] {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(&src, dir.join("source.bin")).unwrap();
        exports.push(dir.canonicalize().unwrap());
    }
    let bytes = (mib as f64) * 1024.0 * 1024.0;
    let rate = |d: Duration| bytes / d.as_secs_f64() / 1e6;

    // Both servers run for the whole benchmark, and each round times a read
    // through each and the local read (then a write through each), so load
    // from elsewhere on this shared machine hits all figures alike. Dirty
    // data is flushed (untimed) before each measurement, so no writeback
    // left by one runs during another.
    let nfsl = Nfsl::start(&exports[0], &root.path().join("nfsl-state"));
    let (_ganesha, g_nfs, g_mnt) = Ganesha::start(&exports[1], &root.path().join("ganesha-state"));
    let servers = [
        Server {
            export: &exports[0],
            nfs: nfsl.1,
            mnt: nfsl.1,
        },
        Server {
            export: &exports[1],
            nfs: g_nfs,
            mnt: g_mnt,
        },
    ];
    let local = exports[0].join("source.bin");
    // Warm-up: server caches, the client's page cache of `src`.
    for s in &servers {
        s.read();
        s.write(&src, 0);
    }
    local_read(&local);
    let (mut reads, mut writes, mut ceiling) = ([vec![], vec![]], [vec![], vec![]], vec![]);
    for _ in 0..repeats {
        for (k, s) in servers.iter().enumerate() {
            settle();
            reads[k].push(s.read());
        }
        ceiling.push(local_read(&local));
    }
    for i in 1..=repeats {
        for (k, s) in servers.iter().enumerate() {
            settle();
            writes[k].push(s.write(&src, i));
        }
    }
    let [nfsl_read, ganesha_read] = reads.map(median);
    let [nfsl_write, ganesha_write] = writes.map(median);
    let ceiling = median(ceiling);

    println!("server_vs_ganesha: {mib} MiB, median of {repeats} (MB/s)");
    println!("{:<28} {:>10} {:>10}", "", "read", "write");
    println!(
        "{:<28} {:>10.0} {:>10.0}",
        "nfsl serve (libnfs client)",
        rate(nfsl_read),
        rate(nfsl_write)
    );
    println!(
        "{:<28} {:>10.0} {:>10.0}",
        "Ganesha (libnfs client)",
        rate(ganesha_read),
        rate(ganesha_write)
    );
    println!(
        "{:<28} {:>10.0} {:>10}",
        "local read (ceiling)",
        rate(ceiling),
        "-"
    );
    println!(
        "ratio nfsl/Ganesha read:   {:.2}x (target >= 1.0x)",
        ganesha_read.as_secs_f64() / nfsl_read.as_secs_f64()
    );
    println!(
        "ratio nfsl/Ganesha write:  {:.2}x (target >= 1.5x)",
        ganesha_write.as_secs_f64() / nfsl_write.as_secs_f64()
    );
    println!(
        "ratio nfsl read/ceiling:   {:.2}x (target >= 0.5x)",
        ceiling.as_secs_f64() / nfsl_read.as_secs_f64()
    );
}
