//! Where a mount's daemon keeps its log, pid and statistics socket.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The directory of mount state: `/run/nfsl/mounts` for root, else
/// `$XDG_RUNTIME_DIR/nfsl/mounts`, else `/tmp/nfsl-UID/mounts`;
/// `NFSL_MOUNT_DIR` overrides it.
pub fn mount_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NFSL_MOUNT_DIR") {
        return PathBuf::from(d);
    }
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        return PathBuf::from("/run/nfsl/mounts");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("nfsl/mounts"),
        None => PathBuf::from(format!("/tmp/nfsl-{}/mounts", uid.as_raw())),
    }
}

/// The mount point as an absolute path with its parent resolved (the
/// mount point itself may be a dead FUSE mount that cannot be resolved).
pub fn mount_path(p: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    let name = abs
        .file_name()
        .context("the root directory cannot be a mount point")?;
    let parent = abs.parent().unwrap_or(Path::new("/"));
    let parent = parent
        .canonicalize()
        .with_context(|| format!("{}", parent.display()))?;
    Ok(parent.join(name))
}

/// The state files of one mount.
pub struct MountFiles {
    /// The daemon's log.
    pub log: PathBuf,
    /// Its pid.
    pub pid: PathBuf,
    /// Its statistics socket (`nfsl stats MOUNTPOINT`).
    pub sock: PathBuf,
}

impl MountFiles {
    /// The files for `mountpoint` (from [`mount_path`]); creates the directory.
    pub fn for_mountpoint(mountpoint: &Path) -> anyhow::Result<MountFiles> {
        let dir = mount_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = escape(mountpoint);
        Ok(MountFiles {
            log: dir.join(format!("{key}.log")),
            pid: dir.join(format!("{key}.pid")),
            sock: dir.join(format!("{key}.sock")),
        })
    }

    /// The daemon's pid, if its pid file names a live process.
    pub fn daemon_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(&self.pid)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let alive = rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
        alive.then_some(pid)
    }

    /// Removes the pid file and the socket (the log stays).
    pub fn remove_state(&self) {
        let _ = std::fs::remove_file(&self.pid);
        let _ = std::fs::remove_file(&self.sock);
    }
}

/// A file name for a path: `/` as `-`, as systemd escapes mount units
/// (`-` and `\` themselves as `\x2d` / `\x5c`).
fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let s = s.trim_start_matches('/');
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '/' => out.push('-'),
            '-' => out.push_str("\\x2d"),
            '\\' => out.push_str("\\x5c"),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// Waits until process `pid` has exited, at most `limit`.
pub fn wait_for_exit(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return true;
    };
    while start.elapsed() < limit {
        if rustix::process::test_kill_process(p).is_err() {
            return true;
        }
        // A zombie child of ours (the foreground-less tests start the
        // daemon themselves) counts as exited too.
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape(Path::new("/mnt/a-b/c")), "mnt-a\\x2db-c");
        assert_eq!(escape(Path::new("/")), "-");
    }
}
