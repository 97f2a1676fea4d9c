//! `nfsl bench URL`: the same workloads through (a) the local file directly
//! (pread/pwrite and io_uring: the ceiling), (b) LOCALIO (`localio=on`) and
//! (c) RPC over loopback (`localio=off`), buffered and `O_DIRECT`
//! (`direct=never|always` for LOCALIO; RPC's server decides), `--jobs`
//! streams at a time, each a task of its own (on the one thread every
//! `nfsl` command runs on, or with `--threads N` on a multi-threaded
//! runtime, so the jobs and the client's connections can use N cores), each path first reading the whole file once (so no
//! path is timed on a colder file), then per workload a warm-up and
//! `--repeats` timed runs, interleaved across paths so drift hits them
//! alike. Prints throughput, IOPS, p50/p99 latency and the
//! ratios; `--json` writes everything, `--plot` an SVG chart.
//!
//! URL names a directory in the export; the benchmark creates
//! `.nfsl-bench-PID.dat` of `--size` MiB there (through RPC) and removes it
//! at the end, also on error or Ctrl-C. The local ceiling needs the same
//! file on this host: the URL's path (the server's path) must be it, which
//! is checked by content; otherwise (a) is skipped, saying so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use nfsl_client::{ClientStats, DirectPolicy, LocalioMode, NfsUrl, OpenOptions};

use super::print_out;
use super::stats::{counter_list, format_counter_columns};
use crate::bench::report::{ratios_json, result_json, table, Json};
use crate::bench::target::{Client, Pread, Uring};
use crate::bench::workload::{self, Op, Target, Workload};
use crate::bench::{svg, Measured, Mode, PathKind};
use crate::endpoint::{join, parse_url, Remote};

/// Arguments of `nfsl bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// nfs://host/export/dir?... (a directory the benchmark may write in).
    pub url: String,
    /// Size of the benchmark file in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub size: u64,
    /// Seconds per timed run.
    #[arg(long, default_value_t = 1.0)]
    pub time: f64,
    /// Timed runs per workload, path and mode (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeats: u32,
    /// Write every result as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a bar chart (SVG) to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Workloads: seq-read, seq-write, rand-read, rand-write, each with an
    /// optional -qdN (comma-separated).
    #[arg(long, default_value = Workload::DEFAULT)]
    pub workloads: String,
    /// Concurrent jobs (streams), each over its own region of the file
    /// with the workload's queue depth; a comma-separated list runs every
    /// workload at each count (e.g. 1,2,4). Jobs are tasks on the
    /// runtime's `--threads`, every path's alike; the client paths' jobs
    /// share one mount, as threads of one application would; pread
    /// (synchronous) runs only at queue depth 1.
    #[arg(long, default_value = "1")]
    pub jobs: String,
    /// Threads that run the jobs and the client: 1 (default) is the
    /// single-threaded runtime every `nfsl` command runs on; more is a
    /// multi-threaded runtime with that many workers, so jobs can use
    /// several cores (`--jobs` scaling; every path runs alike).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Paths: pread, io_uring, localio, rpc (comma-separated).
    #[arg(long, default_value = "pread,io_uring,localio,rpc")]
    pub paths: String,
    /// IO modes for the local paths: buffered, direct (comma-separated).
    #[arg(long, default_value = "buffered,direct")]
    pub modes: String,
    /// The server's LOCALIO socket [default: as `nfsl serve` for the port].
    #[arg(long, value_name = "PATH")]
    pub localio_socket: Option<PathBuf>,
}

/// What the command line asks for, parsed.
struct Plan {
    workloads: Vec<Workload>,
    paths: Vec<PathKind>,
    modes: Vec<Mode>,
    size: u64,
    time: Duration,
    warmup: Duration,
    repeats: u32,
}

fn plan(args: &BenchArgs) -> anyhow::Result<Plan> {
    let list = |s: &str| {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let jobs = list(&args.jobs)
        .iter()
        .map(|j| match j.trim().parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(anyhow::anyhow!(
                "--jobs: {j:?} is not a number of jobs 1..=64"
            )),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if jobs.is_empty() {
        anyhow::bail!("--jobs must name at least one count");
    }
    let workloads = Workload::parse_list(&args.workloads)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .flat_map(|w| jobs.iter().map(move |&j| w.with_jobs(j)))
        .collect();
    let paths = list(&args.paths)
        .iter()
        .map(|p| {
            PathKind::parse(p).ok_or_else(|| {
                anyhow::anyhow!("--paths: {p:?} is not pread, io_uring, localio or rpc")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let modes = list(&args.modes)
        .iter()
        .map(|m| {
            Mode::parse(m)
                .ok_or_else(|| anyhow::anyhow!("--modes: {m:?} is not buffered or direct"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if paths.is_empty() || modes.is_empty() {
        anyhow::bail!("--paths and --modes must name at least one");
    }
    if !(args.time.is_finite() && args.time > 0.0 && args.time <= 3600.0) {
        anyhow::bail!("--time must be more than 0 and at most 3600 seconds");
    }
    let time = Duration::from_secs_f64(args.time);
    Ok(Plan {
        workloads,
        paths,
        modes,
        size: args.size << 20,
        time,
        warmup: (time / 4).min(Duration::from_secs(1)),
        repeats: args.repeats,
    })
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let plan = plan(&args)?;
    let url = parse_url(&args.url).with_context(|| format!("bench {}", args.url))?;
    let rpc = mount(&url, LocalioMode::Off, None, args.localio_socket.clone())
        .await
        .with_context(|| format!("bench {}", args.url))?;
    let name = format!(".nfsl-bench-{}.dat", std::process::id());
    let nfs_path = join(&rpc.path, &name);
    let outcome = tokio::select! {
        r = bench(&args, &plan, &url, &rpc, &name, &nfs_path) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let removed = rpc.nfs.remove_file(&nfs_path).await;
    let text = outcome.with_context(|| format!("bench {}", args.url))?;
    if let Err(e) = removed {
        if !e.is(nfsl_client::ErrorKind::NotFound) {
            return Err(anyhow::Error::new(e).context(format!("removing {nfs_path}")));
        }
    }
    print_out(&text)
}

/// Mounts with LOCALIO `mode` and (for LOCALIO) direct policy `direct`.
async fn mount(
    url: &NfsUrl,
    mode: LocalioMode,
    direct: Option<DirectPolicy>,
    socket: Option<PathBuf>,
) -> anyhow::Result<Remote> {
    let mut url = url.clone();
    url.localio = Some(mode);
    url.direct = direct;
    Remote::connect_localio(&url, socket).await
}

fn say(text: &str) {
    eprintln!("nfsl bench: {text}");
}

async fn bench(
    args: &BenchArgs,
    plan: &Plan,
    url: &NfsUrl,
    rpc: &Remote,
    name: &str,
    nfs_path: &str,
) -> anyhow::Result<String> {
    let meta = rpc.nfs.stat(&rpc.path).await?;
    if !meta.is_dir() {
        anyhow::bail!("the URL must name a directory to create the benchmark file in");
    }
    let stamp = prepare(rpc, nfs_path, plan.size).await?;
    let local = local_file(url, name, &stamp);
    if local.is_none() && plan.paths.iter().any(|p| p.is_ceiling()) {
        say(&format!(
            "skipping the local-file ceiling: {} is not this host's copy of the file",
            Path::new(&url.path).join(name).display()
        ));
    }
    let mut results = Vec::new();
    // Each mount's counters after its runs: (JSON key, column title, stats).
    let mut mounts: Vec<(String, String, ClientStats)> = Vec::new();
    for &mode in &plan.modes {
        let mut set = PathSet::default();
        for &p in &plan.paths {
            match p {
                PathKind::Pread => {
                    if let Some(l) = &local {
                        set.pread =
                            usable(p, mode, Pread::open(l, mode == Mode::Direct)).map(Arc::new);
                    }
                }
                PathKind::Uring => {
                    if let Some(l) = &local {
                        set.uring =
                            usable(p, mode, Uring::open(l, direct_policy(mode))).map(Arc::new);
                    }
                }
                PathKind::Localio => {
                    let m = mount(
                        url,
                        LocalioMode::On,
                        Some(direct_policy(mode)),
                        args.localio_socket.clone(),
                    )
                    .await;
                    match m {
                        Ok(r) => set.localio = Some(open_client(&r, nfs_path).await?),
                        Err(e) => say(&format!("skipping LOCALIO ({}): {e:#}", mode.key())),
                    }
                }
                PathKind::Rpc => {}
            }
        }
        set.warm(plan.size).await?;
        for w in &plan.workloads {
            results.extend(set.run(w, mode, plan).await?);
        }
        if let Some(l) = &set.localio {
            mounts.push((
                format!("localio_{}", mode.key()),
                format!("LOCALIO {}", mode.key()),
                l.nfs.stats(),
            ));
        }
    }
    if plan.paths.contains(&PathKind::Rpc) {
        // A mount of its own, so its counters are the runs' alone (not
        // the writing of the benchmark file).
        let runs = mount(url, LocalioMode::Off, None, args.localio_socket.clone()).await?;
        let mut set = PathSet {
            rpc: Some(open_client(&runs, nfs_path).await?),
            ..PathSet::default()
        };
        set.warm(plan.size).await?;
        for w in &plan.workloads {
            results.extend(set.run(w, Mode::Server, plan).await?);
        }
        set.rpc.take();
        mounts.push(("rpc".into(), "RPC".into(), runs.nfs.stats()));
    }
    results.sort_by_key(|m| {
        (
            plan.workloads.iter().position(|w| *w == m.workload),
            m.mode,
            m.path,
        )
    });
    let title = format!(
        "nfsl bench: {} MiB file, {} run(s) of {:.1} s",
        plan.size >> 20,
        plan.repeats,
        plan.time.as_secs_f64()
    );
    let mut text = format!("{title}\n\n{}", table(&results));
    if !mounts.is_empty() {
        text += "\nClient counters, one column per mount:\n";
        let columns: Vec<_> = mounts
            .iter()
            .map(|(_, title, s)| (title.as_str(), s))
            .collect();
        text += &format_counter_columns(&columns);
    }
    if let Some(file) = &args.plot {
        std::fs::write(file, svg::chart(&results, &title))
            .with_context(|| format!("writing {}", file.display()))?;
    }
    if let Some(file) = &args.json {
        let doc = Json::obj([
            ("url", Json::Str(url.to_string())),
            ("file_bytes", Json::Int(plan.size)),
            ("seconds_per_run", Json::Num(plan.time.as_secs_f64())),
            ("repeats", Json::Int(u64::from(plan.repeats))),
            (
                "local_file",
                local
                    .as_ref()
                    .map_or(Json::Null, |l| Json::Str(l.display().to_string())),
            ),
            (
                "results",
                Json::Arr(results.iter().map(result_json).collect()),
            ),
            ("ratios", ratios_json(&results)),
            (
                "client_stats",
                Json::Obj(
                    mounts
                        .iter()
                        .map(|(key, _, s)| (key.clone(), stats_json(s)))
                        .collect(),
                ),
            ),
        ]);
        let mut out = String::new();
        doc.render(&mut out);
        out.push('\n');
        std::fs::write(file, out).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(text)
}

/// One mount's counters as a JSON object.
fn stats_json(s: &ClientStats) -> Json {
    let mut pairs = vec![("local_active", Json::Bool(s.local_active))];
    pairs.extend(counter_list(s).into_iter().map(|(k, v)| (k, Json::Int(v))));
    Json::obj(pairs)
}

/// A ceiling target, or `None` after saying why it is skipped (e.g. a
/// file system without `O_DIRECT`).
fn usable<T>(p: PathKind, mode: Mode, opened: anyhow::Result<T>) -> Option<T> {
    opened
        .map_err(|e| say(&format!("skipping {} ({}): {e:#}", p.label(), mode.key())))
        .ok()
}

fn direct_policy(mode: Mode) -> DirectPolicy {
    match mode {
        Mode::Direct => DirectPolicy::Always,
        _ => DirectPolicy::Never,
    }
}

async fn open_client(r: &Remote, path: &str) -> anyhow::Result<ClientFile> {
    let opts = OpenOptions::new().read(true).write(true);
    Ok(ClientFile {
        nfs: r.nfs.clone(),
        target: Arc::new(Client {
            file: r.nfs.open(path, &opts).await?,
            held: Default::default(),
        }),
    })
}

/// A client path's file and its mount (for the counters).
struct ClientFile {
    nfs: nfsl_client::Nfs,
    target: Arc<Client>,
}

/// The targets open for one mode.
#[derive(Default)]
struct PathSet {
    pread: Option<Arc<Pread>>,
    uring: Option<Arc<Uring>>,
    localio: Option<ClientFile>,
    rpc: Option<ClientFile>,
}

impl PathSet {
    /// Reads the whole file once through every open target, untimed, so
    /// that none is timed on a colder file than another.
    async fn warm(&self, size: u64) -> anyhow::Result<()> {
        if let Some(t) = &self.pread {
            workload::warm(&**t, size).await.context("warming pread")?;
        }
        if let Some(t) = &self.uring {
            workload::warm(&**t, size)
                .await
                .context("warming io_uring")?;
        }
        for c in [&self.localio, &self.rpc].into_iter().flatten() {
            workload::warm(&*c.target, size)
                .await
                .context("warming the client")?;
        }
        Ok(())
    }

    /// Runs `w` on every open target: a warm-up each, then the repeats
    /// round-robin across targets.
    async fn run(
        &mut self,
        w: &Workload,
        mode: Mode,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Measured>> {
        let mut out: Vec<Measured> = Vec::new();
        for rep in 0..=plan.repeats {
            let (time, warm) = if rep == 0 {
                (plan.warmup, true)
            } else {
                (plan.time, false)
            };
            let round = Round {
                w,
                mode,
                size: plan.size,
                time,
                seed: u64::from(rep) * 7919 + w.qd as u64 + ((w.jobs as u64) << 16),
                warm,
            };
            // pread is synchronous: one request in flight per job.
            if let (Some(t), 1) = (&self.pread, w.qd) {
                round.run(&mut out, PathKind::Pread, t, None).await?;
            }
            if let Some(t) = &self.uring {
                round.run(&mut out, PathKind::Uring, t, None).await?;
            }
            if let Some(c) = &self.localio {
                let (t, nfs) = (&c.target, Some(&c.nfs));
                round.run(&mut out, PathKind::Localio, t, nfs).await?;
            }
            if let Some(c) = &self.rpc {
                let (t, nfs) = (&c.target, Some(&c.nfs));
                round.run(&mut out, PathKind::Rpc, t, nfs).await?;
            }
        }
        for m in &out {
            if m.path == PathKind::Localio && m.rpc_ops > 0 {
                say(&format!(
                    "warning: {} {}: {} of {} client requests went over RPC (LOCALIO fell back)",
                    w.name(),
                    mode.key(),
                    m.rpc_ops,
                    m.rpc_ops + m.local_ops
                ));
            }
        }
        Ok(out)
    }
}

/// One round of a workload: what every target runs in it.
struct Round<'a> {
    w: &'a Workload,
    mode: Mode,
    /// The benchmark file's size.
    size: u64,
    time: Duration,
    seed: u64,
    /// The warm-up round, not recorded.
    warm: bool,
}

impl Round<'_> {
    /// Runs the round on `t` (the `path` target; `nfs`: its mount, for
    /// the counters) and records it in `out` unless it is the warm-up.
    async fn run<T: Target + Send + Sync + 'static>(
        &self,
        out: &mut Vec<Measured>,
        path: PathKind,
        t: &Arc<T>,
        nfs: Option<&nfsl_client::Nfs>,
    ) -> anyhow::Result<()> {
        let w = self.w;
        let before = nfs.map(|n| n.stats());
        let sample = workload::run(t, w, self.size, self.time, self.seed)
            .await
            .with_context(|| format!("{} {} {}", w.name(), self.mode.key(), path.label()))?;
        if self.warm {
            return Ok(());
        }
        let i = match out.iter().position(|m| m.path == path) {
            Some(i) => i,
            None => {
                out.push(Measured {
                    path,
                    mode: self.mode,
                    workload: *w,
                    runs: Vec::new(),
                    local_ops: 0,
                    rpc_ops: 0,
                });
                out.len() - 1
            }
        };
        let m = &mut out[i];
        if let (Some(b), Some(n)) = (before, nfs) {
            let a = n.stats();
            let (local, rpc) = match w.op {
                Op::Read => (a.local_reads - b.local_reads, a.rpc_reads - b.rpc_reads),
                Op::Write => (a.local_writes - b.local_writes, a.rpc_writes - b.rpc_writes),
            };
            m.local_ops += local;
            m.rpc_ops += rpc;
        }
        m.runs.push(sample);
        Ok(())
    }
}

/// Creates the benchmark file through RPC: `size` bytes of pseudo-random
/// data whose first 4 KiB are a per-run stamp (to recognise the local
/// copy), then COMMIT. Returns the stamp.
async fn prepare(rpc: &Remote, path: &str, size: u64) -> anyhow::Result<Vec<u8>> {
    say(&format!("writing a {} MiB file over RPC", size >> 20));
    let opts = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644);
    let file = rpc.nfs.open(path, &opts).await?;
    let mut state = u64::from(std::process::id()) ^ rand_seed();
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^ (z >> 27)
    };
    let chunk = 1usize << 20;
    let mut stamp = Vec::new();
    let mut offset = 0u64;
    while offset < size {
        let n = chunk.min((size - offset) as usize);
        let mut data = Vec::with_capacity(n);
        while data.len() < n {
            data.extend_from_slice(&next().to_le_bytes());
        }
        data.truncate(n);
        if offset == 0 {
            stamp = data[..n.min(4096)].to_vec();
        }
        file.write_at_bytes(Bytes::from(data), offset).await?;
        offset += n as u64;
    }
    file.close().await.context("COMMIT of the benchmark file")?;
    Ok(stamp)
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The benchmark file's path on this host, if the URL's path is this
/// host's export and the file there carries this run's stamp.
fn local_file(url: &NfsUrl, name: &str, stamp: &[u8]) -> Option<PathBuf> {
    use std::os::unix::fs::FileExt;
    let path = Path::new(&url.path).join(name);
    let f = std::fs::File::open(&path).ok()?;
    let mut head = vec![0u8; stamp.len()];
    f.read_exact_at(&mut head, 0).ok()?;
    (head == stamp).then_some(path)
}
