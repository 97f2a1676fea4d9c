//! `nfsl cat URL...`: each file's bytes to stdout, in order, streamed in
//! chunks (memory stays bounded whatever the size). A closed pipe ends the
//! command quietly, as for `cat`.

use std::sync::{Arc, Mutex};

use nfsl_client::OpenOptions;

use crate::endpoint::{ArgContext, Remote};
use crate::progress::Progress;
use crate::transfer::{copy, NfsReader, StreamWriter};

/// Arguments of `nfsl cat`.
#[derive(clap::Args)]
pub struct CatArgs {
    /// nfs://host/export/file?... (one or more).
    #[arg(required = true)]
    urls: Vec<String>,
}

pub async fn run(args: CatArgs) -> anyhow::Result<()> {
    let stdout = StreamWriter(Arc::new(Mutex::new(std::io::stdout())));
    for url in &args.urls {
        match cat_one(url, &stdout).await {
            Err(e) if is_broken_pipe(&e) => std::process::exit(0),
            r => r.arg_context("cat", url)?,
        }
    }
    Ok(())
}

async fn cat_one(url: &str, out: &StreamWriter<std::io::Stdout>) -> anyhow::Result<()> {
    let remote = Remote::connect_arg(url).await?;
    let file = remote
        .nfs
        .open(&remote.path, &OpenOptions::new().read(true))
        .await?;
    copy(&NfsReader(file), out, &Progress::hidden()).await?;
    Ok(())
}

/// Whether the error is stdout's reader having gone away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
