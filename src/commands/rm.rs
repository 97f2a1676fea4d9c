//! `nfsl rm [-r] [-f] URL...`: removes files (REMOVE), and with `-r`
//! directories and everything in them (RMDIR after emptying). Without
//! `-r` a directory is refused, as by `rm`; `-f` makes a missing file no
//! error. The export's root itself is never removed.

use nfsl_client::ErrorKind;

use crate::endpoint::{ArgContext, Remote};

/// Arguments of `nfsl rm`.
#[derive(clap::Args)]
pub struct RmArgs {
    /// Remove directories and their contents.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// Ignore missing files.
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// nfs://host/export/path?... (one or more).
    #[arg(required = true)]
    urls: Vec<String>,
}

pub async fn run(args: RmArgs) -> anyhow::Result<()> {
    for url in &args.urls {
        rm_one(url, &args).await.arg_context("rm", url)?;
    }
    Ok(())
}

async fn rm_one(url: &str, args: &RmArgs) -> anyhow::Result<()> {
    let remote = Remote::connect_arg(url).await?;
    if remote.path == "/" {
        anyhow::bail!("refusing to remove the export's root");
    }
    let meta = match remote.nfs.stat(&remote.path).await {
        Ok(m) => m,
        Err(e) if args.force && e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if meta.is_dir() {
        if !args.recursive {
            anyhow::bail!("is a directory (use -r)");
        }
        remote.nfs.remove_dir_all(&remote.path).await?;
    } else {
        remote.nfs.remove_file(&remote.path).await?;
    }
    Ok(())
}
