//! Benchmark: nfsl's client (`nfsl cp`, the release binary) vs libnfs's
//! tools (`nfs-cat`, `nfs-cp`) reading and writing a 1 GiB file against
//! the same `nfsl serve` in the same run. Prints medians and ratios (this
//! machine is noisy: only ratios measured in one run mean anything).
//!
//! - read:  `nfsl cp URL /dev/null` vs `nfs-cat URL > /dev/null`
//!   (and, for reference, `nfsl cat URL > /dev/null`);
//! - write: `nfsl cp FILE URL` vs `nfs-cp FILE URL` to a new name each
//!   time (nfsl's cp only returns after COMMIT has made the data stable).
//!
//! nfsl's URLs carry `localio=off`: client and server share this host, so
//! nfsl would otherwise bypass RPC (LOCALIO) and this would not compare
//! two NFS clients over the network. One LOCALIO row per direction is
//! printed for reference (`localio=on`), outside the ratios.
//!
//! The runs alternate between the two clients after one warm-up each, so
//! drift in the machine's speed hits both alike.
//!
//! Run: `cargo bench --bench client_vs_libnfs` (needs libnfs-utils).
//! `NFSL_BENCH_MIB` sets the file size (default 1024),
//! `NFSL_BENCH_REPEATS` the timed repetitions (default 5).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{median, rate, shell, timed, url, Nfsl, Setup};

const NFSL: &str = env!("CARGO_BIN_EXE_nfsl");

/// The commands timed, by what they do.
struct Case {
    label: &'static str,
    run: Box<dyn Fn(usize) -> Duration>,
}

fn main() {
    let Some(Setup {
        mib,
        repeats,
        root,
        src,
    }) = Setup::new(
        "client_vs_libnfs",
        &["nfs-cp", "nfs-cat"],
        "libnfs-utils",
        5,
    )
    else {
        return;
    };
    let export = root.path().join("export");
    std::fs::create_dir(&export).unwrap();
    std::fs::copy(&src, export.join("source.bin")).unwrap();
    let export = export.canonicalize().unwrap();
    let server = Nfsl::start(&export, &root.path().join("state"));
    let port = server.1;
    let read_url = url(&export, "source.bin", port, port);
    let rpc_url = format!("{read_url}&localio=off");
    let local_url = format!("{read_url}&localio=on");
    let src_s = src.to_str().unwrap().to_string();

    let write_case = |label: &'static str, tool: &'static str, query: &'static str| {
        let (export, src) = (export.clone(), src_s.clone());
        Case {
            label,
            run: Box::new(move |i| {
                let name = format!("{tool}-written-{i}.bin");
                let mut c = Command::new(if tool == "nfsl" { NFSL } else { "nfs-cp" });
                if tool == "nfsl" {
                    c.args(["cp", "-q"]);
                }
                c.arg(&src)
                    .arg(format!("{}{query}", url(&export, &name, port, port)));
                let took = timed(c);
                check_and_remove(&export.join(&name), mib);
                took
            }),
        }
    };
    let reads = [
        Case {
            label: "nfsl cp URL /dev/null",
            run: Box::new({
                let u = rpc_url.clone();
                move |_| {
                    let mut c = Command::new(NFSL);
                    c.args(["cp", "-q", &u, "/dev/null"]);
                    timed(c)
                }
            }),
        },
        Case {
            label: "nfs-cat URL > /dev/null",
            run: Box::new({
                let u = read_url.clone();
                move |_| timed(shell(&format!("nfs-cat '{u}' > /dev/null")))
            }),
        },
        Case {
            label: "nfsl cat URL > /dev/null",
            run: Box::new({
                let u = rpc_url.clone();
                move |_| timed(shell(&format!("{NFSL} cat '{u}' > /dev/null")))
            }),
        },
        Case {
            label: "nfsl cp (LOCALIO) /dev/null",
            run: Box::new({
                let u = local_url.clone();
                move |_| {
                    let mut c = Command::new(NFSL);
                    c.args(["cp", "-q", &u, "/dev/null"]);
                    timed(c)
                }
            }),
        },
    ];
    let writes = [
        write_case("nfsl cp FILE URL", "nfsl", "&localio=off"),
        write_case("nfs-cp FILE URL", "libnfs", ""),
        write_case("nfsl cp FILE (LOCALIO)", "nfsl", "&localio=on"),
    ];
    let read_times = measure(&reads, repeats);
    let write_times = measure(&writes, repeats);
    drop(server);

    let bytes = (mib as f64) * 1024.0 * 1024.0;
    println!("client_vs_libnfs: {mib} MiB against nfsl serve, median of {repeats} (MB/s)");
    for (case, t) in reads.iter().zip(&read_times) {
        println!("  read   {:<28} {:>8.0}", case.label, rate(bytes, *t));
    }
    for (case, t) in writes.iter().zip(&write_times) {
        println!("  write  {:<28} {:>8.0}", case.label, rate(bytes, *t));
    }
    println!(
        "ratio nfsl/libnfs read:   {:.2}x (target >= 1.5x)",
        read_times[1].as_secs_f64() / read_times[0].as_secs_f64()
    );
    println!(
        "ratio nfsl/libnfs write:  {:.2}x (target >= 1.5x)",
        write_times[1].as_secs_f64() / write_times[0].as_secs_f64()
    );
}

/// One warm-up of each case, then `repeats` rounds running each case once
/// in turn; the median per case.
fn measure(cases: &[Case], repeats: usize) -> Vec<Duration> {
    for c in cases {
        (c.run)(0);
    }
    let mut times = vec![Vec::new(); cases.len()];
    for i in 1..=repeats {
        for (c, t) in cases.iter().zip(times.iter_mut()) {
            t.push((c.run)(i));
        }
    }
    times.into_iter().map(median).collect()
}

/// A written file must be complete; it is then removed (disk space).
fn check_and_remove(path: &Path, mib: usize) {
    let len = std::fs::metadata(path).unwrap().len();
    assert_eq!(len, (mib as u64) << 20, "{} is incomplete", path.display());
    std::fs::remove_file(path).unwrap();
}
