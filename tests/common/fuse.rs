//! Real FUSE mounts of `nfsl mount` for the mount tests: mount, read the
//! daemon's statistics, kill the daemon, unmount on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Whether FUSE mounts can be made here (`/dev/fuse` and root). When not,
/// prints a SKIP line and returns false, or panics under
/// `NFSL_REQUIRE_PEERS=1`.
pub fn fuse_available() -> bool {
    let why = if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse is missing")
    } else if !rustix::process::geteuid().is_root() {
        Some("the mount tests run as root")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            let msg = format!("SKIP: {why} (FUSE mount tests; apt-get install fuse3)");
            if std::env::var("NFSL_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("{msg}");
            }
            eprintln!("{msg}");
            false
        }
    }
}

/// An `nfsl mount` on a temporary mount point, unmounted on drop.
pub struct FuseMount {
    mountpoint: PathBuf,
    /// The daemon's state directory (`NFSL_MOUNT_DIR`): log, pid, socket.
    state: TempDir,
    _dir: TempDir,
    mounted: bool,
}

/// `nfsl` with this mount's state directory.
fn nfsl(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nfsl"));
    c.env("NFSL_MOUNT_DIR", state);
    c
}

impl FuseMount {
    /// Mounts `url` with `-o options`; panics with the daemon's log if
    /// the mount fails.
    pub fn mount(url: &str, options: &str) -> FuseMount {
        match Self::try_mount(url, options) {
            Ok(m) => m,
            Err(e) => panic!("nfsl mount {url} -o {options}: {e}"),
        }
    }

    /// Mounts, or returns what `nfsl mount` printed and the log.
    pub fn try_mount(url: &str, options: &str) -> Result<FuseMount, String> {
        let dir = tempfile::tempdir().expect("mount point dir");
        // Other users reach the mount point (allow_other tests).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).unwrap();
        let state = tempfile::tempdir().expect("mount state dir");
        let out = nfsl(state.path())
            .arg("mount")
            .arg(url)
            .arg(&mountpoint)
            .arg("-o")
            .arg(options)
            .output()
            .expect("running nfsl mount");
        if !out.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                read_logs(state.path())
            ));
        }
        Ok(FuseMount {
            mountpoint,
            state,
            _dir: dir,
            mounted: true,
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// `path` inside the mount.
    pub fn join(&self, p: &str) -> PathBuf {
        self.mountpoint.join(p)
    }

    /// `nfsl stats MOUNTPOINT`.
    pub fn stats(&self) -> String {
        let out = nfsl(self.state.path())
            .arg("stats")
            .arg(&self.mountpoint)
            .output()
            .expect("running nfsl stats");
        assert!(
            out.status.success(),
            "nfsl stats: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One counter of [`FuseMount::stats`].
    pub fn stat(&self, key: &str) -> u64 {
        let text = self.stats();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in stats:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// The daemon's log.
    pub fn log(&self) -> String {
        read_logs(self.state.path())
    }

    /// The daemon's pid.
    pub fn daemon_pid(&self) -> i32 {
        let dir = std::fs::read_dir(self.state.path()).unwrap();
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "pid") {
                return std::fs::read_to_string(e.path())
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
            }
        }
        panic!("no pid file in {}", self.state.path().display())
    }

    /// Runs `nfsl umount`; returns its exit status and stderr.
    pub fn umount(&mut self) -> (bool, String) {
        let out = nfsl(self.state.path())
            .arg("umount")
            .arg(&self.mountpoint)
            .output()
            .expect("running nfsl umount");
        if out.status.success() {
            self.mounted = false;
        }
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn read_logs(state: &Path) -> String {
    let mut text = String::new();
    if let Ok(dir) = std::fs::read_dir(state) {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    text
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        if self.mounted {
            let (ok, _) = self.umount();
            if !ok {
                // Busy or the daemon is gone: detach it so nothing stays.
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(&self.mountpoint)
                    .status();
            }
        }
    }
}
