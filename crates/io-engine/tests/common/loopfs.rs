//! A scratch XFS file system on a loop device (root, `mkfs.xfs`,
//! `losetup`, `mount`), for what ext4 does not do: non-blocking buffered
//! writes (`RWF_NOWAIT`). Probed: `None` (after saying why) where it
//! cannot be made; with NFSL_REQUIRE_PEERS=1 that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A mounted XFS image; unmounted, detached and deleted on drop.
pub struct LoopXfs {
    mount: TempDir,
    dev: String,
    image: PathBuf,
}

impl LoopXfs {
    /// Makes and mounts a 512 MiB (sparse) XFS image under /var/tmp.
    pub fn new() -> Option<LoopXfs> {
        match LoopXfs::try_new() {
            Ok(fs) => Some(fs),
            Err(why) => {
                let msg = format!("no scratch XFS on a loop device: {why}");
                if std::env::var("NFSL_REQUIRE_PEERS").as_deref() == Ok("1") {
                    panic!("{msg} and NFSL_REQUIRE_PEERS=1");
                }
                eprintln!("SKIP: {msg}");
                None
            }
        }
    }

    fn try_new() -> Result<LoopXfs, String> {
        let mount = tempfile::Builder::new()
            .prefix("nfsl-xfs-")
            .tempdir_in("/var/tmp")
            .map_err(|e| e.to_string())?;
        let image = mount.path().with_extension("img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(512 << 20))
            .map_err(|e| e.to_string())?;
        let fail = |why: String| {
            let _ = std::fs::remove_file(&image);
            why
        };
        run("mkfs.xfs", &["-q", "-f", path_str(&image)]).map_err(fail)?;
        let dev = run("losetup", &["--find", "--show", path_str(&image)]).map_err(fail)?;
        let dev = dev.trim().to_string();
        if let Err(why) = run("mount", &["-t", "xfs", &dev, path_str(mount.path())]) {
            let _ = run("losetup", &["-d", &dev]);
            return Err(fail(why));
        }
        Ok(LoopXfs { mount, dev, image })
    }

    /// The mounted file system's root.
    pub fn path(&self) -> &Path {
        self.mount.path()
    }

    /// Freezes the file system (`fsfreeze -f`): every write to it blocks
    /// until [`LoopXfs::thaw`] (also done on drop).
    pub fn freeze(&self) {
        run("fsfreeze", &["-f", path_str(self.path())]).unwrap();
    }

    /// Thaws a frozen file system (nothing if it is not frozen).
    pub fn thaw(&self) {
        let _ = run("fsfreeze", &["-u", path_str(self.path())]);
    }
}

impl Drop for LoopXfs {
    fn drop(&mut self) {
        self.thaw();
        let _ = run("umount", &[path_str(self.path())]);
        let _ = run("losetup", &["-d", &self.dev]);
        let _ = std::fs::remove_file(&self.image);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs `cmd args`: its stdout, or why it failed.
fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
