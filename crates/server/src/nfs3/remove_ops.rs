//! REMOVE, RMDIR, RENAME: taking entries away, under the caller's
//! credentials so the kernel applies directory permissions and the
//! sticky bit as for a local user.
//!
//! `.` and `..` are never removed or renamed: INVAL, knfsd's answer (see
//! [`crate::names`]).

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use rustix::fs::AtFlags;

use super::context::{entry_name, Caller};
use super::errors::nfsstat_from_errno;
use super::Nfs3;

#[cfg(test)]
mod tests;

impl Nfs3 {
    /// REMOVE of a directory is ISDIR (Linux's `unlink` gives EISDIR).
    pub(super) fn remove(&self, c: &Caller, a: Remove3Args) -> Remove3Res {
        self.unlink(c, &a.object, AtFlags::empty())
    }

    /// RMDIR of a non-empty directory is NOTEMPTY, of anything else NOTDIR.
    pub(super) fn rmdir(&self, c: &Caller, a: Rmdir3Args) -> Rmdir3Res {
        self.unlink(c, &a.object, AtFlags::REMOVEDIR)
    }

    /// Both directories must be in the same export (XDEV otherwise, even
    /// on one file system: a rename must not move files between exports
    /// with different options). Renaming a file onto another link of the
    /// same file succeeds and changes nothing (POSIX `rename`).
    pub(super) fn rename(&self, c: &Caller, a: Rename3Args) -> Rename3Res {
        let from = match self.shared.dir_target(c, &a.from.dir) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, Rename3Wcc::default()),
        };
        let to = match self.shared.dir_target(c, &a.to.dir) {
            Ok(t) => t,
            Err(s) => {
                let wcc = Rename3Wcc {
                    fromdir_wcc: from.wcc(),
                    todir_wcc: WccData::default(),
                };
                return NfsResult::Err(s, wcc);
            }
        };
        let result = (|| {
            if from.export.id() != to.export.id() {
                return Err(Nfsstat3::Xdev);
            }
            let from_name = entry_name(&from, &a.from.name, Nfsstat3::Inval)?;
            let to_name = entry_name(&to, &a.to.name, Nfsstat3::Inval)?;
            let _guard = from.assume()?;
            // What the rename replaces, if anything, leaves the file cache.
            let replaced = to
                .export
                .fs
                .handle_for_child(&to.fd, to_name.as_bytes())
                .ok();
            rustix::fs::renameat(&from.fd, from_name.as_os_str(), &to.fd, to_name.as_os_str())
                .map_err(nfsstat_from_errno)?;
            if let Some(fh) = replaced {
                self.shared.files.evict(fh.as_bytes());
            }
            to.export.fs.note_renamed(&to.fd, to_name.as_bytes());
            Ok(())
        })();
        let wcc = Rename3Wcc {
            fromdir_wcc: from.wcc(),
            todir_wcc: to.wcc(),
        };
        match result {
            Ok(()) => NfsResult::Ok(wcc),
            Err(s) => NfsResult::Err(s, wcc),
        }
    }

    /// REMOVE (`flags` empty) and RMDIR (`AT_REMOVEDIR`).
    fn unlink(&self, c: &Caller, object: &DirOpArgs3, flags: AtFlags) -> Remove3Res {
        let dt = match self.shared.dir_target(c, &object.dir) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, WccData::default()),
        };
        let result = entry_name(&dt, &object.name, Nfsstat3::Inval).and_then(|name| {
            let _guard = dt.assume()?;
            // Its cached descriptors go too, so its space is freed now.
            let victim = dt.export.fs.handle_for_child(&dt.fd, name.as_bytes()).ok();
            rustix::fs::unlinkat(&dt.fd, name.as_os_str(), flags).map_err(nfsstat_from_errno)?;
            if let Some(fh) = victim {
                self.shared.files.evict(fh.as_bytes());
            }
            Ok(())
        });
        match result {
            Ok(()) => NfsResult::Ok(Remove3ResOk { dir_wcc: dt.wcc() }),
            Err(s) => NfsResult::Err(s, dt.wcc()),
        }
    }
}
