//! GETATTR, LOOKUP, ACCESS, READLINK, READ: the procedures that only look.
//!
//! Each resolves the handle as the server, then lets the kernel decide
//! permissions under the caller's credentials (search permission for
//! LOOKUP, `faccessat` for ACCESS), so modes and ACLs mean what they mean
//! locally, as with knfsd.

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::Xdr;
use rustix::fs::{fstat, openat, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::attrs::fattr3;
use super::context::{access_fd, check_name, handle_status, Caller, Target};
use super::errors::{nfsstat_from_errno, nfsstat_from_io};
use super::read_data::{encode_read_ok, read_len, ReadData};
use super::Nfs3;
use crate::handle::{Access, FileHandle};
use crate::names::Name;
use nfsl_rpc_service::Results;

impl Nfs3 {
    pub(super) fn getattr(&self, c: &Caller, a: Getattr3Args) -> Getattr3Res {
        match self.shared.target(c, &a.object, Access::Path) {
            Ok(t) => NfsResult::Ok(Getattr3ResOk {
                obj_attributes: t.attr(),
            }),
            Err(s) => NfsResult::Err(s, ()),
        }
    }

    pub(super) fn lookup(&self, c: &Caller, a: Lookup3Args) -> Lookup3Res {
        let t = match self.shared.target(c, &a.what.dir, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        match lookup_in(&t, &a.what.name) {
            Ok((fh, obj_attributes)) => NfsResult::Ok(Lookup3ResOk {
                object: NfsFh3(fh.as_bytes().to_vec()),
                obj_attributes,
                dir_attributes: t.post_op(),
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }

    pub(super) fn access(&self, c: &Caller, a: Access3Args) -> Access3Res {
        let t = match self.shared.target(c, &a.object, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        match granted(&t, a.access) {
            Ok(access) => NfsResult::Ok(Access3ResOk {
                obj_attributes: t.post_op(),
                access,
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }

    pub(super) fn readlink(&self, c: &Caller, a: Readlink3Args) -> Readlink3Res {
        let t = match self.shared.target(c, &a.symlink, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        if t.file_type() != FileType::Symlink {
            return NfsResult::Err(Nfsstat3::Inval, t.post_op());
        }
        let target = t.assume().and_then(|_g| {
            // The handle opened the link itself (O_PATH | O_NOFOLLOW); an
            // empty path reads that link, never one found by name.
            rustix::fs::readlinkat(&t.fd, "", Vec::new()).map_err(nfsstat_from_errno)
        });
        match target {
            Ok(target) => NfsResult::Ok(Readlink3ResOk {
                symlink_attributes: t.post_op(),
                data: Nfspath3(target.into_bytes()),
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }

    /// READ of a regular file. Large data goes into the results as a range
    /// of the open file, which the transport sends from the page cache
    /// (`sendfile`): it is never copied through user space; small data is
    /// read in with one `pread` (see [`ReadData`]).
    ///
    /// The fast path takes an `O_RDONLY` descriptor from the open-file
    /// cache or resolves the handle to one. Handles of other file types
    /// cannot be opened for reading, so only that failure pays a second,
    /// `O_PATH` resolution to report the precise status with attributes.
    pub(super) fn read_into(&self, c: &Caller, a: Read3Args, out: &mut Results) {
        let t = match self.shared.target(c, &a.file, Access::Read) {
            Ok(t) => t,
            Err(Nfsstat3::Inval) => {
                let res: Read3Res = match self.shared.target(c, &a.file, Access::Path) {
                    Ok(t) => NfsResult::Err(not_readable_status(&t), t.post_op()),
                    Err(s) => NfsResult::Err(s, None),
                };
                return res.encode(out);
            }
            Err(s) => return Read3Res::Err(s, None).encode(out),
        };
        if t.file_type() != FileType::RegularFile {
            return Read3Res::Err(not_readable_status(&t), t.post_op()).encode(out);
        }
        if let Err(s) = t.may(rustix::fs::Access::READ_OK) {
            return Read3Res::Err(s, t.post_op()).encode(out);
        }
        let count = a.count.min(self.shared.max_io_size);
        // The descriptor is already open and its access checked, and
        // reading it checks nothing more, so no credential switch.
        encode_read(t, a.offset, count, out);
    }
}

/// Appends the successful READ reply for up to `count` bytes at `offset`
/// of `t`: the head, with the attributes taken when the request resolved
/// its file (an `fstat` of this request, so the count and eof agree with
/// them); the data ([`ReadData`]: read in for small reads, a range of the
/// open file for large ones); its padding. (If the file shrinks before a
/// range is sent, the transport closes the connection rather than send a
/// wrong reply; the client retransmits and gets the short read.)
fn encode_read(t: Target, offset: u64, count: u32, out: &mut Results) {
    let st = t.stat;
    let fsid = t.fsid();
    let n = read_len(&st, offset, count);
    match ReadData::take(t.fd, offset, n) {
        Ok(data) => encode_read_ok(&st, fsid, offset, data, out),
        Err(e) => Read3Res::Err(nfsstat_from_io(&e), Some(fattr3(&st, fsid))).encode(out),
    }
}

/// The status for READ of something that is not a regular file.
fn not_readable_status(t: &Target) -> Nfsstat3 {
    match t.file_type() {
        FileType::Directory => Nfsstat3::Isdir,
        _ => Nfsstat3::Inval,
    }
}

/// LOOKUP of `name` in the directory `t`: its handle and attributes.
///
/// The child is opened `O_PATH | O_NOFOLLOW` under the caller's
/// credentials, so the kernel checks search permission on the directory
/// (also for `.` and `..`, as knfsd does), and the handle and attributes
/// come from that one open file (no race with a rename in between).
///
/// A child on another mount (a mount point inside the export) has no
/// handle here; `handle_status` answers STALE for it, as a file the
/// export cannot name. `..` of the export root is the root itself, and
/// `..` that is not beneath the root (a directory moved out of the export
/// while the client held its handle) is STALE.
fn lookup_in(t: &Target, name: &Filename3) -> Result<(FileHandle, PostOpAttr), Nfsstat3> {
    if t.file_type() != FileType::Directory {
        return Err(Nfsstat3::Notdir);
    }
    let name = check_name(name)?;
    let fs = &t.export.fs;
    let path = match name {
        Name::DotDot if fs.is_root(&t.fd).map_err(|e| nfsstat_from_io(&e))? => Name::Dot,
        n => n,
    };
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let child = {
        let _g = t.assume()?;
        openat(&t.fd, path.as_os_str(), flags, Mode::empty()).map_err(nfsstat_from_errno)?
    };
    if path == Name::DotDot {
        // Never above the export, even from a directory moved out of it.
        fs.check_within(&child).map_err(|e| handle_status(&e))?;
    }
    let fh = fs.handle_for_fd(&child).map_err(|e| handle_status(&e))?;
    let attrs = fstat(&child).ok().map(|st| fattr3(&st, t.fsid()));
    Ok((fh, attrs))
}

/// The ACCESS3 bits of `asked` the caller has on `t`, as the kernel
/// decides for the caller's credentials (modes, ACLs, read-only mounts).
///
/// Directories: READ needs r, LOOKUP x, MODIFY/EXTEND/DELETE w and x (what
/// changing an entry takes). Other files: READ r, MODIFY/EXTEND w, EXECUTE
/// x; DELETE is decided by the parent, which ACCESS does not name, so it
/// is never granted (as knfsd). Symlinks get READ only (knfsd's answer:
/// their permission bits mean nothing). A read-only export never grants
/// MODIFY/EXTEND/DELETE. Only bits asked are checked and returned.
fn granted(t: &Target, asked: u32) -> Result<u32, Nfsstat3> {
    use rustix::fs::Access as A;
    let ft = t.file_type();
    if ft == FileType::Symlink {
        return Ok(asked & ACCESS3_READ);
    }
    let _g = t.assume()?;
    let can = |mode: A| match access_fd(&t.fd, mode) {
        Ok(()) => Ok(true),
        Err(Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::TXTBSY) => Ok(false),
        Err(e) => Err(nfsstat_from_errno(e)),
    };
    let writes = ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
    let mut out = 0;
    if asked & ACCESS3_READ != 0 && can(A::READ_OK)? {
        out |= ACCESS3_READ;
    }
    if ft == FileType::Directory {
        if asked & (ACCESS3_LOOKUP | writes) != 0 && can(A::EXEC_OK)? {
            out |= asked & ACCESS3_LOOKUP;
            if asked & writes != 0 && can(A::WRITE_OK)? {
                out |= asked & writes;
            }
        }
    } else {
        if asked & (ACCESS3_MODIFY | ACCESS3_EXTEND) != 0 && can(A::WRITE_OK)? {
            out |= asked & (ACCESS3_MODIFY | ACCESS3_EXTEND);
        }
        if asked & ACCESS3_EXECUTE != 0 && can(A::EXEC_OK)? {
            out |= ACCESS3_EXECUTE;
        }
    }
    if t.options.read_only {
        out &= !writes;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
