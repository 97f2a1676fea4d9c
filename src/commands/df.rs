//! `nfsl df [-i] [--bytes] URL...`: an export's size, use and free space
//! (FSSTAT), in the form of `df -h`:
//!
//! ```text
//! Filesystem              Size  Used Avail Use%
//! 127.0.0.1:/srv/export   252G   27G   65G  30%
//! ```
//!
//! `Use%` is used / (used + available), rounded up, as `df` computes it.
//! `-i` shows file slots (inodes) instead; `--bytes` exact numbers.

use nfsl_client::FsStat;

use super::print_out;
use crate::endpoint::{ArgContext, Remote};
use crate::format::{columns, human_size};

/// Arguments of `nfsl df`.
#[derive(clap::Args)]
pub struct DfArgs {
    /// File slots (inodes) instead of bytes.
    #[arg(short = 'i', long = "inodes")]
    inodes: bool,
    /// Exact byte counts instead of K/M/G sizes.
    #[arg(long = "bytes", conflicts_with = "inodes")]
    bytes: bool,
    /// nfs://host/export?... (one or more).
    #[arg(required = true)]
    urls: Vec<String>,
}

pub async fn run(args: DfArgs) -> anyhow::Result<()> {
    let header = if args.inodes {
        ["Filesystem", "Inodes", "IUsed", "IFree", "IUse%"]
    } else {
        ["Filesystem", "Size", "Used", "Avail", "Use%"]
    };
    let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for url in &args.urls {
        let (name, st) = fs_stat(url).await.arg_context("df", url)?;
        rows.push(row(name, &st, &args));
    }
    let text: String = columns(&rows, &[false, true, true, true, true])
        .into_iter()
        .map(|l| l + "\n")
        .collect();
    print_out(&text)
}

async fn fs_stat(url: &str) -> anyhow::Result<(String, FsStat)> {
    let remote = Remote::connect_arg(url).await?;
    let st = remote.nfs.fs_stat().await?;
    Ok((format!("{}:{}", remote.url.host, remote.nfs.export()), st))
}

fn row(name: String, st: &FsStat, args: &DfArgs) -> Vec<String> {
    let (total, free, avail) = if args.inodes {
        (st.tfiles, st.ffiles, st.afiles)
    } else {
        (st.tbytes, st.fbytes, st.abytes)
    };
    let used = total.saturating_sub(free);
    let show = |n: u64| {
        if args.inodes || args.bytes {
            n.to_string()
        } else {
            human_size(n)
        }
    };
    vec![
        name,
        show(total),
        show(used),
        show(avail),
        use_percent(used, avail),
    ]
}

/// `df`'s Use%: used / (used + avail), rounded up; `-` when both are 0.
fn use_percent(used: u64, avail: u64) -> String {
    let denom = u128::from(used) + u128::from(avail);
    if denom == 0 {
        return "-".into();
    }
    let pct = (u128::from(used) * 100).div_ceil(denom);
    format!("{pct}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_percent_rounds_up_like_df() {
        assert_eq!(use_percent(0, 0), "-");
        assert_eq!(use_percent(0, 10), "0%");
        assert_eq!(use_percent(27, 65), "30%");
        assert_eq!(use_percent(1, 1000), "1%");
        assert_eq!(use_percent(10, 0), "100%");
    }
}
