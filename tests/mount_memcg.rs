//! The seed's hazard: a writer confined to a memory cgroup of 128 MiB
//! writes 4x its limit through `nfsl mount`, sequentially and at random
//! offsets, and must finish (within a generous bound: a hang or an OOM
//! kill fails) with every byte right when read back over RPC by an
//! independent client. Once with only the writer in the cgroup, once with
//! the daemon and the server in it too (the container case); on the
//! passthrough and the daemon IO paths. Uses the cgroup v1 memory
//! controller (`/sys/fs/cgroup/memory`), or v2's `memory.max` where v1 is
//! absent and v2 has the controller; skips when neither is usable.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const LIMIT: u64 = 128 << 20;
const TOTAL: u64 = 4 * LIMIT;
const BLOCK: u64 = 1 << 20;
/// A hang fails the test; this is not a speed check.
const BOUND: Duration = Duration::from_secs(600);

/// A memory cgroup with a limit, removed on drop (its processes moved out).
struct MemCgroup {
    dir: PathBuf,
    v1: bool,
}

impl MemCgroup {
    fn create(name: &str) -> Option<MemCgroup> {
        let v1 = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        let (base, limit_file, is_v1) = if v1.exists() {
            (
                PathBuf::from("/sys/fs/cgroup/memory"),
                "memory.limit_in_bytes",
                true,
            )
        } else if fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
            .is_ok_and(|c| c.contains("memory"))
        {
            (PathBuf::from("/sys/fs/cgroup"), "memory.max", false)
        } else {
            return None;
        };
        let dir = base.join(format!("{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).ok()?;
        fs::write(dir.join(limit_file), LIMIT.to_string()).ok()?;
        if is_v1 {
            // Swap would let the writer's memory escape the limit.
            let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), LIMIT.to_string());
        }
        Some(MemCgroup { dir, v1: is_v1 })
    }

    fn add(&self, pid: u32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// How often the limit was hit and the peak usage, for the report.
    /// Peak usage (v1; None on v2).
    fn peak(&self) -> Option<u64> {
        if !self.v1 {
            return None;
        }
        fs::read_to_string(self.dir.join("memory.max_usage_in_bytes"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn pressure(&self) -> String {
        let read = |f: &str| {
            fs::read_to_string(self.dir.join(f))
                .unwrap_or_default()
                .trim()
                .replace('\n', " ")
        };
        if self.v1 {
            format!(
                "peak {} MiB of {} MiB",
                read("memory.max_usage_in_bytes")
                    .parse::<u64>()
                    .unwrap_or(0)
                    >> 20,
                LIMIT >> 20
            )
        } else {
            format!("events: {}", read("memory.events"))
        }
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        let parent = self.dir.parent().unwrap().join("cgroup.procs");
        if let Ok(procs) = fs::read_to_string(self.procs_file()) {
            for pid in procs.lines() {
                let _ = fs::write(&parent, pid);
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Runs `script` (sh) inside `cg`; returns its success and how long it took.
fn run_in(cg: &MemCgroup, script: &str) -> (bool, Duration, String) {
    let full = format!("echo $$ > '{}' && {script}", cg.procs_file().display());
    let start = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", &full])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, BOUND);
    let took = start.elapsed();
    let mut err = String::new();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.is_some_and(|s| s.success()), took, err)
}

/// The file as an independent client reads it over RPC.
fn hash_over_rpc(server: &NfslServer, name: &str) -> blake3::Hash {
    rt().block_on(async {
        let mut config = client_config();
        config.localio = nfsl_client::LocalioMode::Off;
        let nfs = mount(server, config).await;
        let f = nfs
            .open(
                &format!("/{name}"),
                &nfsl_client::OpenOptions::new().read(true),
            )
            .await
            .unwrap();
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0u64;
        loop {
            let n = f.read_at(&mut buf, off).await.unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            off += n as u64;
        }
        hasher.finalize()
    })
}

fn memcg_run(options: &str, everyone_inside: bool) {
    if !fuse_available() || !need_root("mount_memcg") {
        return;
    }
    // One group per test: the tests of this file run in parallel.
    let name = format!(
        "nfsl-memcg-{}-{}",
        if options.is_empty() { "pt" } else { "daemon" },
        if everyone_inside { "all" } else { "writer" }
    );
    let Some(cg) = MemCgroup::create(&name) else {
        let msg = "SKIP: no usable memory cgroup controller";
        assert!(std::env::var_os("NFSL_REQUIRE_PEERS").is_none(), "{msg}");
        eprintln!("{msg}");
        return;
    };
    let export = disk_tempdir();
    let scratch = disk_tempdir();
    let source = scratch.path().join("source");
    {
        let mut f = fs::File::create(&source).unwrap();
        for i in 0..TOTAL / BLOCK {
            std::io::Write::write_all(&mut f, &pseudo_random_bytes(BLOCK as usize, 1000 + i))
                .unwrap();
        }
    }
    let expected = blake3::hash(&fs::read(&source).unwrap());
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let url = format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    );
    let mount = FuseMount::mount(&url, options);
    if everyone_inside {
        cg.add(server.pid());
        cg.add(mount.daemon_pid() as u32);
    }
    let src = source.display();
    // Sequential: 512 MiB in 1 MiB writes, then fsync.
    let seq = mount.join("seq");
    let (ok, took_seq, err) = run_in(
        &cg,
        &format!(
            "dd if='{src}' of='{}' bs=1M conv=fsync 2>&1 >/dev/null || exit 1",
            seq.display()
        ),
    );
    assert!(
        ok,
        "sequential write under the cgroup failed or hung: {err}\n{}",
        mount.log()
    );
    // Random offsets: the same blocks, in a scrambled order.
    let blocks = TOTAL / BLOCK;
    let order: Vec<String> = (0..blocks)
        .map(|i| ((i * 193 + 71) % blocks).to_string())
        .collect();
    let rand = mount.join("rand");
    let (ok, took_rand, err) = run_in(
        &cg,
        &format!(
            "for b in {}; do dd if='{src}' of='{}' bs=1M count=1 skip=$b seek=$b conv=notrunc status=none || exit 1; done; sync '{}'",
            order.join(" "),
            rand.display(),
            rand.display()
        ),
    );
    assert!(
        ok,
        "random-offset write under the cgroup failed or hung: {err}\n{}",
        mount.log()
    );
    assert_eq!(
        hash_over_rpc(&server, "seq"),
        expected,
        "sequential data differs"
    );
    assert_eq!(
        hash_over_rpc(&server, "rand"),
        expected,
        "random-offset data differs"
    );
    let flusher = mount
        .log()
        .lines()
        .find(|l| l.contains("PR_SET_IO_FLUSHER"))
        .unwrap_or("")
        .to_string();
    eprintln!(
        "memcg -o {options:?} everyone_inside={everyone_inside}: sequential {:.1} s, random {:.1} s; cgroup {}; {flusher}",
        took_seq.as_secs_f64(),
        took_rand.as_secs_f64(),
        cg.pressure()
    );
    // The writer really ran under the limit (its memory was charged).
    if let Some(peak) = cg.peak() {
        assert!(
            peak >= LIMIT / 2,
            "the cgroup peaked at {peak} bytes: the writer was not confined"
        );
    }
    drop(mount);
}

#[test]
fn memcg_writer_only_passthrough() {
    memcg_run("", false);
}

#[test]
fn memcg_writer_only_daemon() {
    memcg_run("passthrough=off", false);
}

#[test]
fn memcg_everyone_inside_passthrough() {
    memcg_run("", true);
}

#[test]
fn memcg_everyone_inside_daemon() {
    memcg_run("passthrough=off", true);
}
