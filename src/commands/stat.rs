//! `nfsl stat URL...`: a file's attributes as the server reports them
//! (GETATTR), laid out like GNU `stat`:
//!
//! ```text
//!   File: /srv/export/dir/name
//!   Size: 4096          Used: 4096          regular file
//! Fileid: 131075        Fsid: 0x1           Links: 1
//! Access: (0644/-rw-r--r--)  Uid: 1000  Gid: 1000
//! Access: 2026-11-29 08:35:57.123456789 +0000
//! Modify: 2026-11-29 08:35:57.123456789 +0000
//! Change: 2026-11-29 08:35:57.123456789 +0000
//! ```

use nfsl_client::{FileType, Metadata};

use super::print_out;
use crate::endpoint::{normalize, ArgContext, Remote};
use crate::format::{full_time, local_tz, perm_string, type_char};

/// Arguments of `nfsl stat`.
#[derive(clap::Args)]
pub struct StatArgs {
    /// nfs://host/export/path?... (one or more).
    #[arg(required = true)]
    urls: Vec<String>,
}

pub async fn run(args: StatArgs) -> anyhow::Result<()> {
    for url in &args.urls {
        let text = stat_one(url).await.arg_context("stat", url)?;
        print_out(&text)?;
    }
    Ok(())
}

async fn stat_one(url: &str) -> anyhow::Result<String> {
    let remote = Remote::connect_arg(url).await?;
    let meta = remote.nfs.stat(&remote.path).await?;
    // The server's full path, the same for the export root and below it
    // (GNU stat prints the name as given; ours is a URL, its path this).
    let mut name = normalize(&format!("{}{}", remote.nfs.export(), remote.path));
    if meta.file_type == FileType::Symlink {
        let target = remote.nfs.read_link(&remote.path).await?;
        name = format!("{name} -> {target}");
    }
    Ok(render(&name, &meta))
}

/// The type's name as `stat` prints it.
fn type_name(meta: &Metadata) -> &'static str {
    match meta.file_type {
        FileType::Regular if meta.size == 0 => "regular empty file",
        FileType::Regular => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::BlockDevice => "block special file",
        FileType::CharDevice => "character special file",
        FileType::Socket => "socket",
        FileType::Fifo => "fifo",
    }
}

fn render(name: &str, m: &Metadata) -> String {
    let tz = local_tz();
    let mut out = format!("  File: {name}\n");
    out += &format!(
        "  Size: {:<13} Used: {:<13} {}\n",
        m.size,
        m.used,
        type_name(m)
    );
    let device = match m.file_type {
        FileType::BlockDevice | FileType::CharDevice => {
            format!("  Device type: {},{}", m.rdev.0, m.rdev.1)
        }
        _ => String::new(),
    };
    out += &format!(
        "Fileid: {:<13} Fsid: {:<13} Links: {}{device}\n",
        m.fileid,
        format!("{:#x}", m.fsid),
        m.nlink
    );
    out += &format!(
        "Access: ({:04o}/{}{})  Uid: {}  Gid: {}\n",
        m.mode & 0o7777,
        type_char(m.file_type),
        perm_string(m.mode),
        m.uid,
        m.gid
    );
    out += &format!("Access: {}\n", full_time(m.atime, &tz));
    out += &format!("Modify: {}\n", full_time(m.mtime, &tz));
    out += &format!("Change: {}\n", full_time(m.ctime, &tz));
    out
}
