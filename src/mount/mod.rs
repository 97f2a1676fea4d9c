//! `nfsl mount URL MOUNTPOINT [-o OPTIONS] [--foreground]` and
//! `nfsl umount MOUNTPOINT`: the FUSE mount of an NFS export
//! (the file system itself is the `nfsl-fuse` crate).
//!
//! Like mount(8), `nfsl mount` returns once the file system is mounted,
//! leaving a daemon that serves it; its log, pid and statistics socket
//! are in [`runtime::mount_dir`] (`/run/nfsl/mounts` for root), named
//! after the mount point. A mount that fails (server down, export
//! refused, mount point missing or busy) prints one line and exits 1.
//! `--foreground` serves in the calling process, logging to stderr.
//! Root mounts with mount(2); an ordinary user (or root refused by the
//! kernel) mounts through the setuid fusermount3 ([`fusermount`]), and
//! such a mount is unmounted with `fusermount3 -u`.

mod daemon;
mod fusermount;
pub use daemon::mount_stats;
pub mod runtime;

use std::path::PathBuf;

use anyhow::{bail, Context};

/// Arguments of `nfsl mount`.
#[derive(clap::Args)]
pub struct MountArgs {
    /// nfs://host/export[/dir]?... (libnfs-style, as for every nfsl command).
    pub url: String,
    /// An existing directory to mount on.
    pub mountpoint: PathBuf,
    /// Comma-separated options: ro, rw, actimeo=S, acregmin=S, acregmax=S,
    /// acdirmin=S, acdirmax=S, noac, localio=auto|on|off,
    /// passthrough=auto|on|off, uid=N, gid=N, allow_other.
    #[arg(short = 'o', value_name = "OPTIONS", default_value = "")]
    pub options: String,
    /// Serve in this process (logs to stderr) instead of a background daemon.
    #[arg(long, short = 'f')]
    pub foreground: bool,
    /// Set by `nfsl mount` for the daemon it starts: report readiness on
    /// stdout, log to stderr.
    #[arg(long, hide = true)]
    pub daemon_child: bool,
}

/// Arguments of `nfsl umount`.
#[derive(clap::Args)]
pub struct UmountArgs {
    /// Where an `nfsl mount` is mounted.
    pub mountpoint: PathBuf,
}

/// Runs `nfsl mount`.
pub fn run(args: MountArgs) -> anyhow::Result<()> {
    let mountpoint = runtime::mount_path(&args.mountpoint)
        .with_context(|| format!("mount {}", args.mountpoint.display()))?;
    // Checked before anything else so the options' errors come first.
    nfsl_fuse::MountOptions::parse(&args.options).context("mount")?;
    if args.foreground || args.daemon_child {
        return daemon::serve(&args, &mountpoint, args.daemon_child);
    }
    daemon::start_in_background(&args, &mountpoint)
}

/// Runs `nfsl umount`: unmounts, then waits for the daemon to have made
/// its data durable and exited.
pub fn umount(args: UmountArgs) -> anyhow::Result<()> {
    let mountpoint = runtime::mount_path(&args.mountpoint)
        .with_context(|| format!("umount {}", args.mountpoint.display()))?;
    let files = runtime::MountFiles::for_mountpoint(&mountpoint)?;
    let pid = files.daemon_pid();
    if let Err(e) = unmount(&mountpoint) {
        if !(e.kind() == std::io::ErrorKind::InvalidInput && pid.is_some()) {
            let what = match e.raw_os_error() {
                Some(libc::EINVAL) => "not mounted".to_string(),
                Some(libc::EBUSY) => "busy (files are open or a process is in it)".to_string(),
                _ => e.to_string(),
            };
            bail!("umount {}: {what}", mountpoint.display());
        }
    }
    if let Some(pid) = pid {
        if !runtime::wait_for_exit(pid, std::time::Duration::from_secs(60)) {
            bail!(
                "umount {}: unmounted, but the daemon (pid {pid}) has not exited after 60 s; see {}",
                mountpoint.display(),
                files.log.display()
            );
        }
    }
    files.remove_state();
    Ok(())
}

/// Unmounts: umount2 as root, else through fusermount3 (setuid), which
/// unmounts the user's own FUSE mounts.
fn unmount(mountpoint: &std::path::Path) -> std::io::Result<()> {
    if rustix::process::geteuid().is_root() {
        return rustix::mount::unmount(mountpoint, rustix::mount::UnmountFlags::empty())
            .map_err(std::io::Error::from);
    }
    fusermount::unmount(mountpoint)
}
