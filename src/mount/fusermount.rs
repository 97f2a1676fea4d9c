//! Unprivileged FUSE mounts through the setuid `fusermount3` helper, as
//! libfuse makes them: a Unix socketpair, `fusermount3 -o OPTIONS --
//! MOUNTPOINT` with `_FUSE_COMMFD` naming the helper's end; the helper
//! opens `/dev/fuse`, mounts it, and sends the open device back over
//! SCM_RIGHTS. The FUSE session then runs on that fd; such a mount is
//! unmounted with `fusermount3 -u`.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use rustix::net::{
    recvmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags,
    ReturnFlags, SocketFlags, SocketType,
};

/// The helper, found on `PATH` (it must be the distribution's setuid one).
pub const FUSERMOUNT: &str = "fusermount3";

/// The character device number of `/dev/fuse` (misc major 10, minor 229).
const DEV_FUSE: (u32, u32) = (10, 229);

/// The options of an nfsl mount, as `fusermount3 -o` takes them.
pub struct HelperOptions<'a> {
    /// The `fsname` (the export's URL), shown in /proc/mounts.
    pub fsname: &'a str,
    /// Mount read-only.
    pub read_only: bool,
    /// Let other users in (fusermount3 allows it only with
    /// `user_allow_other` in /etc/fuse.conf).
    pub allow_other: bool,
}

impl HelperOptions<'_> {
    /// The comma-separated option string; commas and backslashes inside
    /// the fsname are escaped with a backslash, as fusermount3 parses them.
    fn to_option_string(&self) -> String {
        let mut fsname = String::new();
        for c in self.fsname.chars() {
            if c == ',' || c == '\\' {
                fsname.push('\\');
            }
            fsname.push(c);
        }
        let mut opts = vec![
            format!("fsname={fsname}"),
            "subtype=nfsl".to_string(),
            "nodev".to_string(),
            "nosuid".to_string(),
            if self.read_only { "ro" } else { "rw" }.to_string(),
        ];
        if self.allow_other {
            opts.push("allow_other".to_string());
        }
        opts.join(",")
    }
}

/// Mounts `mountpoint` through fusermount3; returns the open `/dev/fuse`
/// of the new mount. The helper's complaint (mount point not owned,
/// `allow_other` not allowed...) is the error.
pub fn mount(mountpoint: &Path, options: &HelperOptions<'_>) -> anyhow::Result<OwnedFd> {
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .context("creating the socket pair for fusermount3")?;
    // The helper inherits its end: it must survive exec.
    rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty())
        .context("passing the socket to fusermount3")?;
    let child = Command::new(FUSERMOUNT)
        .arg("-o")
        .arg(options.to_option_string())
        .arg("--")
        .arg(mountpoint)
        .env("_FUSE_COMMFD", theirs.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    // Only the helper holds its end now, so its exit ends our read.
    drop(theirs);
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{FUSERMOUNT} is not installed (package fuse3); unprivileged mounts need it")
        }
        Err(e) => return Err(anyhow::Error::from(e).context(format!("running {FUSERMOUNT}"))),
    };
    let received = receive_fd(&ours);
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {FUSERMOUNT}"))?;
    let complaint = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match received {
        Ok(Some(fd)) => {
            check_dev_fuse(&fd)?;
            Ok(fd)
        }
        Ok(None) if !complaint.is_empty() => {
            // fusermount3 opens the device as the user: say what to change.
            let dev = rustix::fs::access(
                "/dev/fuse",
                rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
            );
            if dev.is_err() {
                bail!(
                    "{complaint} (/dev/fuse is not open to this user: FUSE is for root only \
                     here; distributions make it mode 0666)"
                );
            }
            bail!("{complaint}")
        }
        Ok(None) => bail!("{FUSERMOUNT} failed ({}) without saying why", out.status),
        Err(e) => Err(e),
    }
}

/// Receives the one fd fusermount3 sends; `None` when it closed the
/// socket without sending (it failed and said why on stderr).
fn receive_fd(sock: &OwnedFd) -> anyhow::Result<Option<OwnedFd>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let msg = loop {
        match recvmsg(
            sock.as_fd(),
            &mut [IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r.context("receiving /dev/fuse from fusermount3")?,
        }
    };
    // More fds than the one expected were closed by the kernel: refuse.
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        bail!("fusermount3 sent more than one descriptor");
    }
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    match fds.len() {
        0 => Ok(None),
        1 => Ok(fds.pop()),
        n => bail!("fusermount3 sent {n} descriptors, expected one"),
    }
}

/// The received fd must be the FUSE device, nothing else.
fn check_dev_fuse(fd: &OwnedFd) -> anyhow::Result<()> {
    let st = rustix::fs::fstat(fd).context("checking the fd from fusermount3")?;
    let is_char =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice;
    let dev = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if !is_char || dev != DEV_FUSE {
        bail!("fusermount3 sent a descriptor that is not /dev/fuse");
    }
    Ok(())
}

/// Unmounts a mount made through fusermount3 (`fusermount3 -u`).
pub fn unmount(mountpoint: &Path) -> std::io::Result<()> {
    let out = Command::new(FUSERMOUNT)
        .arg("-u")
        .arg("--")
        .arg(mountpoint)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_escape_the_fsname() {
        let o = HelperOptions {
            fsname: "nfs://h/e?a=1,b\\c",
            read_only: true,
            allow_other: true,
        };
        assert_eq!(
            o.to_option_string(),
            "fsname=nfs://h/e?a=1\\,b\\\\c,subtype=nfsl,nodev,nosuid,ro,allow_other"
        );
    }
}
