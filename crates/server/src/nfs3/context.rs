//! Who is calling, which export a handle belongs to, what the caller may
//! do there, and the resolved file a procedure works on.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;

use nfsl_proto::nfs3::{Fattr3, Filename3, NfsFh3, Nfsstat3, PostOpAttr, WccData};
use nfsl_rpc::Auth;
use nfsl_rpc_service::CallContext;
use rustix::fs::{fstat, FileType, Stat};

use super::attrs::{fattr3, wcc_data};
use super::errors::{nfsstat_from_errno, nfsstat_from_io};
use crate::creds::{CallerIdentity, CredentialGuard, Credentials};
use crate::exports::{ExportOptions, Refusal};
use crate::filecache::TargetFd;
use crate::handle::{Access, HandleError};
use crate::names::{validate_name, Name, NameError};
use crate::reload::ExportRuntime;
use crate::server::ProgramState;

/// The caller of one RPC: where it came from and who it claims to be.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) peer: SocketAddr,
    pub(crate) identity: CallerIdentity,
}

impl Caller {
    /// The caller of an authenticated call (the transport has already
    /// rejected flavors other than AUTH_NONE and AUTH_SYS).
    pub(crate) fn from_call(ctx: &CallContext) -> Caller {
        let identity = match &ctx.auth {
            Auth::Sys(p) => CallerIdentity::Unix {
                uid: p.uid,
                gid: p.gid,
                groups: p.gids.clone(),
            },
            _ => CallerIdentity::Anonymous,
        };
        Caller {
            peer: ctx.peer,
            identity,
        }
    }
}

/// The NFSv3 status for a handle that could not be resolved.
pub(crate) fn handle_status(e: &HandleError) -> Nfsstat3 {
    match e {
        HandleError::BadHandle => Nfsstat3::Badhandle,
        HandleError::Stale | HandleError::OtherFilesystem => Nfsstat3::Stale,
        HandleError::TooBig(_) => Nfsstat3::Serverfault,
        HandleError::Io(e) => nfsstat_from_io(e),
    }
}

/// Checks a name from the wire. Too long is NAMETOOLONG; empty, `/` or NUL
/// is ACCES (what Linux's `lookup_one_len` gives knfsd).
pub(crate) fn check_name(name: &Filename3) -> Result<Name<'_>, Nfsstat3> {
    validate_name(&name.0).map_err(|e| match e {
        NameError::TooLong => Nfsstat3::Nametoolong,
        _ => Nfsstat3::Acces,
    })
}

/// A name to add, remove or rename in the directory `dt` of a writable
/// export. `.` and `..` always exist, so they answer `special`: EXIST for
/// the create-type procedures, INVAL for REMOVE/RMDIR/RENAME.
pub(crate) fn entry_name<'n>(
    dt: &Target,
    name: &'n Filename3,
    special: Nfsstat3,
) -> Result<Name<'n>, Nfsstat3> {
    dt.check_writable()?;
    let name = check_name(name)?;
    if name.is_special() {
        return Err(special);
    }
    Ok(name)
}

impl ProgramState {
    /// The export `fh` belongs to (in the exports in force now) and the
    /// caller's options there, applying the export's client list and its
    /// `secure` (privileged port) rule.
    pub(crate) fn authorize(
        &self,
        c: &Caller,
        fh: &NfsFh3,
    ) -> Result<(Arc<ExportRuntime>, ExportOptions), Nfsstat3> {
        let Some(id) = crate::handle::handle_export_id(&fh.0) else {
            return Err(Nfsstat3::Badhandle);
        };
        let exports = self.exports.load();
        let rt = exports.by_id(id).ok_or(Nfsstat3::Stale)?;
        let options = rt.export.admit(c.peer).map_err(|r| {
            self.refusals.note(c.peer, &rt.export, r);
            match r {
                Refusal::NotListed => Nfsstat3::Acces,
                Refusal::InsecurePort => Nfsstat3::Perm,
            }
        })?;
        Ok((Arc::clone(rt), options.clone()))
    }

    /// [`authorize`](Self::authorize) for a caller the export admits,
    /// logging nothing: `None` if it is refused or the handle names no
    /// export in force (the caller then takes the path that says why).
    pub(crate) fn admitted(
        &self,
        c: &Caller,
        fh: &NfsFh3,
    ) -> Option<(Arc<ExportRuntime>, ExportOptions)> {
        let id = crate::handle::handle_export_id(&fh.0)?;
        let exports = self.exports.load();
        let rt = exports.by_id(id)?;
        let options = rt.export.admit(c.peer).ok()?;
        Some((Arc::clone(rt), options.clone()))
    }

    /// Authorizes the caller for `fh`'s export and resolves it (with the
    /// server's credentials), opened as `access` says. READ and WRITE
    /// descriptors come from the open-file cache when it has them (see
    /// [`crate::filecache`]).
    pub(crate) fn target(
        &self,
        c: &Caller,
        fh: &NfsFh3,
        access: Access,
    ) -> Result<Target, Nfsstat3> {
        let (rt, options) = self.authorize(c, fh)?;
        let (fd, stat) = self.open_target(&rt, &fh.0, access)?;
        if options.subtree_check {
            rt.fs.check_within(&fd).map_err(|e| handle_status(&e))?;
        }
        Ok(Target {
            creds: self.callers.apply(options.credentials_for(&c.identity))?,
            export: rt,
            options,
            fd,
            stat,
        })
    }

    /// The descriptor and attributes for `fh`: a cached one still linked,
    /// or a new resolution (kept in the cache if it is a regular file).
    fn open_target(
        &self,
        rt: &ExportRuntime,
        fh: &[u8],
        access: Access,
    ) -> Result<(TargetFd, Stat), Nfsstat3> {
        let files = &self.files;
        if !files.caches(access) {
            let fd = rt.fs.resolve(fh, access).map_err(|e| handle_status(&e))?;
            let stat = fstat(&fd).map_err(nfsstat_from_errno)?;
            check_linked(&stat)?;
            return Ok((TargetFd::Owned(fd), stat));
        }
        if let Some(f) = files.get(fh, access) {
            let stat = fstat(f.as_fd()).map_err(nfsstat_from_errno)?;
            if stat.st_nlink > 0 {
                return Ok((TargetFd::Cached(f), stat));
            }
            // Removed or replaced since: resolve again (STALE if gone).
            files.evict(fh);
        }
        let fd = match rt.fs.resolve(fh, access) {
            Err(HandleError::Io(e))
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
            {
                // Out of descriptors: the cache holds most of them.
                files.clear();
                rt.fs.resolve(fh, access)
            }
            r => r,
        }
        .map_err(|e| handle_status(&e))?;
        let stat = fstat(&fd).map_err(nfsstat_from_errno)?;
        check_linked(&stat)?;
        let regular = FileType::from_raw_mode(stat.st_mode as _) == FileType::RegularFile;
        if regular {
            Ok((files.insert(fh, access, fd), stat))
        } else {
            Ok((TargetFd::Owned(fd), stat))
        }
    }

    /// [`ProgramState::target`] for a handle that must name a directory
    /// (NOTDIR otherwise), opened `O_PATH` for `*at()` calls.
    pub(crate) fn dir_target(&self, c: &Caller, fh: &NfsFh3) -> Result<Target, Nfsstat3> {
        let t = self.target(c, fh, Access::Path)?;
        if t.file_type() != FileType::Directory {
            return Err(Nfsstat3::Notdir);
        }
        Ok(t)
    }
}

/// STALE for a regular file that has been removed (link count 0) but
/// still exists because something holds it open (the kernel's handles
/// still open it): a removed file's handle is stale, whoever else keeps
/// the file alive, and the file cache must not revive it.
fn check_linked(stat: &Stat) -> Result<(), Nfsstat3> {
    let regular = FileType::from_raw_mode(stat.st_mode as _) == FileType::RegularFile;
    if regular && stat.st_nlink == 0 {
        Err(Nfsstat3::Stale)
    } else {
        Ok(())
    }
}

/// A resolved file handle: the open file, its attributes when resolved,
/// and the caller's credentials and options on its export (as they were
/// when the request began: a reload meanwhile does not change them).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) export: Arc<ExportRuntime>,
    pub(crate) options: ExportOptions,
    pub(crate) creds: Credentials,
    pub(crate) fd: TargetFd,
    pub(crate) stat: Stat,
}

impl Target {
    /// The `fsid` reported in attributes: the export's id.
    pub(crate) fn fsid(&self) -> u64 {
        u64::from(self.export.id().0)
    }

    /// The file's type.
    pub(crate) fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode as _)
    }

    /// Attributes as resolved.
    pub(crate) fn attr(&self) -> Fattr3 {
        fattr3(&self.stat, self.fsid())
    }

    /// Attributes now (after an operation); `None` if `fstat` fails.
    pub(crate) fn post_op(&self) -> PostOpAttr {
        fstat(&self.fd).ok().map(|st| fattr3(&st, self.fsid()))
    }

    /// Weak cache consistency data: attributes as resolved, and now.
    pub(crate) fn wcc(&self) -> WccData {
        wcc_data(Some(&self.stat), fstat(&self.fd).ok().as_ref(), self.fsid())
    }

    /// Switches this thread to the caller's credentials until the guard
    /// drops. Failing to switch is a server fault, never a silent root op.
    pub(crate) fn assume(&self) -> Result<CredentialGuard, Nfsstat3> {
        self.creds.assume().map_err(|e| {
            tracing::error!(error = %e, "cannot assume caller credentials");
            Nfsstat3::Serverfault
        })
    }

    /// ROFS on a read-only export.
    pub(crate) fn check_writable(&self) -> Result<(), Nfsstat3> {
        if self.options.read_only {
            Err(Nfsstat3::Rofs)
        } else {
            Ok(())
        }
    }

    /// Whether the caller may access the file's data, as knfsd's
    /// `nfsd_permission` decides for READ and WRITE: the kernel's check for
    /// the caller's credentials (modes and ACLs), then the owner override
    /// (the owner may read and write a file whatever its mode, so that a
    /// file created read-only can still be written by its creator), and
    /// for reads, execute permission (clients read executables to run
    /// them). `mode` is `rustix::fs::Access::READ_OK` or `WRITE_OK`.
    pub(crate) fn may(&self, mode: rustix::fs::Access) -> Result<(), Nfsstat3> {
        use rustix::fs::Access as A;
        if mode.contains(A::WRITE_OK) {
            self.check_writable()?;
        }
        let cached = self.fd.cached();
        if cached.is_some_and(|f| f.granted(&self.creds, mode, &self.stat)) {
            return Ok(());
        }
        let decided = {
            let _guard = self.assume()?;
            let check = |m| access_fd(&self.fd, m);
            match check(mode) {
                Ok(()) => Ok(()),
                Err(rustix::io::Errno::ACCESS) | Err(rustix::io::Errno::PERM) => {
                    if self.creds.uid == self.stat.st_uid
                        || (mode == A::READ_OK && check(A::EXEC_OK).is_ok())
                    {
                        Ok(())
                    } else {
                        Err(Nfsstat3::Acces)
                    }
                }
                Err(rustix::io::Errno::ROFS) => Err(Nfsstat3::Rofs),
                Err(e) => Err(nfsstat_from_errno(e)),
            }
        };
        if let (Ok(()), Some(f)) = (&decided, cached) {
            // Valid while the file's ctime, mode and owner stay as in
            // `self.stat` (every chmod, chown or ACL change moves ctime).
            f.grant(&self.creds, mode, &self.stat);
        }
        decided
    }
}

/// `faccessat2(fd, "", mode, AT_EACCESS | AT_EMPTY_PATH)`: whether this
/// thread's filesystem credentials (fsuid, fsgid, groups, and the
/// capabilities they leave) allow `mode` on the open file `fd` itself,
/// `O_PATH` descriptors included.
///
/// rustix's `accessat` refuses `AT_EMPTY_PATH` (EINVAL), and naming the
/// file by path would race with renames, hence the raw system call
/// (Linux >= 5.8).
pub(crate) fn access_fd(
    fd: impl std::os::fd::AsFd,
    mode: rustix::fs::Access,
) -> Result<(), rustix::io::Errno> {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd();
    // SAFETY: faccessat2 reads the NUL-terminated empty path (a static C
    // string literal, valid for the call) and takes integers otherwise; it
    // writes no memory of ours. `fd` is a borrowed, open descriptor.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            mode.bits() as libc::c_int,
            libc::AT_EACCESS | libc::AT_EMPTY_PATH,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(rustix::io::Errno::from_raw_os_error(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    }
}
