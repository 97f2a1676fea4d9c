//! One side of a copy, local or NFS, behind one set of operations (stat,
//! list, read a link, make a directory or a link, set a mode, open), so
//! the copy logic is written once for all four directions.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nfsl_client::{ErrorKind, FileType, SetAttr};

use crate::endpoint::{base_name, join, normalize, Remote};

/// A file or directory on either side.
#[derive(Clone)]
pub enum Node {
    /// On this machine.
    Local(PathBuf),
    /// Inside a mounted export.
    Nfs(Remote),
}

/// What a copy needs to know about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Its kind.
    pub kind: Kind,
    /// Permission bits (07777).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// (device or fsid, inode or fileid): equal for the same file.
    pub id: (u64, u64),
}

/// The kinds of files a copy distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regular file: its bytes are copied.
    File,
    /// Directory: copied with `-r`.
    Dir,
    /// Symbolic link: recreated (with `-r`).
    Symlink,
    /// A device, FIFO or socket: not copied.
    Special,
}

impl Node {
    /// How the user would name it: the local path, or the full URL.
    pub fn display(&self) -> String {
        match self {
            Node::Local(p) => p.display().to_string(),
            Node::Nfs(r) => {
                let full = normalize(&format!("{}{}", r.nfs.export(), r.path));
                r.url.with_path(&full).to_string()
            }
        }
    }

    /// The last path component (of the full server path for NFS, so the
    /// export root `nfs://h/srv/x` is named `x`).
    pub fn file_name(&self) -> Option<String> {
        match self {
            Node::Local(p) => {
                let name = p.file_name()?.to_str()?;
                Some(name.to_string())
            }
            Node::Nfs(r) => {
                let full = normalize(&format!("{}{}", r.nfs.export(), r.path));
                Some(base_name(&full).to_string()).filter(|n| !n.is_empty())
            }
        }
    }

    /// The entry `name` inside this directory.
    pub fn child(&self, name: &str) -> Node {
        match self {
            Node::Local(p) => Node::Local(p.join(name)),
            Node::Nfs(r) => Node::Nfs(r.at(join(&r.path, name))),
        }
    }

    /// Its attributes without following a final symlink; `None` if it
    /// does not exist.
    pub async fn lstat(&self) -> anyhow::Result<Option<Info>> {
        match self {
            Node::Local(p) => local_info(p, std::fs::symlink_metadata(p)),
            Node::Nfs(r) => match r.nfs.stat(&r.path).await {
                Ok(m) => Ok(Some(Info {
                    kind: match m.file_type {
                        FileType::Regular => Kind::File,
                        FileType::Directory => Kind::Dir,
                        FileType::Symlink => Kind::Symlink,
                        _ => Kind::Special,
                    },
                    mode: m.mode & 0o7777,
                    size: m.size,
                    id: (m.fsid, m.fileid),
                })),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Like [`Node::lstat`], but a local symlink is followed (as `cp`
    /// follows links named on its command line). NFS links are not
    /// followed: the server does not resolve them for us.
    pub async fn stat(&self) -> anyhow::Result<Option<Info>> {
        match self {
            Node::Local(p) => local_info(p, std::fs::metadata(p)),
            Node::Nfs(_) => self.lstat().await,
        }
    }

    /// The names in this directory (no `.` or `..`), sorted, each once (a
    /// server may list a name twice, in a paged listing that raced a
    /// rename or out of malice; the copy plans each name once).
    pub async fn list(&self) -> anyhow::Result<Vec<String>> {
        let mut names = match self {
            Node::Local(p) => {
                let mut names = Vec::new();
                for e in std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))? {
                    let e = e.with_context(|| format!("reading {}", p.display()))?;
                    let name = e.file_name().into_string().map_err(|n| {
                        anyhow::anyhow!("{}: file name {n:?} is not UTF-8", p.display())
                    })?;
                    names.push(name);
                }
                names
            }
            Node::Nfs(r) => r
                .nfs
                .read_dir(&r.path)
                .await?
                .into_iter()
                .map(|e| e.name)
                .collect(),
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// A symlink's target.
    pub async fn read_link(&self) -> anyhow::Result<String> {
        match self {
            Node::Local(p) => {
                let t =
                    std::fs::read_link(p).with_context(|| format!("readlink {}", p.display()))?;
                t.into_os_string()
                    .into_string()
                    .map_err(|t| anyhow::anyhow!("{}: link target {t:?} is not UTF-8", p.display()))
            }
            Node::Nfs(r) => Ok(r.nfs.read_link(&r.path).await?),
        }
    }

    /// Makes this directory with `mode` (taken as is: the caller applied
    /// the umask).
    pub async fn mkdir(&self, mode: u32) -> anyhow::Result<()> {
        match self {
            Node::Local(p) => std::fs::DirBuilder::new()
                .mode(mode)
                .create(p)
                .with_context(|| format!("mkdir {}", p.display())),
            Node::Nfs(r) => {
                r.nfs.mkdir(&r.path, mode).await?;
                Ok(())
            }
        }
    }

    /// Makes this a symlink to `target`.
    pub async fn symlink(&self, target: &str) -> anyhow::Result<()> {
        match self {
            Node::Local(p) => std::os::unix::fs::symlink(target, p)
                .with_context(|| format!("symlink {}", p.display())),
            Node::Nfs(r) => Ok(r.nfs.symlink(target, &r.path).await?),
        }
    }

    /// Removes this non-directory (a symlink itself, never its target).
    pub async fn remove_file(&self) -> anyhow::Result<()> {
        match self {
            Node::Local(p) => {
                std::fs::remove_file(p).with_context(|| format!("remove {}", p.display()))
            }
            Node::Nfs(r) => Ok(r.nfs.remove_file(&r.path).await?),
        }
    }

    /// Sets the permission bits.
    pub async fn set_mode(&self, mode: u32) -> anyhow::Result<()> {
        match self {
            Node::Local(p) => std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("chmod {}", p.display())),
            Node::Nfs(r) => {
                let attrs = SetAttr {
                    mode: Some(mode),
                    ..SetAttr::default()
                };
                r.nfs.set_attr(&r.path, attrs).await?;
                Ok(())
            }
        }
    }

    /// Whether `self` is `other` or lies under it (same side, same export).
    pub fn is_within(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Local(a), Node::Local(b)) => {
                let (Some(a), Ok(b)) = (canonical_parent(a), b.canonicalize()) else {
                    return false;
                };
                a.starts_with(b)
            }
            (Node::Nfs(a), Node::Nfs(b)) => {
                a.same_export(b)
                    && (b.path == "/"
                        || a.path == b.path
                        || a.path.starts_with(&format!("{}/", b.path)))
            }
            _ => false,
        }
    }

    /// Whether the two nodes can be the same file (same side; for NFS the
    /// same server and export), so equal [`Info::id`]s mean one file.
    pub fn same_namespace(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Local(_), Node::Local(_)) => true,
            (Node::Nfs(a), Node::Nfs(b)) => a.same_export(b),
            _ => false,
        }
    }
}

/// `path` with its parent canonicalized (the path itself may not exist).
fn canonical_parent(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(parent.join(name))
}

fn local_info(path: &Path, m: std::io::Result<std::fs::Metadata>) -> anyhow::Result<Option<Info>> {
    let m = match m {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
    };
    let ft = m.file_type();
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Special
    };
    Ok(Some(Info {
        kind,
        mode: m.mode() & 0o7777,
        size: m.len(),
        id: (m.dev(), m.ino()),
    }))
}
