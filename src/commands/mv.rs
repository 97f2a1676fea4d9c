//! `nfsl mv SRC DST`: renames within one export of one server (RENAME),
//! so it is atomic and moves no data. If `DST` is an existing directory,
//! `SRC` moves into it under its own name. Moving between servers or
//! exports (or to or from local paths) is refused with a clear error: use
//! `nfsl cp` and `nfsl rm`.

use crate::endpoint::{base_name, join, normalize, parse_url, ArgContext, Remote};

/// Arguments of `nfsl mv`.
#[derive(clap::Args)]
pub struct MvArgs {
    /// nfs://host/export/path?... to move.
    src: String,
    /// nfs://host/export/path?... on the same server and export.
    dst: String,
}

pub async fn run(args: MvArgs) -> anyhow::Result<()> {
    mv(&args.src, &args.dst)
        .await
        .arg_context("mv", &format!("{} {}", args.src, args.dst))
}

async fn mv(src_arg: &str, dst_arg: &str) -> anyhow::Result<()> {
    let src = Remote::connect_arg(src_arg).await?;
    let dst_url = parse_url(dst_arg)?;
    let (a, b) = (&src.url, &dst_url);
    if a.host != b.host || a.nfs_port != b.nfs_port || a.mount_port != b.mount_port {
        anyhow::bail!("source and destination are on different servers (use cp, then rm)");
    }
    if a.uid != b.uid || a.gid != b.gid {
        anyhow::bail!("source and destination name different uid/gid");
    }
    let export = src.nfs.export();
    let full = normalize(&dst_url.path);
    let inside = if export == "/" {
        Some(full.as_str())
    } else if full == export {
        Some("/")
    } else {
        full.strip_prefix(export)
            .filter(|rest| rest.starts_with('/'))
    };
    let Some(inside) = inside else {
        anyhow::bail!("destination is outside the source's export {export} (use cp, then rm)");
    };
    if src.path == "/" {
        anyhow::bail!("cannot move the export's root");
    }
    let mut to = normalize(inside);
    if let Ok(m) = src.nfs.stat(&to).await {
        if m.is_dir() {
            to = join(&to, base_name(&src.path));
        }
    }
    if to == src.path {
        return Ok(());
    }
    if to.starts_with(&format!("{}/", src.path.trim_end_matches('/'))) {
        anyhow::bail!(
            "cannot move '{}' to a subdirectory of itself, '{}'",
            src.path,
            to
        );
    }
    src.nfs.rename(&src.path, &to).await?;
    Ok(())
}
