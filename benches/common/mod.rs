//! Helpers shared by the benchmarks: environment knobs, tool checks, test
//! files, timing a command, medians, and an `nfsl serve` child process.

// Each benchmark uses a different part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `name` from the environment as a number, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Writes `mib` MiB of pseudo-random bytes (xorshift: fast, incompressible enough).
pub fn make_file(path: &Path, mib: usize) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
}

/// Runs `cmd` (stdout discarded) and returns how long it took; panics
/// with its stderr if it fails.
pub fn timed(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `sh -c SCRIPT`, for commands with redirections.
pub fn shell(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// MB/s (decimal) for `bytes` in `d`.
pub fn rate(bytes: f64, d: Duration) -> f64 {
    bytes / d.as_secs_f64() / 1e6
}

/// A running `nfsl serve` (the benchmark's release binary) and its port;
/// killed on drop.
pub struct Nfsl(Child, pub u16);

impl Nfsl {
    /// Serves `dir` read-write to root from any port, on 127.0.0.1.
    pub fn start(dir: &Path, state: &Path) -> Nfsl {
        Self::start_with(dir, state, &[])
    }

    /// [`Nfsl::start`] with more `nfsl serve` arguments.
    pub fn start_with(dir: &Path, state: &Path, extra: &[String]) -> Nfsl {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nfsl"))
            .args([
                "serve",
                dir.to_str().unwrap(),
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--no-rpcbind",
                "--state-dir",
            ])
            .arg(state)
            .args(["-o", "rw,no_root_squash,insecure"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("listening line");
        Nfsl(child, port)
    }
}

impl Nfsl {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Nfsl {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A libnfs-style URL for `file` in `export` with both ports given.
pub fn url(export: &Path, file: &str, nfs: u16, mnt: u16) -> String {
    format!(
        "nfs://127.0.0.1{}/{file}?version=3&nfsport={nfs}&mountport={mnt}",
        export.display()
    )
}

/// What every benchmark starts with: its peers checked, its size and
/// repeats read from the environment, a scratch directory on disk and a
/// source file of `mib` MiB in it.
pub struct Setup {
    pub mib: usize,
    pub repeats: usize,
    pub root: tempfile::TempDir,
    pub src: std::path::PathBuf,
}

impl Setup {
    /// `None` (after saying why) when a tool in `tools` is missing, or when
    /// cargo only probes the benchmark (`--list`).
    pub fn new(bench: &str, tools: &[&str], install: &str, repeats: usize) -> Option<Setup> {
        if std::env::args().any(|a| a == "--list") {
            return None; // `cargo bench -- --list` / `cargo test --benches` probes
        }
        if let Some(tool) = tools.iter().find(|t| !have(t)) {
            eprintln!("{bench}: {tool} not installed (apt-get install {install}); skipping");
            return None;
        }
        let mib = env_usize("NFSL_BENCH_MIB", 1024);
        let repeats = env_usize("NFSL_BENCH_REPEATS", repeats).max(1);
        let root = tempfile::Builder::new()
            .prefix("nfsl-bench-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let src = root.path().join("client-source.bin");
        make_file(&src, mib);
        Some(Setup {
            mib,
            repeats,
            root,
            src,
        })
    }
}
