//! `nfsl ls [-l] [-a] URL`: a directory's entries sorted by name, one per
//! line, or with `-l` in `ls -ln` form:
//!
//! ```text
//! total 8
//! -rw-r--r-- 1 1000 1000 4096 Nov 29 08:35 file
//! drwxr-xr-x 2    0    0 4096 Nov 29 08:35 dir
//! lrwxrwxrwx 1    0    0    4 Nov 29 08:35 link -> file
//! ```
//!
//! Owners are numeric (the server's ids mean nothing to local user names),
//! times are local, names are sorted bytewise (as `LC_ALL=C ls`), and
//! dot-files are hidden unless `-a` (which shows `.` and `..` too). A URL
//! naming a file lists just it; a symlink is followed as GNU `ls` does
//! (always without `-l`, with `-l` only given a trailing slash).
//! On a terminal, control characters in names and link targets (which come
//! from the server and could carry escape sequences) print as `?`, as GNU
//! `ls` does there.

use std::io::IsTerminal;
use std::time::SystemTime;

use nfsl_client::{FileType, Metadata};

use super::print_out;
use crate::endpoint::{base_name, join, ArgContext, Remote};
use crate::format::{columns, local_tz, ls_time, perm_string, type_char};

/// Arguments of `nfsl ls`.
#[derive(clap::Args)]
pub struct LsArgs {
    /// Long listing: type and permissions, links, owner, group, size, time.
    #[arg(short = 'l')]
    long: bool,
    /// Show entries whose names start with `.`.
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// nfs://host/export/path?... (a directory or a file).
    url: String,
}

/// One line of the listing.
struct Entry {
    name: String,
    meta: Metadata,
    link_target: Option<String>,
}

pub async fn run(args: LsArgs) -> anyhow::Result<()> {
    let text = list(&args).await.arg_context("ls", &args.url)?;
    print_out(&text)
}

/// `text` as it may reach a terminal: control characters as `?`.
fn for_terminal(text: String) -> String {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    } else {
        text
    }
}

async fn list(args: &LsArgs) -> anyhow::Result<String> {
    let shown = |text: String| match std::io::stdout().is_terminal() {
        true => for_terminal(text),
        false => text,
    };
    let remote = Remote::connect_arg(&args.url).await?;
    let nfs = &remote.nfs;
    // As GNU ls: a symlink named on the command line is followed, unless
    // -l without a trailing slash asks about the link itself.
    let meta = if args.long && !remote.url.path.ends_with('/') {
        nfs.stat(&remote.path).await?
    } else {
        nfs.stat_follow(&remote.path).await?
    };
    let is_dir = meta.is_dir();
    // (path, name, attributes if known)
    let mut found: Vec<(String, String, Option<Metadata>)> = Vec::new();
    if is_dir {
        if args.all {
            // The export root's `..` is the root itself (the server keeps
            // LOOKUP inside the export).
            let parent = nfs.stat(&join(&remote.path, "..")).await?;
            found.push((remote.path.clone(), ".".into(), Some(meta.clone())));
            found.push((join(&remote.path, ".."), "..".into(), Some(parent)));
        }
        for e in nfs.read_dir(&remote.path).await? {
            if args.all || !e.name.starts_with('.') {
                found.push((join(&remote.path, &e.name), shown(e.name), e.metadata));
            }
        }
        found.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
    } else {
        let name = base_name(&remote.path).to_string();
        found.push((remote.path.clone(), name, Some(meta)));
    }
    if !args.long {
        return Ok(found.iter().map(|(_, n, _)| format!("{n}\n")).collect());
    }
    let mut listed = Vec::with_capacity(found.len());
    for (path, name, meta) in found {
        // READDIRPLUS may leave out an entry's attributes: ask for them.
        let meta = match meta {
            Some(m) => m,
            None => nfs.stat(&path).await?,
        };
        let link_target = if meta.file_type == FileType::Symlink {
            Some(shown(nfs.read_link(&path).await?))
        } else {
            None
        };
        listed.push(Entry {
            name,
            meta,
            link_target,
        });
    }
    Ok(long_listing(&listed, is_dir, SystemTime::now()))
}

/// The `ls -ln` text: a `total` line (1 KiB blocks used) for directories,
/// then one aligned line per entry.
fn long_listing(entries: &[Entry], with_total: bool, now: SystemTime) -> String {
    let tz = local_tz();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let m = &e.meta;
            let size = match m.file_type {
                FileType::BlockDevice | FileType::CharDevice => {
                    format!("{}, {}", m.rdev.0, m.rdev.1)
                }
                _ => m.size.to_string(),
            };
            let name = match &e.link_target {
                Some(t) => format!("{} -> {t}", e.name),
                None => e.name.clone(),
            };
            vec![
                format!("{}{}", type_char(m.file_type), perm_string(m.mode)),
                m.nlink.to_string(),
                m.uid.to_string(),
                m.gid.to_string(),
                size,
                ls_time(m.mtime, now, &tz),
                name,
            ]
        })
        .collect();
    let mut out = String::new();
    if with_total {
        let blocks: u64 = entries.iter().map(|e| e.meta.used.div_ceil(1024)).sum();
        out.push_str(&format!("total {blocks}\n"));
    }
    for line in columns(&rows, &[false, true, true, true, true, false, false]) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_terminal() {
        assert_eq!(
            for_terminal("a\x1b]0;owned\x07b\nc".into()),
            "a?]0;owned?b?c"
        );
        assert_eq!(for_terminal("plain ünï".into()), "plain ünï");
    }
    use std::time::Duration;

    fn meta(file_type: FileType, mode: u32, size: u64) -> Metadata {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_945_000);
        Metadata {
            file_type,
            mode,
            nlink: 1,
            uid: 1000,
            gid: 100,
            size,
            used: size.div_ceil(4096) * 4096,
            rdev: (1, 3),
            fsid: 1,
            fileid: 2,
            atime: t,
            mtime: t,
            ctime: t,
        }
    }

    #[test]
    fn long_lines_look_like_ls_ln() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_945_100);
        let entries = [
            Entry {
                name: "big".into(),
                meta: meta(FileType::Regular, 0o644, 123_456),
                link_target: None,
            },
            Entry {
                name: "l".into(),
                meta: meta(FileType::Symlink, 0o777, 3),
                link_target: Some("big".into()),
            },
            Entry {
                name: "null".into(),
                meta: meta(FileType::CharDevice, 0o666, 0),
                link_target: None,
            },
        ];
        let text = long_listing(&entries, true, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "total 128");
        let time = ls_time(entries[0].meta.mtime, now, &local_tz());
        assert_eq!(lines[1], format!("-rw-r--r-- 1 1000 100 123456 {time} big"));
        assert_eq!(
            lines[2],
            format!("lrwxrwxrwx 1 1000 100      3 {time} l -> big")
        );
        assert_eq!(
            lines[3],
            format!("crw-rw-rw- 1 1000 100   1, 3 {time} null")
        );
    }
}
