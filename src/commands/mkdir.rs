//! `nfsl mkdir [-p] [-m MODE] URL...`: creates directories (MKDIR). With
//! `-p`, missing parents are created too and an existing directory is not
//! an error. The mode defaults to 0777 less the umask, as for `mkdir`.

use super::mode::ModeSpec;
use crate::endpoint::{umask, ArgContext, Remote};

/// Arguments of `nfsl mkdir`.
#[derive(clap::Args)]
pub struct MkdirArgs {
    /// Make parent directories as needed; no error if it exists.
    #[arg(short = 'p', long = "parents")]
    parents: bool,
    /// Permission bits, octal (755) or symbolic as for chmod (u=rwx,g=rx),
    /// from a=rwx [default: 0777 less the umask].
    #[arg(short = 'm', long = "mode", value_parser = ModeSpec::parse)]
    mode: Option<ModeSpec>,
    /// nfs://host/export/dir?... (one or more).
    #[arg(required = true)]
    urls: Vec<String>,
}

pub async fn run(args: MkdirArgs) -> anyhow::Result<()> {
    let umask = umask();
    let mode = match &args.mode {
        Some(spec) => spec.apply(0o777, true, umask),
        None => 0o777 & !umask,
    };
    for url in &args.urls {
        mkdir_one(url, args.parents, mode)
            .await
            .arg_context("mkdir", url)?;
    }
    Ok(())
}

async fn mkdir_one(url: &str, parents: bool, mode: u32) -> anyhow::Result<()> {
    let remote = Remote::connect_arg(url).await?;
    if parents {
        remote.nfs.create_dir_all(&remote.path, mode).await?;
    } else {
        remote.nfs.mkdir(&remote.path, mode).await?;
    }
    Ok(())
}
