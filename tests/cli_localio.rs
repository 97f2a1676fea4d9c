//! The LOCALIO parts of the command line end to end: `nfsl bench` (all
//! three paths, JSON and SVG), `nfsl stats` (LOCALIO active against
//! `nfsl serve`, inactive with `localio=off` or `--no-localio`) and the
//! demo's two columns. Sizes and times are tiny: these check behaviour,
//! not speed.

mod common;

use std::fs;
use std::process::Command;

use common::cli::nfsl;
use common::*;

const RW: &str = "rw,no_root_squash";

fn ok_text(args: &[&str]) -> String {
    let out = nfsl(args);
    assert_success(&out, &format!("nfsl {args:?}"));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The numbers of the `label` row of `nfsl stats`' LOCALIO/RPC table.
fn stats_row(text: &str, label: &str) -> (u64, u64) {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no {label:?} row in:\n{text}"));
    let n: Vec<u64> = line[label.len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    (n[0], n[1])
}

#[test]
fn bench_runs_every_path_and_writes_json_and_svg() {
    let export = tempdir();
    let out = tempdir();
    let server = NfslServer::start(export.path(), RW);
    let sock = server.localio_socket();
    let (json, svg) = (out.path().join("b.json"), out.path().join("b.svg"));
    let text = ok_text(&[
        "bench",
        &server.url(""),
        "--size",
        "2",
        "--time",
        "0.02",
        "--repeats",
        "2",
        "--workloads",
        "seq-read,seq-write,rand-read-qd8,rand-write-qd1",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--localio-socket",
        sock.to_str().unwrap(),
    ]);
    assert!(
        text.contains("LOCALIO/ceiling") && text.contains("LOCALIO/RPC"),
        "{text}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    for (path, modes) in [
        ("pread", &["buffered", "direct"][..]),
        ("io_uring", &["buffered", "direct"][..]),
        ("localio", &["buffered", "direct"][..]),
        ("rpc", &["server"][..]),
    ] {
        for mode in modes {
            let rows: Vec<_> = results
                .iter()
                .filter(|r| r["path"] == path && r["mode"] == *mode)
                .collect();
            // pread is synchronous: it skips queue depth 8.
            let want = if path == "pread" { 3 } else { 4 };
            assert_eq!(rows.len(), want, "{path} {mode}: {results:#?}");
            for r in rows {
                assert_eq!(r["runs"].as_array().unwrap().len(), 2, "{r}");
                assert!(r["mb_per_sec"].as_f64().unwrap() > 0.0, "{r}");
                assert!(r["p99_us"].as_f64().unwrap() >= r["p50_us"].as_f64().unwrap());
                match path {
                    "localio" => {
                        assert!(r["client_local_ops"].as_u64().unwrap() > 0, "{r}");
                        assert_eq!(r["client_rpc_ops"], 0, "{r}");
                    }
                    "rpc" => {
                        assert_eq!(r["client_local_ops"], 0, "{r}");
                        assert!(r["client_rpc_ops"].as_u64().unwrap() > 0, "{r}");
                    }
                    _ => assert!(r["client_local_ops"].is_null(), "{r}"),
                }
            }
        }
    }
    let ratios = doc["ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 8, "{ratios:#?}");
    assert!(ratios
        .iter()
        .all(|r| r["localio_over_ceiling"].as_f64().is_some()
            && r["localio_over_rpc"].as_f64().is_some()));
    // Every mount's counters: both LOCALIO mounts went local, the RPC
    // mount never did.
    let stats = &doc["client_stats"];
    for mount in ["localio_buffered", "localio_direct"] {
        assert_eq!(stats[mount]["local_active"], true, "{stats:#}");
        assert!(
            stats[mount]["local_reads"].as_u64().unwrap() > 0,
            "{stats:#}"
        );
        assert!(
            stats[mount]["local_writes"].as_u64().unwrap() > 0,
            "{stats:#}"
        );
    }
    assert!(stats["localio_direct"]["direct_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["rpc"]["local_active"], false, "{stats:#}");
    assert_eq!(stats["rpc"]["local_reads"], 0, "{stats:#}");
    assert!(stats["rpc"]["rpc_reads"].as_u64().unwrap() > 0, "{stats:#}");
    let header = text
        .lines()
        .skip_while(|l| !l.starts_with("Client counters"))
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["LOCALIO", "buffered", "LOCALIO", "direct", "RPC"],
        "{text}"
    );
    let svg = fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect x=\"250\"").count(), results.len());
    // The benchmark file is gone; nothing else was left in the export.
    assert_eq!(fs::read_dir(export.path()).unwrap().count(), 0);
}

#[test]
fn bench_jobs_run_streams_in_their_own_regions_and_report_each() {
    let export = tempdir();
    let out = tempdir();
    let server = NfslServer::start(export.path(), RW);
    let sock = server.localio_socket();
    let json = out.path().join("j.json");
    let text = ok_text(&[
        "bench",
        &server.url(""),
        "--size",
        "2",
        "--time",
        "0.05",
        "--repeats",
        "1",
        "--workloads",
        "rand-read",
        "--jobs",
        "1,2,4",
        "--threads",
        "2",
        "--modes",
        "buffered",
        "--json",
        json.to_str().unwrap(),
        "--localio-socket",
        sock.to_str().unwrap(),
    ]);
    assert!(text.contains("IOPS per job"), "{text}");
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    for (path, counts) in [
        ("pread", &[1u64, 2, 4][..]),
        ("io_uring", &[1, 2, 4][..]),
        ("localio", &[1, 2, 4][..]),
        ("rpc", &[1, 2, 4][..]),
    ] {
        let jobs: Vec<u64> = results
            .iter()
            .filter(|r| r["path"] == path)
            .map(|r| r["jobs"].as_u64().unwrap())
            .collect();
        assert_eq!(jobs, counts, "{path}: {results:#?}");
    }
    for r in results {
        let n = r["jobs"].as_u64().unwrap() as usize;
        let run = &r["runs"][0];
        let per_job = run["job_ops"].as_array().unwrap();
        assert_eq!(per_job.len(), n, "{r}");
        assert!(per_job.iter().all(|o| o.as_u64().unwrap() > 0), "{r}");
        let sum: u64 = per_job.iter().map(|o| o.as_u64().unwrap()).sum();
        assert_eq!(sum, run["ops"].as_u64().unwrap(), "{r}");
        // The jobs ran on the runtime's two workers, and the process's
        // CPU time was measured.
        let threads = run["job_threads"].as_u64().unwrap() as usize;
        assert!((1..=n.min(2)).contains(&threads), "{r}");
        assert!(run["cpu_seconds"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["cpu_cores"].as_f64().unwrap() > 0.0, "{r}");
    }
    let ratios = doc["ratios"].as_array().unwrap();
    let names: Vec<&str> = ratios
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["rand-read-qd1", "rand-read-qd1-j2", "rand-read-qd1-j4"]
    );
    let out = nfsl(&["bench", &server.url(""), "--jobs", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--jobs"), "{err}");
    let out = nfsl(&["bench", &server.url(""), "--threads", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--threads"), "{err}");
}

#[test]
fn bench_rejects_bad_arguments_with_one_line() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    let out = nfsl(&["bench", &server.url(""), "--workloads", "scan"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a workload"), "{err}");
    let file = export.path().join("f");
    fs::write(&file, b"x").unwrap();
    let out = nfsl(&["bench", &server.url("/f"), "--size", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("must name a directory"),
        "{err}"
    );
}

#[test]
fn stats_shows_localio_active_against_nfsl_serve_and_inactive_when_off() {
    let export = tempdir();
    fs::write(export.path().join("data"), pseudo_random_bytes(100_000, 4)).unwrap();
    let server = NfslServer::start(export.path(), RW);
    let sock = server.localio_socket();
    let sock = sock.to_str().unwrap();
    let url = server.url("/data");

    let on = ok_text(&["stats", "--localio-socket", sock, &url]);
    assert!(on.contains("LOCALIO: active (localio=auto)"), "{on}");
    assert!(
        on.contains("read 65536 bytes of /data through LOCALIO"),
        "{on}"
    );
    assert_eq!(stats_row(&on, "read bytes"), (65536, 0), "{on}");
    assert!(on.contains("io_flusher granted/refused"), "{on}");

    let off = ok_text(&[
        "stats",
        "--localio-socket",
        sock,
        &format!("{url}&localio=off"),
    ]);
    assert!(off.contains("LOCALIO: inactive (localio=off)"), "{off}");
    assert!(off.contains("/data over RPC (no LOCALIO session)"), "{off}");
    assert_eq!(stats_row(&off, "read bytes"), (0, 65536), "{off}");

    // A directory is only mounted.
    let dir = ok_text(&["stats", "--localio-socket", sock, &server.url("")]);
    assert!(dir.contains("nothing read"), "{dir}");

    // Without LOCALIO on the server: inactive with auto, an error with on.
    let plain = NfslServer::start_with_args(export.path(), RW, &["--no-localio"]);
    let psock = plain.localio_socket();
    let psock = psock.to_str().unwrap();
    let auto = ok_text(&["stats", "--localio-socket", psock, &plain.url("/data")]);
    assert!(auto.contains("LOCALIO: inactive (localio=auto)"), "{auto}");
    assert!(auto.contains("not local: "), "{auto}");
    let out = nfsl(&[
        "stats",
        "--localio-socket",
        psock,
        &format!("{}&localio=on", plain.url("/data")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.lines().count() == 1, "{err}");
}

#[test]
fn demo_shows_network_and_localio_side_by_side() {
    let tmp = tempdir();
    let mut c = Command::new(env!("CARGO_BIN_EXE_nfsl"));
    c.args(["demo", "--size", "8M"]).env("TMPDIR", tmp.path());
    let out = run_peer(c);
    assert_success(&out, "nfsl demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[network] client counters: 0 bytes via LOCALIO"),
        "{text}"
    );
    assert!(
        text.contains("bytes via LOCALIO, 0 bytes via RPC"),
        "{text}"
    );
    let header = text
        .lines()
        .find(|l| l.starts_with("8.0M file"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        header.contains("network (NFSv3/TCP)") && header.contains("LOCALIO/network"),
        "{header}"
    );
    for row in ["write MB/s", "read MB/s"] {
        let line = text.lines().find(|l| l.starts_with(row)).unwrap();
        assert_eq!(line.split_whitespace().count(), 5, "{line}");
        assert!(line.trim_end().ends_with('x'), "{line}");
    }
    // The mount step: shown where FUSE mounts can be made, else skipped
    // with the reason.
    let mount_shown = text.contains("the daemon served 0 reads and 0 writes")
        && text.contains("[mount] nfsl umount");
    let skipped = text.contains("[mount] skipped: ");
    assert!(mount_shown || skipped, "{text}");
    if std::path::Path::new("/dev/fuse").exists() && rustix::process::geteuid().is_root() {
        assert!(mount_shown, "{text}");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn cp_reaches_a_server_s_own_socket_through_the_url() {
    let export = tempdir();
    let data = pseudo_random_bytes(300_000, 9);
    fs::write(export.path().join("src"), &data).unwrap();
    let server = NfslServer::start(export.path(), RW);
    let sock = server.localio_socket();
    let on = format!("&localio=on&localio-socket={}", sock.to_str().unwrap());
    let scratch = tempdir();
    let local = scratch.path().join("copy");
    let local = local.to_str().unwrap();
    // localio=on fails unless LOCALIO is active: the URL's socket was used.
    ok_text(&["cp", "-q", &format!("{}{on}", server.url("/src")), local]);
    assert!(fs::read(local).unwrap() == data);
    ok_text(&["cp", "-q", local, &format!("{}{on}", server.url("/back"))]);
    assert!(fs::read(export.path().join("back")).unwrap() == data);
    // Without it, the default socket is not this server's: one clear line.
    let out = nfsl(&[
        "cp",
        "-q",
        &format!("{}&localio=on", server.url("/src")),
        local,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("LOCALIO"), "{err}");
}

/// `nfsl serve` with its default LOCALIO socket and `XDG_RUNTIME_DIR` set
/// to `runtime`; returns the child and its port.
fn serve_with_default_socket(
    dir: &std::path::Path,
    runtime: &std::path::Path,
) -> (KillOnDrop, u16) {
    use std::io::BufRead;
    let state = tempdir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nfsl"))
        .args(["serve", dir.to_str().unwrap(), "-o", RW, "--port", "0"])
        .args(["--bind", "127.0.0.1", "--no-rpcbind", "--state-dir"])
        .arg(state.path())
        .env("XDG_RUNTIME_DIR", runtime)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    (KillOnDrop(child, state), port)
}

/// The server child (killed on drop) and its state directory (removed).
struct KillOnDrop(std::process::Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn clients_find_the_socket_without_sharing_an_environment() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: a root server's socket lives in /run/nfsl");
        return;
    }
    let export = tempdir();
    fs::write(export.path().join("data"), pseudo_random_bytes(100_000, 5)).unwrap();
    let (server_runtime, client_runtime) = (tempdir(), tempdir());
    let (_server, port) = serve_with_default_socket(export.path(), server_runtime.path());
    let url = format!(
        "nfs://127.0.0.1{}/data?version=3&nfsport={port}&mountport={port}",
        canonical(export.path())
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_nfsl"));
    c.args(["stats", &url])
        .env("XDG_RUNTIME_DIR", client_runtime.path());
    let out = run_peer(c);
    assert_success(&out, "nfsl stats");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("LOCALIO: active"), "{text}");
    assert!(text.contains("through LOCALIO"), "{text}");

    // A server that cannot be found says where it was looked for.
    let plain = NfslServer::start_with_args(export.path(), RW, &["--no-localio"]);
    let out = nfsl(&["stats", &plain.url("/data")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no LOCALIO socket for port"), "{text}");
    assert!(text.contains("/run/nfsl/localio-"), "{text}");
}
