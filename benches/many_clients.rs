//! Load: many concurrent clients against one `nfsl serve`, on 127.0.0.1
//! only, for a fixed time. Each client mounts with its own connection and
//! loops over mixed metadata and IO in a directory of its own (MKDIR once;
//! then CREATE, WRITE 4 KiB, COMMIT, READ back and compare, GETATTR,
//! READDIRPLUS, RENAME, REMOVE). Every request must be answered without
//! an error; the server's resident memory is sampled throughout and
//! reported idle, at its peak, per connection, and after the clients
//! have gone.
//!
//! `cargo bench --bench many_clients` (NFSL_LOAD_CLIENTS, default 500;
//! NFSL_LOAD_SECS, default 20; NFSL_LOAD_SERVE_ARGS: extra `nfsl serve`
//! arguments, whitespace-separated). Exits non-zero on any error.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::env_usize;
use nfsl_client::{ClientConfig, LocalioMode, Nfs, PortPolicy};

/// The server's resident set size in KiB (VmRSS), 0 if it cannot be read.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What all clients add up.
#[derive(Default)]
struct Tally {
    ops: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn failed(&self, what: &str, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        first.get_or_insert_with(|| format!("{what}: {e}"));
    }
}

/// One client's loop until `deadline`.
async fn client(nfs: Nfs, id: usize, deadline: Instant, tally: Arc<Tally>) {
    let dir = format!("/c{id}");
    if let Err(e) = nfs.mkdir(&dir, 0o755).await {
        return tally.failed("MKDIR", e);
    }
    let data: Vec<u8> = (0..4096u32).map(|i| (i as usize * 31 + id) as u8).collect();
    let mut round = 0u64;
    while Instant::now() < deadline {
        let (a, b) = (format!("{dir}/f{round}"), format!("{dir}/g{round}"));
        let result: nfsl_client::Result<()> = async {
            let f = nfs.create(&a).await?;
            f.write_at(&data, 0).await?;
            f.close().await?; // COMMIT
            let f = nfs
                .open(&a, &nfsl_client::OpenOptions::new().read(true))
                .await?;
            let mut back = vec![0u8; data.len()];
            let n = f.read_at(&mut back, 0).await?;
            if back[..n] != data[..] {
                return Err(nfsl_client::Error::Protocol("read back other data".into()));
            }
            nfs.stat(&a).await?;
            nfs.read_dir(&dir).await?;
            nfs.rename(&a, &b).await?;
            nfs.remove_file(&b).await?;
            Ok(())
        }
        .await;
        match result {
            // 11 calls a round (CREATE, WRITE, COMMIT, LOOKUP+GETATTR for
            // open, READ, LOOKUP for stat, READDIRPLUS, RENAME, REMOVE...).
            Ok(()) => tally.ops.fetch_add(1, Ordering::Relaxed),
            Err(e) => return tally.failed(&format!("client {id} round {round}"), e),
        };
        round += 1;
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let clients = env_usize("NFSL_LOAD_CLIENTS", 500);
    let secs = env_usize("NFSL_LOAD_SECS", 20) as u64;
    // Room for every client's sockets here and the server's (a child
    // inherits the limit).
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    if let Some(max) = getrlimit(Resource::Nofile).maximum {
        let raised = Rlimit {
            current: Some(max),
            maximum: Some(max),
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
    let root = tempfile::Builder::new()
        .prefix("nfsl-load-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let export = root.path().join("export");
    std::fs::create_dir(&export).unwrap();
    // Every client comes from 127.0.0.1: lift the per-address limit
    // (default 128) that would otherwise turn most of them away.
    let room = (clients + 64).to_string();
    let mut extra: Vec<String> = [
        "--max-connections-per-address",
        &room,
        "--max-connections",
        &room,
    ]
    .map(str::to_string)
    .to_vec();
    extra.extend(
        std::env::var("NFSL_LOAD_SERVE_ARGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string),
    );
    let server = common::Nfsl::start_with(&export, &root.path().join("state"), &extra);
    let pid = server.pid();
    let export_path = std::fs::canonicalize(&export).unwrap();
    let export_path = export_path.to_str().unwrap().to_string();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let idle = rss_kib(pid);
    let tally = Arc::new(Tally::default());
    let peak = Arc::new(AtomicU64::new(idle));
    let started = Instant::now();
    let mounted = rt.block_on(async {
        let config = ClientConfig {
            privileged_port: PortPolicy::Never,
            localio: LocalioMode::Off,
            timeout: Duration::from_secs(30),
            ..ClientConfig::default()
        };
        let sampler = {
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let mut mounts = Vec::with_capacity(clients);
        for _ in 0..clients {
            let (port, export, config) = (server.1, export_path.clone(), config.clone());
            mounts.push(tokio::spawn(async move {
                Nfs::mount("127.0.0.1", port, port, &export, config).await
            }));
        }
        let mut nfs = Vec::with_capacity(clients);
        for m in mounts {
            match m.await.unwrap() {
                Ok(n) => nfs.push(n),
                Err(e) => tally.failed("MNT", e),
            }
        }
        let mounted = nfs.len();
        let deadline = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = nfs
            .iter()
            .cloned()
            .enumerate()
            .map(|(id, n)| tokio::spawn(client(n, id, deadline, Arc::clone(&tally))))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
        for n in nfs {
            let _ = n.unmount().await;
        }
        // Let the server notice the closed connections, then sample.
        tokio::time::sleep(Duration::from_secs(2)).await;
        sampler.abort();
        mounted
    });
    let took = started.elapsed();
    let after = rss_kib(pid);
    let (ops, errors) = (
        tally.ops.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    let peak = peak.load(Ordering::Relaxed);
    println!("many_clients: {clients} clients asked, {mounted} mounted, {secs} s of load ({:.1} s in all)", took.as_secs_f64());
    println!(
        "  rounds: {ops} ({:.0}/s; ~11 calls each: {:.0} calls/s), errors: {errors}",
        ops as f64 / secs as f64,
        ops as f64 * 11.0 / secs as f64
    );
    println!(
        "  server RSS: idle {} MiB, peak {} MiB ({:.0} KiB per connection), after the clients left {} MiB",
        idle / 1024,
        peak / 1024,
        peak.saturating_sub(idle) as f64 / clients.max(1) as f64,
        after / 1024
    );
    if let Some(e) = tally.first_error.lock().unwrap().as_ref() {
        println!("  first error: {e}");
    }
    drop(server);
    if errors > 0 || mounted < clients {
        std::process::exit(1);
    }
}
