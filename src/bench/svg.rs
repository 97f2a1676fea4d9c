//! `nfsl bench --plot FILE.svg`: a horizontal bar chart, one group per
//! workload and mode, one bar per path, each group scaled to its best bar
//! (groups mix MB/s and IOPS), the value written beside each bar. Written
//! by hand: a few dozen lines of SVG need no plotting crate.

use std::fmt::Write as _;

use super::{Measured, Mode, PathKind};

const WIDTH: f64 = 900.0;
const LABEL_W: f64 = 250.0;
const BAR_H: f64 = 16.0;
const GROUP_GAP: f64 = 14.0;
const TOP: f64 = 56.0;

fn color(p: PathKind) -> &'static str {
    match p {
        PathKind::Pread => "#9e9e9e",
        PathKind::Uring => "#616161",
        PathKind::Localio => "#1e88e5",
        PathKind::Rpc => "#fb8c00",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart for `results` (in table order), titled `title`.
pub fn chart(results: &[Measured], title: &str) -> String {
    let mut groups: Vec<Vec<&Measured>> = Vec::new();
    for m in results {
        match groups.last_mut() {
            Some(g) if g[0].workload == m.workload && g[0].mode == m.mode => g.push(m),
            _ => groups.push(vec![m]),
        }
    }
    let bars: usize = groups.iter().map(Vec::len).sum();
    let height = TOP + bars as f64 * BAR_H + groups.len() as f64 * GROUP_GAP + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let mut x = 10.0;
    for p in PathKind::ALL {
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{}"/><text x="{}" y="43">{}</text>"#,
            color(p),
            x + 16.0,
            p.label()
        );
        x += 130.0;
    }
    let mut y = TOP;
    let bar_max = WIDTH - LABEL_W - 130.0;
    for g in &groups {
        let best = g.iter().map(|m| m.headline()).fold(0.0, f64::max);
        let w = &g[0].workload;
        let mode = match g[0].mode {
            Mode::Server => "RPC: the server decides",
            m => m.key(),
        };
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}">{} ({})</text>"#,
            y + BAR_H * g.len() as f64 / 2.0 + 4.0,
            escape(&w.to_string()),
            mode
        );
        for m in g {
            let v = m.headline();
            let len = if best > 0.0 { v / best * bar_max } else { 0.0 };
            let unit = if w.in_iops() { "IOPS" } else { "MB/s" };
            let _ = writeln!(
                s,
                r#"<rect x="{LABEL_W}" y="{y}" width="{len:.1}" height="{}" fill="{}"><title>{} {v:.0} {unit}</title></rect><text x="{:.1}" y="{}">{v:.0} {unit}</text>"#,
                BAR_H - 2.0,
                color(m.path),
                m.path.label(),
                LABEL_W + len + 4.0,
                y + BAR_H - 4.0,
            );
            y += BAR_H;
        }
        y += GROUP_GAP;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::workload::{Latencies, Sample, Workload};
    use std::time::Duration;

    #[test]
    fn the_chart_is_one_svg_with_a_bar_per_result() {
        let m = |path, mode| Measured {
            path,
            mode,
            workload: Workload::parse("seq-read").unwrap(),
            runs: vec![Sample {
                ops: 10,
                bytes: 10 << 20,
                elapsed: Duration::from_secs(1),
                latencies: Latencies::default(),
                job_ops: vec![10],
                cpu: Duration::ZERO,
                threads: 1,
            }],
            local_ops: 0,
            rpc_ops: 0,
        };
        let svg = chart(
            &[
                m(PathKind::Uring, Mode::Buffered),
                m(PathKind::Localio, Mode::Buffered),
                m(PathKind::Rpc, Mode::Server),
            ],
            "a <title>",
        );
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), 3);
        assert!(svg.contains("the server decides"));
        assert!(svg.contains("a &lt;title&gt;"));
    }
}
