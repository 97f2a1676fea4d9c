//! The machinery of `nfsl bench` (the command itself is
//! [`crate::commands::bench`]): workloads and their runner
//! ([`workload`]), the ways to reach the file ([`target`]), and the
//! report as a table, JSON ([`report`]) and an SVG chart ([`svg`]).

pub mod report;
pub mod svg;
pub mod target;
pub mod workload;

use std::time::Duration;

use workload::{Latencies, Sample, Workload};

/// How the benchmark reached the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathKind {
    /// The local file with pread/pwrite (ceiling).
    Pread,
    /// The local file with io_uring through `nfsl-io-engine` (ceiling).
    Uring,
    /// The NFS client with LOCALIO (`localio=on`).
    Localio,
    /// The NFS client over RPC on loopback (`localio=off`).
    Rpc,
}

impl PathKind {
    /// Every path, in the order runs and reports use.
    pub const ALL: [PathKind; 4] = [
        PathKind::Pread,
        PathKind::Uring,
        PathKind::Localio,
        PathKind::Rpc,
    ];

    /// The name in `--paths`, JSON and the chart's legend.
    pub fn key(self) -> &'static str {
        match self {
            PathKind::Pread => "pread",
            PathKind::Uring => "io_uring",
            PathKind::Localio => "localio",
            PathKind::Rpc => "rpc",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            PathKind::Pread => "local pread",
            PathKind::Uring => "local io_uring",
            PathKind::Localio => "LOCALIO",
            PathKind::Rpc => "RPC loopback",
        }
    }

    /// Parses a [`PathKind::key`].
    pub fn parse(s: &str) -> Option<PathKind> {
        PathKind::ALL.into_iter().find(|p| p.key() == s.trim())
    }

    /// Whether it reaches the local file directly (the ceiling).
    pub fn is_ceiling(self) -> bool {
        matches!(self, PathKind::Pread | PathKind::Uring)
    }
}

/// Buffered or direct IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Through the page cache (`direct=never` for LOCALIO).
    Buffered,
    /// `O_DIRECT` (`direct=always` for LOCALIO).
    Direct,
    /// RPC: the server decides how it does the IO (nfsl serve: buffered).
    Server,
}

impl Mode {
    /// The name in `--modes`, JSON and the table.
    pub fn key(self) -> &'static str {
        match self {
            Mode::Buffered => "buffered",
            Mode::Direct => "direct",
            Mode::Server => "server",
        }
    }

    /// Parses `buffered` or `direct` (the modes one chooses).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "buffered" => Some(Mode::Buffered),
            "direct" => Some(Mode::Direct),
            _ => None,
        }
    }
}

/// All repeats of one workload on one path in one mode.
#[derive(Debug, Clone)]
pub struct Measured {
    pub path: PathKind,
    pub mode: Mode,
    pub workload: Workload,
    pub runs: Vec<Sample>,
    /// Client requests that went through LOCALIO and over RPC during the
    /// runs (client paths only): shows the path really taken.
    pub local_ops: u64,
    pub rpc_ops: u64,
}

impl Measured {
    /// Median throughput over the runs, MB/s.
    pub fn mb_per_sec(&self) -> f64 {
        median(self.runs.iter().map(Sample::mb_per_sec).collect())
    }

    /// Median requests per second over the runs.
    pub fn iops(&self) -> f64 {
        median(self.runs.iter().map(Sample::iops).collect())
    }

    /// The figure that tells the workload: IOPS for small random IO, MB/s
    /// otherwise.
    pub fn headline(&self) -> f64 {
        if self.workload.in_iops() {
            self.iops()
        } else {
            self.mb_per_sec()
        }
    }

    /// The slowest and the fastest job's IOPS, medians over the runs.
    pub fn job_iops_range(&self) -> (f64, f64) {
        let (lo, hi): (Vec<f64>, Vec<f64>) = self.runs.iter().map(Sample::job_iops_range).unzip();
        (median(lo), median(hi))
    }

    /// Cores the benchmark process kept busy, median over the runs.
    pub fn cores(&self) -> f64 {
        median(self.runs.iter().map(Sample::cores).collect())
    }

    /// Latency percentile over every request of every run.
    pub fn latency(&self, p: f64) -> Duration {
        Latencies::merged(self.runs.iter().map(|r| &r.latencies)).percentile(p)
    }
}

/// The median (mean of the middle two for an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_keys() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        for p in PathKind::ALL {
            assert_eq!(PathKind::parse(p.key()), Some(p));
        }
        assert_eq!(Mode::parse("direct"), Some(Mode::Direct));
        assert_eq!(Mode::parse("server"), None);
    }
}
