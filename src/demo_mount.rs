//! The `nfsl demo` step that shows `nfsl mount`: the demo's export mounted
//! with FUSE (as a separate `nfsl mount` daemon, as a user would run it),
//! a file written and read back with plain file IO, checked on the
//! server's disk, and the mount's own account of which path served it.
//! Skipped, saying so, where FUSE mounts cannot be made.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::format::mb_per_sec;

/// Bytes written and read through the mount.
const SIZE: usize = 64 << 20;

/// Why a mount cannot be shown here, if it cannot.
fn unavailable() -> Option<&'static str> {
    if !Path::new("/dev/fuse").exists() {
        Some("/dev/fuse is missing (apt-get install fuse3)")
    } else if !rustix::process::geteuid().is_root() {
        Some("FUSE passthrough and this demo's mount need root")
    } else {
        None
    }
}

/// Mounts `url` on `tmp/mnt`, writes and reads a file through it, unmounts.
pub fn show(tmp: &Path, url: &str, export: &Path) -> anyhow::Result<()> {
    if let Some(why) = unavailable() {
        println!("[mount] skipped: {why}");
        return Ok(());
    }
    let mnt = tmp.join("mnt");
    std::fs::create_dir(&mnt).context("creating the mount point")?;
    let exe = std::env::current_exe().context("finding nfsl")?;
    let state = tmp.join("mount-state");
    let nfsl = |args: &[&std::ffi::OsStr]| {
        Command::new(&exe)
            .env("NFSL_MOUNT_DIR", &state)
            .args(args)
            .output()
            .context("running nfsl")
    };
    let out = nfsl(&["mount".as_ref(), url.as_ref(), mnt.as_os_str()])?;
    if !out.status.success() {
        bail!(
            "nfsl mount: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    println!("[mount] nfsl mount {url} {}", mnt.display());
    let result = exercise(&mnt, export, &nfsl);
    let out = nfsl(&["umount".as_ref(), mnt.as_os_str()])?;
    if !out.status.success() {
        bail!(
            "nfsl umount: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    println!("[mount] nfsl umount {}: done", mnt.display());
    result
}

fn exercise(
    mnt: &Path,
    export: &Path,
    nfsl: &dyn Fn(&[&std::ffi::OsStr]) -> anyhow::Result<std::process::Output>,
) -> anyhow::Result<()> {
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 4096) as u8).collect();
    let file = mnt.join("through-the-mount.bin");
    let start = Instant::now();
    std::fs::write(&file, &data).context("writing through the mount")?;
    let wrote = start.elapsed();
    let start = Instant::now();
    let back = std::fs::read(&file).context("reading through the mount")?;
    let read = start.elapsed();
    if back != data {
        bail!("the file read back through the mount differs");
    }
    if std::fs::read(export.join("through-the-mount.bin"))? != data {
        bail!("the server's file on disk differs from what was written");
    }
    println!(
        "[mount] wrote {} MiB with write(2) at {:.0} MB/s, read it back with read(2) at {:.0} MB/s; the server's file on disk is identical",
        SIZE >> 20,
        mb_per_sec(SIZE as u64, wrote),
        mb_per_sec(SIZE as u64, read)
    );
    let stats = nfsl(&["stats".as_ref(), mnt.as_os_str()])?;
    let text = String::from_utf8_lossy(&stats.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "[mount] {}; opens: {} passthrough, {} served by the daemon; the daemon served {} reads and {} writes",
        text.lines().next().unwrap_or(""),
        get("passthrough_opens"),
        get("daemon_opens"),
        get("daemon_reads"),
        get("daemon_writes")
    );
    std::fs::remove_file(&file).context("removing the file")?;
    Ok(())
}
