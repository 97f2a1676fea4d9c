//! What a command-line path argument names: a local path, or a file on an
//! NFS server given as a libnfs-style URL
//! (`nfs://host[:port]/export/path?version=3&nfsport=N&mountport=N&uid=N&gid=N`).
//!
//! Any argument that does not start with `nfs://` is a local path.

use std::path::PathBuf;

use anyhow::Context;
use nfsl_client::{ClientConfig, Nfs, NfsUrl};

/// A parsed path argument.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A path on this machine.
    Local(PathBuf),
    /// A path on an NFS server.
    Nfs(NfsUrl),
}

impl Endpoint {
    /// Parses an argument: `nfs://...` is a URL (an error if malformed),
    /// anything else a local path.
    pub fn parse(arg: &str) -> anyhow::Result<Endpoint> {
        if is_url(arg) {
            Ok(Endpoint::Nfs(NfsUrl::parse(arg)?))
        } else {
            Ok(Endpoint::Local(PathBuf::from(arg)))
        }
    }
}

impl Endpoint {
    /// Whether the path ends in `/`, which insists on a directory (as for
    /// `cp f missing/`, which must not create a file named `missing`).
    pub fn ends_in_slash(&self) -> bool {
        match self {
            Endpoint::Local(p) => p.as_os_str().as_encoded_bytes().ends_with(b"/"),
            Endpoint::Nfs(url) => url.path.ends_with('/'),
        }
    }
}

/// Whether `arg` is meant as an NFS URL (case-insensitive scheme, so that
/// `NFS://...` is reported as a bad URL rather than taken as a local path).
pub fn is_url(arg: &str) -> bool {
    arg.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("nfs://"))
}

/// Parses an argument that must be an NFS URL.
pub fn parse_url(arg: &str) -> anyhow::Result<NfsUrl> {
    if !is_url(arg) {
        anyhow::bail!("not an NFS URL (expected nfs://host/export/path?...)");
    }
    Ok(NfsUrl::parse(arg)?)
}

/// Unstable bytes a file written by the CLI keeps before COMMIT.
const COPY_UNSTABLE_BYTES: u64 = 64 << 20;

/// A mounted export and a path inside it.
#[derive(Clone)]
pub struct Remote {
    /// The mounted export.
    pub nfs: Nfs,
    /// The URL it came from.
    pub url: NfsUrl,
    /// The path inside the export (`/`-based; `/` is the export's root).
    pub path: String,
}

impl Remote {
    /// Mounts the export that holds `url`'s path, with the URL's uid/gid
    /// (else the process's own ids).
    pub async fn connect(url: &NfsUrl) -> anyhow::Result<Remote> {
        Self::connect_localio(url, None).await
    }

    /// Like [`Remote::connect`], with the server's LOCALIO socket at
    /// `localio_socket` (None: the default path for the NFS port).
    pub async fn connect_localio(
        url: &NfsUrl,
        localio_socket: Option<PathBuf>,
    ) -> anyhow::Result<Remote> {
        let mut config = ClientConfig {
            localio_socket,
            // Unstable data kept for re-sending until COMMIT: 64 MiB (the
            // library COMMITs early at half of it) keeps a big copy's memory
            // near 80 MiB instead of ~250 MiB, and measured no slower.
            max_unstable_bytes: COPY_UNSTABLE_BYTES,
            ..ClientConfig::default()
        };
        if let Some(uid) = url.uid {
            config.uid = uid;
        }
        if let Some(gid) = url.gid {
            config.gid = gid;
        }
        let (nfs, path) = Nfs::connect(url, config).await?;
        Ok(Remote {
            nfs,
            url: url.clone(),
            path: normalize(&path),
        })
    }

    /// Mounts the export of a URL argument (see [`parse_url`]).
    pub async fn connect_arg(arg: &str) -> anyhow::Result<Remote> {
        let url = parse_url(arg)?;
        Self::connect(&url).await
    }

    /// The same export, another path inside it.
    pub fn at(&self, path: String) -> Remote {
        Remote {
            nfs: self.nfs.clone(),
            url: self.url.clone(),
            path,
        }
    }

    /// Whether `other` names the same server, ports, credentials and
    /// export (so RENAME and same-file checks between them make sense).
    pub fn same_export(&self, other: &Remote) -> bool {
        let (a, b) = (&self.url, &other.url);
        a.host == b.host
            && a.nfs_port == b.nfs_port
            && a.mount_port == b.mount_port
            && a.uid == b.uid
            && a.gid == b.gid
            && self.nfs.export() == other.nfs.export()
    }
}

/// `path` with one leading `/`, no trailing `/` (except the root) and no
/// empty or `.` components.
pub fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// `dir/name` for an export path.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last component of an export path (`""` for the root).
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// The process's umask (read by setting and restoring it; the client
/// commands are single-threaded at that point).
pub fn umask() -> u32 {
    use rustix::fs::Mode;
    let old = rustix::process::umask(Mode::from_raw_mode(0o022));
    rustix::process::umask(old);
    old.as_raw_mode()
}

/// Context for errors: the command and the argument as the user typed it.
pub trait ArgContext<T> {
    /// Prefixes an error with `cmd arg`.
    fn arg_context(self, cmd: &str, arg: &str) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ArgContext<T> for Result<T, E> {
    fn arg_context(self, cmd: &str, arg: &str) -> anyhow::Result<T> {
        self.map_err(Into::into)
            .with_context(|| format!("{cmd} {arg}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_paths() {
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/a//b/./c/"), "/a/b/c");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
        assert_eq!(base_name("/a/b"), "b");
        assert_eq!(base_name("/"), "");
    }

    #[test]
    fn urls_and_local_paths() {
        assert!(matches!(
            Endpoint::parse("nfs://h/e/f?nfsport=1").unwrap(),
            Endpoint::Nfs(_)
        ));
        assert!(matches!(
            Endpoint::parse("./nfs:/x").unwrap(),
            Endpoint::Local(_)
        ));
        assert!(Endpoint::parse("NFS://h/e?version=4").is_err());
        assert!(parse_url("/tmp/x").is_err());
    }
}
