//! `nfsl bench`'s report: the results table, the ratios (LOCALIO against
//! the local-file ceiling and against RPC, measured in the same run) and
//! the JSON document `--json` writes.

use std::fmt::Write as _;

use super::workload::Workload;
use super::{Measured, Mode, PathKind};
use crate::format::columns;

/// LOCALIO against its baselines for one workload and mode.
#[derive(Debug, Clone, Copy)]
pub struct Ratio {
    pub workload: Workload,
    pub mode: Mode,
    /// LOCALIO / the better of local pread and io_uring, same mode.
    pub over_ceiling: Option<f64>,
    /// LOCALIO / RPC (RPC's single mode: the server decides).
    pub over_rpc: Option<f64>,
}

/// The ratios for every workload and chosen mode that LOCALIO ran.
pub fn ratios(results: &[Measured]) -> Vec<Ratio> {
    let find = |w: &Workload, pred: &dyn Fn(&Measured) -> bool| {
        results
            .iter()
            .filter(|m| m.workload == *w && pred(m))
            .map(Measured::headline)
            .fold(None, |best: Option<f64>, v| {
                Some(best.map_or(v, |b| b.max(v)))
            })
    };
    let div = |a: f64, b: Option<f64>| b.filter(|b| *b > 0.0).map(|b| a / b);
    results
        .iter()
        .filter(|m| m.path == PathKind::Localio)
        .map(|l| {
            let ceiling = find(&l.workload, &|m| m.path.is_ceiling() && m.mode == l.mode);
            let rpc = find(&l.workload, &|m| m.path == PathKind::Rpc);
            Ratio {
                workload: l.workload,
                mode: l.mode,
                over_ceiling: div(l.headline(), ceiling),
                over_rpc: div(l.headline(), rpc),
            }
        })
        .collect()
}

fn micros(d: std::time::Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

fn ratio_cell(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

/// The table: one line per workload, mode and path.
pub fn table(results: &[Measured]) -> String {
    let mut rows = vec![[
        "workload", "mode", "path", "MB/s", "IOPS", "p50 us", "p99 us", "CPU",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    let per_job = results.iter().any(|m| m.workload.jobs > 1);
    if per_job {
        rows[0].push("IOPS per job".into());
    }
    for m in results {
        let mut row = vec![
            m.workload.to_string(),
            m.mode.key().into(),
            m.path.label().into(),
            format!("{:.0}", m.mb_per_sec()),
            format!("{:.0}", m.iops()),
            micros(m.latency(50.0)),
            micros(m.latency(99.0)),
            format!("{:.2}", m.cores()),
        ];
        if per_job {
            let (lo, hi) = m.job_iops_range();
            row.push(format!("{lo:.0}-{hi:.0}"));
        }
        rows.push(row);
    }
    let right = [false, false, false, true, true, true, true, true, true];
    let mut out: String = columns(&rows, &right[..rows[0].len()])
        .into_iter()
        .map(|l| l + "\n")
        .collect();
    out += "(CPU: cores the benchmark process kept busy, its CPU time over the \
            run's wall time; a server's CPU is not in it)\n";
    let ratios = ratios(results);
    if !ratios.is_empty() {
        let mut rows = vec![vec![
            "workload".to_string(),
            "mode".into(),
            "LOCALIO/ceiling".into(),
            "LOCALIO/RPC".into(),
        ]];
        for r in &ratios {
            rows.push(vec![
                r.workload.to_string(),
                r.mode.key().into(),
                ratio_cell(r.over_ceiling),
                ratio_cell(r.over_rpc),
            ]);
        }
        out.push('\n');
        out.extend(
            columns(&rows, &[false, false, true, true])
                .into_iter()
                .map(|l| l + "\n"),
        );
        out += "(ratios of IOPS for random workloads, of MB/s for sequential ones; \
                ceiling = the better of local pread and io_uring in the same mode; \
                RPC's IO mode is the server's)\n";
    }
    out
}

/// A JSON value, written by hand (the report needs nothing more).
pub enum Json {
    Null,
    Bool(bool),
    Int(u64),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn obj<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    fn opt_num(v: Option<f64>) -> Json {
        v.map_or(Json::Null, Json::Num)
    }

    /// Compact JSON text.
    pub fn render(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Num(x) if x.is_finite() => {
                let _ = write!(out, "{x}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.render(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    Json::Str(k.clone()).render(out);
                    out.push(':');
                    v.render(out);
                }
                out.push('}');
            }
        }
    }
}

/// One result as JSON: medians, percentiles and every run.
pub fn result_json(m: &Measured) -> Json {
    let us = |p: f64| Json::Num(m.latency(p).as_secs_f64() * 1e6);
    let runs = m
        .runs
        .iter()
        .map(|r| {
            Json::obj([
                ("ops", Json::Int(r.ops)),
                ("bytes", Json::Int(r.bytes)),
                ("seconds", Json::Num(r.elapsed.as_secs_f64())),
                ("mb_per_sec", Json::Num(r.mb_per_sec())),
                ("iops", Json::Num(r.iops())),
                ("cpu_seconds", Json::Num(r.cpu.as_secs_f64())),
                ("job_threads", Json::Int(r.threads as u64)),
                (
                    "job_ops",
                    Json::Arr(r.job_ops.iter().map(|&n| Json::Int(n)).collect()),
                ),
                (
                    "p50_us",
                    Json::Num(r.latencies.percentile(50.0).as_secs_f64() * 1e6),
                ),
                (
                    "p99_us",
                    Json::Num(r.latencies.percentile(99.0).as_secs_f64() * 1e6),
                ),
            ])
        })
        .collect();
    let client = !m.path.is_ceiling();
    Json::obj([
        ("path", Json::Str(m.path.key().into())),
        ("mode", Json::Str(m.mode.key().into())),
        ("workload", Json::Str(m.workload.name())),
        ("block_bytes", Json::Int(m.workload.block as u64)),
        ("queue_depth", Json::Int(m.workload.qd as u64)),
        ("jobs", Json::Int(m.workload.jobs as u64)),
        ("mb_per_sec", Json::Num(m.mb_per_sec())),
        ("iops", Json::Num(m.iops())),
        ("p50_us", us(50.0)),
        ("p99_us", us(99.0)),
        ("cpu_cores", Json::Num(m.cores())),
        (
            "client_local_ops",
            if client {
                Json::Int(m.local_ops)
            } else {
                Json::Null
            },
        ),
        (
            "client_rpc_ops",
            if client {
                Json::Int(m.rpc_ops)
            } else {
                Json::Null
            },
        ),
        ("runs", Json::Arr(runs)),
    ])
}

/// The ratios as JSON.
pub fn ratios_json(results: &[Measured]) -> Json {
    Json::Arr(
        ratios(results)
            .into_iter()
            .map(|r| {
                Json::obj([
                    ("workload", Json::Str(r.workload.name())),
                    ("mode", Json::Str(r.mode.key().into())),
                    ("localio_over_ceiling", Json::opt_num(r.over_ceiling)),
                    ("localio_over_rpc", Json::opt_num(r.over_rpc)),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::workload::{Latencies, Sample};
    use std::time::Duration;

    fn measured(path: PathKind, mode: Mode, w: &str, iops: u64) -> Measured {
        Measured {
            path,
            mode,
            workload: Workload::parse(w).unwrap(),
            runs: vec![Sample {
                ops: iops,
                bytes: iops * 4096,
                elapsed: Duration::from_secs(1),
                latencies: Latencies::from_unsorted(vec![1000, 2000]),
                job_ops: vec![iops],
                cpu: Duration::from_millis(500),
                threads: 1,
            }],
            local_ops: 0,
            rpc_ops: 0,
        }
    }

    #[test]
    fn ratios_use_the_best_ceiling_of_the_same_mode() {
        let r = [
            measured(PathKind::Pread, Mode::Direct, "rand-read", 100),
            measured(PathKind::Uring, Mode::Direct, "rand-read", 200),
            measured(PathKind::Uring, Mode::Buffered, "rand-read", 1000),
            measured(PathKind::Localio, Mode::Direct, "rand-read", 180),
            measured(PathKind::Rpc, Mode::Server, "rand-read", 60),
        ];
        let ratios = ratios(&r);
        assert_eq!(ratios.len(), 1);
        assert!((ratios[0].over_ceiling.unwrap() - 0.9).abs() < 1e-9);
        assert!((ratios[0].over_rpc.unwrap() - 3.0).abs() < 1e-9);
        let text = table(&r);
        assert!(text.contains("0.90x") && text.contains("3.00x"), "{text}");
    }

    #[test]
    fn json_escapes_and_nulls() {
        let mut s = String::new();
        Json::obj([
            ("a", Json::Str("x\"y\\\n\u{1}".into())),
            ("b", Json::Num(f64::NAN)),
            (
                "c",
                Json::Arr(vec![Json::Int(1), Json::Bool(true), Json::Null]),
            ),
        ])
        .render(&mut s);
        assert_eq!(s, r#"{"a":"x\"y\\\n\u0001","b":null,"c":[1,true,null]}"#);
    }
}
