//! `nfsl stats [--localio-socket PATH] URL`: mounts the export, lets the
//! client probe LOCALIO as the URL says (`localio=auto|on|off`, default
//! auto; `on` fails when the server is not on this host), and prints the
//! client's counters: whether LOCALIO is active, ops and bytes through
//! LOCALIO and RPC, direct vs buffered bytes, misaligned splits, fallbacks,
//! probes, and whether the IO engine's workers became IO flushers.
//!
//! It runs nothing heavy: when the URL names a regular file it reads its
//! first 64 KiB, once, so the counters show the path that read took (a
//! directory is only mounted). The counters belong to this command's own
//! mount: they describe what this client did, not the server's totals.

use std::path::PathBuf;

use anyhow::Context;
use nfsl_client::{ClientStats, LocalioMode, OpenOptions};

use super::print_out;
use crate::endpoint::{parse_url, ArgContext, Remote};
use crate::format::columns;

/// Bytes `nfsl stats` reads from a file URL to exercise the data path.
const PROBE_READ: usize = 64 << 10;

/// Arguments of `nfsl stats`.
#[derive(clap::Args)]
pub struct StatsArgs {
    /// The server's LOCALIO socket [default: where a server run by root or
    /// by this user puts it: /run/nfsl/localio-PORT.sock, then
    /// $XDG_RUNTIME_DIR (or /run/user/UID)/nfsl/localio-PORT.sock].
    #[arg(long, value_name = "PATH")]
    pub localio_socket: Option<PathBuf>,
    /// nfs://host/export[/file]?... (a file is read: its first 64 KiB), or
    /// the mount point of an `nfsl mount` (its daemon's counters).
    pub url: String,
}

pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    if !crate::endpoint::is_url(&args.url) {
        // A mount point of `nfsl mount`: its daemon's counters.
        let text = crate::mount::runtime::mount_path(std::path::Path::new(&args.url))
            .and_then(|mp| crate::mount::mount_stats(&mp))
            .arg_context("stats", &args.url)?;
        return print_out(&text);
    }
    let text = stats(&args).await.arg_context("stats", &args.url)?;
    print_out(&text)
}

async fn stats(args: &StatsArgs) -> anyhow::Result<String> {
    let url = parse_url(&args.url)?;
    let remote = Remote::connect_localio(&url, args.localio_socket.clone()).await?;
    let meta = remote.nfs.stat(&remote.path).await?;
    let mut read_note = String::from("nothing read (the URL names a directory)");
    if meta.is_file() {
        let file = remote
            .nfs
            .open(&remote.path, &OpenOptions::new().read(true))
            .await?;
        let mut buf = vec![0u8; PROBE_READ];
        let n = file.read_at(&mut buf, 0).await.context("reading")?;
        file.close().await?;
        let s = remote.nfs.stats();
        read_note = format!("read {n} bytes of {} {}", remote.path, read_route(&s));
    }
    let s = remote.nfs.stats();
    let mode = url.localio.unwrap_or(LocalioMode::Auto);
    let mut out = format!(
        "server:  {}:{} export {}\n",
        url.host,
        url.nfs_port.map_or("-".into(), |p| p.to_string()),
        remote.nfs.export()
    );
    out += &format!("LOCALIO: {} (localio={})\n", active_word(&s), mode.as_str());
    if !s.local_active && mode != LocalioMode::Off {
        // Ask once more to say why: the mount stays on RPC either way.
        if let Err(why) = remote
            .nfs
            .localio_probe(args.localio_socket.as_deref())
            .await
        {
            out += &format!("         not local: {why}\n");
        }
    }
    out += &format!("probe:   {read_note}\n\n");
    out += &format_counters(&s);
    Ok(out)
}

fn active_word(s: &ClientStats) -> &'static str {
    if s.local_active {
        "active"
    } else {
        "inactive"
    }
}

/// Which way the probe read went, and why it was not LOCALIO when the
/// session is: a session alone does not mean a file's IO is local.
fn read_route(s: &ClientStats) -> &'static str {
    if s.local_reads > 0 {
        "through LOCALIO"
    } else if s.localio_denied > 0 {
        "over RPC: the server refused to open this file for LOCALIO (the export's rules: nolocalio, squashing, permissions)"
    } else if s.localio_fallbacks > 0 {
        "over RPC: LOCALIO failed and fell back (it re-probes later)"
    } else if s.local_active {
        "over RPC"
    } else {
        "over RPC (no LOCALIO session)"
    }
}

/// The client's counters as `name value` pairs, in the order printed and
/// written to JSON.
pub fn counter_list(s: &ClientStats) -> Vec<(&'static str, u64)> {
    vec![
        ("local_reads", s.local_reads),
        ("local_read_bytes", s.local_read_bytes),
        ("local_readahead_reads", s.local_readahead_reads),
        ("local_writes", s.local_writes),
        ("local_write_bytes", s.local_write_bytes),
        ("local_commits", s.local_commits),
        ("rpc_reads", s.rpc_reads),
        ("rpc_read_bytes", s.rpc_read_bytes),
        ("rpc_writes", s.rpc_writes),
        ("rpc_write_bytes", s.rpc_write_bytes),
        ("rpc_commits", s.commits),
        ("direct_bytes", s.direct_bytes),
        ("buffered_bytes", s.buffered_bytes),
        ("local_cached_reads", s.local_cached_reads),
        ("local_uncached_reads", s.local_uncached_reads),
        ("misaligned_splits", s.misaligned_splits),
        ("localio_opens", s.localio_opens),
        ("localio_denied", s.localio_denied),
        ("localio_fallbacks", s.localio_fallbacks),
        ("localio_probes", s.localio_probes),
        ("localio_reprobes", s.localio_reprobes),
        ("io_flusher_granted", s.io_flusher_granted),
        ("io_flusher_refused", s.io_flusher_refused),
        ("rpc_calls", s.calls),
        ("retransmissions", s.retransmissions),
        ("connects", s.connects),
        ("timeouts", s.timeouts),
    ]
}

/// Several mounts' counters side by side: one column per `(title,
/// counters)`, one row per counter of [`counter_list`] (its JSON names).
pub fn format_counter_columns(mounts: &[(&str, &ClientStats)]) -> String {
    let mut header = vec![String::new()];
    header.extend(mounts.iter().map(|(title, _)| title.to_string()));
    let mut active = vec!["local_active".to_string()];
    active.extend(
        mounts
            .iter()
            .map(|(_, s)| if s.local_active { "yes" } else { "no" }.to_string()),
    );
    let mut rows = vec![header, active];
    let lists: Vec<_> = mounts.iter().map(|(_, s)| counter_list(s)).collect();
    for (i, (name, _)) in lists
        .first()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let mut row = vec![name.to_string()];
        row.extend(lists.iter().map(|l| l[i].1.to_string()));
        rows.push(row);
    }
    let mut right = vec![false];
    right.extend(mounts.iter().map(|_| true));
    columns(&rows, &right)
        .into_iter()
        .map(|l| l + "\n")
        .collect()
}

/// The counters as a small report: LOCALIO vs RPC side by side, then the
/// local path's details and the RPC connection's.
pub fn format_counters(s: &ClientStats) -> String {
    let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let n = |v: u64| v.to_string();
    let mut rows = vec![
        row(&["", "LOCALIO", "RPC"]),
        vec!["reads".into(), n(s.local_reads), n(s.rpc_reads)],
        vec![
            "read bytes".into(),
            n(s.local_read_bytes),
            n(s.rpc_read_bytes),
        ],
        vec!["writes".into(), n(s.local_writes), n(s.rpc_writes)],
        vec![
            "write bytes".into(),
            n(s.local_write_bytes),
            n(s.rpc_write_bytes),
        ],
        vec!["commits".into(), n(s.local_commits), n(s.commits)],
    ];
    let mut text: String = columns(&rows, &[false, true, true])
        .into_iter()
        .map(|l| l + "\n")
        .collect();
    rows = vec![
        vec!["direct bytes".into(), n(s.direct_bytes)],
        vec!["buffered bytes".into(), n(s.buffered_bytes)],
        vec![
            "reads done from cache in the caller".into(),
            n(s.local_cached_reads),
        ],
        vec![
            "reads sent to IO workers (not cached)".into(),
            n(s.local_uncached_reads),
        ],
        vec!["misaligned splits".into(), n(s.misaligned_splits)],
        vec!["reads read ahead".into(), n(s.local_readahead_reads)],
        vec!["LOCALIO opens".into(), n(s.localio_opens)],
        vec!["LOCALIO opens denied".into(), n(s.localio_denied)],
        vec!["fallbacks to RPC".into(), n(s.localio_fallbacks)],
        vec!["probes".into(), n(s.localio_probes)],
        vec!["re-probes".into(), n(s.localio_reprobes)],
        vec![
            "io_flusher granted/refused".into(),
            format!("{}/{}", s.io_flusher_granted, s.io_flusher_refused),
        ],
        vec!["RPC calls".into(), n(s.calls)],
        vec!["retransmissions".into(), n(s.retransmissions)],
        vec!["connects".into(), n(s.connects)],
        vec!["timeouts".into(), n(s.timeouts)],
    ];
    text.push('\n');
    text.extend(columns(&rows, &[false, true]).into_iter().map(|l| l + "\n"));
    text
}
