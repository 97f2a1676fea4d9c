//! CREATE, MKDIR, SYMLINK, MKNOD, LINK: new directory entries.
//!
//! Objects are created under the caller's credentials, so the kernel
//! decides permission and ownership (including group inheritance from
//! set-group-id directories and default ACLs), as for a local user. A
//! thread creating objects runs with umask 0 (see [`clear_umask`]): the
//! client has already applied its user's umask to the mode it sends.
//!
//! After creation the remaining attributes are applied as SETATTR would
//! ([`set_attributes`]); uid/gid only when they differ from what the
//! creator got. If one of them fails, the object stays and the error is
//! returned, as knfsd does. A reply's handle or attributes are left out
//! (allowed by RFC 1813) if they cannot be had after the object was made:
//! failing the call then would make the client's retry fail with EXIST.

use std::cell::Cell;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use rustix::fs::{fstat, makedev, AtFlags, FileType, Mode, OFlags, Timestamps, CWD};
use rustix::io::Errno;
use rustix::time::Timespec;

use super::context::{entry_name, Caller, Target};
use super::errors::nfsstat_from_errno;
use super::write_ops::{proc_fd_path, set_attributes};
use super::Nfs3;
use crate::filecache::TargetFd;
use crate::handle::Access;
use crate::names::Name;

#[cfg(test)]
mod tests;

/// Longest symlink contents Linux accepts (`PATH_MAX` including the NUL).
const SYMLINK_MAX: usize = 4095;

/// Mode of a file made by an exclusive CREATE, which carries no
/// attributes. knfsd uses 0 and relies on the client's follow-up SETATTR;
/// not every client sends one (libnfs's `nfs-cp` does not), and a file
/// its creator cannot read locally would be a surprise, so the usual
/// default for new files.
const EXCLUSIVE_MODE: u32 = 0o644;

impl Nfs3 {
    pub(super) fn create(&self, c: &Caller, a: Create3Args) -> Create3Res {
        self.make(c, &a.location, |dt, name| match &a.how {
            CreateHow3::Unchecked(s) => create_file(dt, name, s, false),
            CreateHow3::Guarded(s) => create_file(dt, name, s, true),
            CreateHow3::Exclusive(v) => create_exclusive(dt, name, v),
        })
    }

    pub(super) fn mkdir(&self, c: &Caller, a: Mkdir3Args) -> Mkdir3Res {
        self.make(c, &a.location, |dt, name| {
            let mode = mode_or(&a.attributes, 0o755);
            let fd = under_creds(dt, || {
                rustix::fs::mkdirat(&dt.fd, name.as_os_str(), mode)?;
                open_path(dt, name)
            })?;
            finish(dt, name, fd, &rest(&a.attributes))
        })
    }

    pub(super) fn symlink(&self, c: &Caller, a: Symlink3Args) -> Symlink3Res {
        self.make(c, &a.location, |dt, name| {
            let data = &a.symlink.symlink_data.0;
            if data.is_empty() || data.contains(&0) {
                return Err(Nfsstat3::Inval);
            }
            if data.len() > SYMLINK_MAX {
                return Err(Nfsstat3::Nametoolong);
            }
            let fd = under_creds(dt, || {
                rustix::fs::symlinkat(OsStr::from_bytes(data), &dt.fd, name.as_os_str())?;
                open_path(dt, name)
            })?;
            // Linux has no symlink modes; set_attributes skips mode anyway.
            finish(dt, name, fd, &rest(&a.symlink.symlink_attributes))
        })
    }

    pub(super) fn mknod(&self, c: &Caller, a: Mknod3Args) -> Mknod3Res {
        self.make(c, &a.location, |dt, name| {
            let (file_type, attrs, dev) = match &a.what {
                Mknoddata3::Chr(d) => (FileType::CharacterDevice, &d.dev_attributes, Some(d.spec)),
                Mknoddata3::Blk(d) => (FileType::BlockDevice, &d.dev_attributes, Some(d.spec)),
                Mknoddata3::Sock(s) => (FileType::Socket, s, None),
                Mknoddata3::Fifo(s) => (FileType::Fifo, s, None),
                Mknoddata3::Other(_) => return Err(Nfsstat3::Badtype),
            };
            let dev = dev.map_or(0, |d| makedev(d.specdata1, d.specdata2));
            let mode = mode_or(attrs, 0o644);
            // Devices need CAP_MKNOD, which only an unsquashed root keeps:
            // everyone else gets EPERM from the kernel.
            let fd = under_creds(dt, || {
                rustix::fs::mknodat(&dt.fd, name.as_os_str(), file_type, mode, dev)?;
                open_path(dt, name)
            })?;
            finish(dt, name, fd, &rest(attrs))
        })
    }

    /// LINK of a directory gets the kernel's answer (EPERM, i.e. PERM).
    pub(super) fn link(&self, c: &Caller, a: Link3Args) -> Link3Res {
        let file = match self.shared.target(c, &a.file, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, Link3Wcc::default()),
        };
        let dt = match self.shared.dir_target(c, &a.link.dir) {
            Ok(t) => t,
            Err(s) => {
                let wcc = Link3Wcc {
                    file_attributes: file.post_op(),
                    linkdir_wcc: WccData::default(),
                };
                return NfsResult::Err(s, wcc);
            }
        };
        let result = entry_name(&dt, &a.link.name, Nfsstat3::Exist).and_then(|name| {
            if file.export.id() != dt.export.id() {
                return Err(Nfsstat3::Xdev);
            }
            let _guard = dt.assume()?;
            // linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH,
            // which the caller's credentials lack; the magic link does not.
            let from = proc_fd_path(file.fd.as_fd());
            rustix::fs::linkat(CWD, from, &dt.fd, name.as_os_str(), AtFlags::SYMLINK_FOLLOW)
                .map_err(nfsstat_from_errno)
        });
        let wcc = Link3Wcc {
            file_attributes: file.post_op(),
            linkdir_wcc: dt.wcc(),
        };
        match result {
            Ok(()) => NfsResult::Ok(wcc),
            Err(s) => NfsResult::Err(s, wcc),
        }
    }

    /// The frame of CREATE, MKDIR, SYMLINK and MKNOD: resolve the
    /// directory, refuse read-only exports and bad names, run `make`, and
    /// reply with the directory's wcc data either way.
    fn make(
        &self,
        c: &Caller,
        location: &DirOpArgs3,
        make: impl FnOnce(&Target, Name<'_>) -> Result<NewObject3ResOk, Nfsstat3>,
    ) -> NfsResult<NewObject3ResOk, WccData> {
        let dt = match self.shared.dir_target(c, &location.dir) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, WccData::default()),
        };
        match entry_name(&dt, &location.name, Nfsstat3::Exist).and_then(|name| make(&dt, name)) {
            Ok(ok) => NfsResult::Ok(ok),
            Err(s) => NfsResult::Err(s, dt.wcc()),
        }
    }
}

/// The mode asked for, or `default`; only permission and set-id bits.
fn mode_or(s: &Sattr3, default: u32) -> Mode {
    Mode::from_raw_mode(s.mode.unwrap_or(default) & 0o7777)
}

/// The attributes left to apply once an object exists with its mode: a
/// size is meaningless for directories, symlinks and devices (knfsd
/// ignores it there too), and CREATE applies its size itself.
fn rest(s: &Sattr3) -> Sattr3 {
    Sattr3 {
        mode: None,
        size: None,
        ..s.clone()
    }
}

/// Runs `f` under `dt`'s caller's credentials with umask 0, mapping errors.
fn under_creds<T>(dt: &Target, f: impl FnOnce() -> Result<T, Errno>) -> Result<T, Nfsstat3> {
    clear_umask()?;
    let _guard = dt.assume()?;
    f().map_err(nfsstat_from_errno)
}

/// Opens `name` in `dt` as `O_PATH` without following a symlink.
fn open_path(dt: &Target, name: Name<'_>) -> Result<OwnedFd, Errno> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(&dt.fd, name.as_os_str(), flags, Mode::empty())
}

thread_local! {
    static UMASK_CLEARED: Cell<bool> = const { Cell::new(false) };
}

/// Gives this thread its own umask, set to 0. The umask is process-wide
/// (shared through the threads' common `fs_struct`), so setting it around
/// each create would race with other requests; unsharing `CLONE_FS`
/// makes it per thread, as knfsd's threads run with umask 0.
fn clear_umask() -> Result<(), Nfsstat3> {
    UMASK_CLEARED.with(|done| {
        if !done.get() {
            // SAFETY: CLONE_FS only gives this thread private copies of
            // its root, working directory and umask; file descriptors and
            // memory stay shared, so no other thread's assumptions break.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }
                .map_err(nfsstat_from_errno)?;
            rustix::process::umask(Mode::empty());
            done.set(true);
        }
        Ok(())
    })
}

/// The reply for a new object `name` in `dt`, after applying `attrs` to
/// it through `fd`.
fn finish(
    dt: &Target,
    name: Name<'_>,
    fd: impl Into<TargetFd>,
    attrs: &Sattr3,
) -> Result<NewObject3ResOk, Nfsstat3> {
    let obj = object_target(dt, fd)?;
    set_attributes(&obj, attrs)?;
    let handle = dt
        .export
        .fs
        .handle_for_child(&dt.fd, name.as_bytes())
        .map_err(|e| tracing::debug!(error = %e, "no handle for a new object"))
        .ok();
    Ok(NewObject3ResOk {
        obj: handle.map(|h| NfsFh3(h.as_bytes().to_vec())),
        obj_attributes: obj.post_op(),
        dir_wcc: dt.wcc(),
    })
}

/// A [`Target`] for a newly made object: same export and caller as `dt`.
fn object_target(dt: &Target, fd: impl Into<TargetFd>) -> Result<Target, Nfsstat3> {
    let fd = fd.into();
    let stat = fstat(&fd).map_err(nfsstat_from_errno)?;
    Ok(Target {
        export: Arc::clone(&dt.export),
        options: dt.options.clone(),
        creds: dt.creds.clone(),
        fd,
        stat,
    })
}

/// Open flags for creating a regular file. Never a blocking or
/// controlling-terminal open, whatever is found there.
fn create_flags(exclusive: bool) -> OFlags {
    let base = OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let base = base | OFlags::NOCTTY | OFlags::NONBLOCK;
    if exclusive {
        base | OFlags::EXCL
    } else {
        base
    }
}

/// UNCHECKED (`guarded == false`) and GUARDED CREATE.
///
/// The file is always created with `O_EXCL`: an existing one is never
/// opened for writing by the create itself, which would need write
/// permission the caller may lack, and would open a FIFO or device found
/// under that name. GUARDED then answers EXIST. UNCHECKED accepts an
/// existing regular file (EXIST for anything else) and, as knfsd, applies
/// only the size asked for (with SETATTR's checks), leaving its mode,
/// owner and times alone. If the name disappears in between, it retries.
fn create_file(
    dt: &Target,
    name: Name<'_>,
    s: &Sattr3,
    guarded: bool,
) -> Result<NewObject3ResOk, Nfsstat3> {
    let mode = mode_or(s, 0o644);
    let attrs = Sattr3 {
        mode: None,
        ..s.clone()
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let made = under_creds(dt, || {
            rustix::fs::openat(&dt.fd, name.as_os_str(), create_flags(true), mode)
        });
        match made {
            Ok(fd) => return finish(dt, name, fd, &attrs),
            Err(Nfsstat3::Exist) if !guarded => {}
            Err(s) => return Err(s),
        }
        match under_creds(dt, || open_path(dt, name)) {
            Ok(fd) => {
                let obj = object_target(dt, fd)?;
                if obj.file_type() != FileType::RegularFile {
                    return Err(Nfsstat3::Exist);
                }
                let size_only = Sattr3 {
                    size: s.size,
                    ..Sattr3::default()
                };
                return finish(dt, name, obj.fd, &size_only);
            }
            Err(Nfsstat3::Noent) if attempts < 3 => {}
            Err(s) => return Err(s),
        }
    }
}

/// The verifier as the times knfsd stores it in: mtime seconds from the
/// first four bytes, atime seconds from the last four, high bits cleared
/// (some clients and file systems mishandle times with them set).
fn verifier_times(v: &Createverf3) -> (i64, i64) {
    let word = |b: [u8; 4]| i64::from(u32::from_be_bytes(b) & 0x7fff_ffff);
    (
        word([v[0], v[1], v[2], v[3]]),
        word([v[4], v[5], v[6], v[7]]),
    )
}

/// EXCLUSIVE CREATE: created with `O_EXCL`, the verifier stored in the
/// new file's times. A retransmission (the same verifier, the reply lost)
/// finds an empty regular file with those times and succeeds on it; any
/// other existing object is EXIST.
fn create_exclusive(
    dt: &Target,
    name: Name<'_>,
    verf: &Createverf3,
) -> Result<NewObject3ResOk, Nfsstat3> {
    let (mtime, atime) = verifier_times(verf);
    let mode = Mode::from_raw_mode(EXCLUSIVE_MODE);
    let made = under_creds(dt, || {
        let fd = rustix::fs::openat(&dt.fd, name.as_os_str(), create_flags(true), mode)?;
        let at = |s| Timespec {
            tv_sec: s,
            tv_nsec: 0,
        };
        let times = Timestamps {
            last_access: at(atime),
            last_modification: at(mtime),
        };
        rustix::fs::utimensat(&fd, "", &times, AtFlags::EMPTY_PATH)?;
        Ok(fd)
    });
    match made {
        Ok(fd) => finish(dt, name, fd, &Sattr3::default()),
        Err(Nfsstat3::Exist) => {
            let obj = object_target(dt, under_creds(dt, || open_path(dt, name))?)?;
            let st = &obj.stat;
            let ours = obj.file_type() == FileType::RegularFile
                && st.st_size == 0
                && st.st_mtime == mtime
                && st.st_atime == atime;
            if !ours {
                return Err(Nfsstat3::Exist);
            }
            finish(dt, name, obj.fd, &Sattr3::default())
        }
        Err(s) => Err(s),
    }
}
