//! FSSTAT, FSINFO, PATHCONF: what the file system under a handle offers.

use std::os::fd::AsRawFd;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use rustix::fs::fstatvfs;

use super::context::{Caller, Target};
use super::errors::nfsstat_from_errno;
use super::Nfs3;
use crate::handle::Access;

/// FSINFO `rtmult`/`wtmult`: the page size, so clients align I/O to what
/// the page cache handles without read-modify-write.
const IO_MULTIPLE: u32 = 4096;

/// FSINFO `dtpref`: 64 KiB READDIR replies. knfsd offers one page (4 KiB),
/// which costs a round trip per ~100 names; pages here are cheap to build
/// (one `getdents64` or two), so bigger replies mean fewer round trips for
/// large directories, while READDIRPLUS pages (~300 entries, one stat and
/// handle each) stay a few milliseconds of work.
const DTPREF: u32 = 64 << 10;

/// Hard links per file when `fpathconf` cannot tell: Linux's `LINK_MAX`.
const DEFAULT_LINK_MAX: u32 = 127;

impl Nfs3 {
    pub(super) fn fsstat(&self, c: &Caller, a: Fsstat3Args) -> Fsstat3Res {
        let t = match self.shared.target(c, &a.fsroot, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        match statvfs(&t) {
            Ok(v) => NfsResult::Ok(Fsstat3ResOk {
                obj_attributes: t.post_op(),
                tbytes: v.f_blocks.saturating_mul(v.f_frsize),
                fbytes: v.f_bfree.saturating_mul(v.f_frsize),
                abytes: v.f_bavail.saturating_mul(v.f_frsize),
                tfiles: v.f_files,
                ffiles: v.f_ffree,
                afiles: v.f_favail,
                // Free space changes with every write: no promise.
                invarsec: 0,
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }

    pub(super) fn fsinfo(&self, c: &Caller, a: Fsinfo3Args) -> Fsinfo3Res {
        let t = match self.shared.target(c, &a.fsroot, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        let io = self.shared.max_io_size;
        NfsResult::Ok(Fsinfo3ResOk {
            obj_attributes: t.post_op(),
            rtmax: io,
            rtpref: io,
            rtmult: IO_MULTIPLE,
            wtmax: io,
            wtpref: io,
            wtmult: IO_MULTIPLE,
            dtpref: DTPREF,
            // Local files are bounded by the file system, which reports
            // EFBIG itself; offsets are signed 64-bit in the kernel.
            maxfilesize: i64::MAX as u64,
            // Times are set and reported with nanoseconds.
            time_delta: Nfstime3 {
                seconds: 0,
                nseconds: 1,
            },
            properties: FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
        })
    }

    pub(super) fn pathconf(&self, c: &Caller, a: Pathconf3Args) -> Pathconf3Res {
        let t = match self.shared.target(c, &a.object, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        match statvfs(&t) {
            Ok(v) => NfsResult::Ok(Pathconf3ResOk {
                obj_attributes: t.post_op(),
                linkmax: link_max(&t),
                name_max: u32::try_from(v.f_namemax).unwrap_or(u32::MAX),
                no_trunc: true,
                chown_restricted: true,
                case_insensitive: false,
                case_preserving: true,
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }
}

/// `fstatvfs` of the file system holding `t` (works on `O_PATH`
/// descriptors; needs no permission, so no credential switch).
fn statvfs(t: &Target) -> Result<rustix::fs::StatVfs, Nfsstat3> {
    fstatvfs(&t.fd).map_err(nfsstat_from_errno)
}

/// The file system's hard link limit, as the C library knows it per file
/// system type (65000 for ext4, for instance).
fn link_max(t: &Target) -> u32 {
    // SAFETY: fpathconf takes a descriptor (valid: borrowed from `t.fd`,
    // which outlives the call) and a constant, and touches no memory of
    // ours. glibc answers _PC_LINK_MAX from fstatfs, which O_PATH
    // descriptors support.
    let n = unsafe { libc::fpathconf(t.fd.as_raw_fd(), libc::_PC_LINK_MAX) };
    match u32::try_from(n) {
        Ok(n) if n > 0 => n,
        // -1: no limit or unknown; larger than u32: no practical limit.
        _ if n > 0 => u32::MAX,
        _ => DEFAULT_LINK_MAX,
    }
}

#[cfg(test)]
mod tests {
    use nfsl_proto::nfs3::*;
    use nfsl_proto::NfsResult;

    use crate::testkit::{Kit, MAX_IO};

    #[test]
    fn fsinfo_fsstat_pathconf() {
        let k = Kit::new("rw,no_root_squash", |p| {
            std::fs::write(p.join("f"), b"x").unwrap()
        });
        let root = k.root();
        let res: Fsinfo3Res = k.nfs(
            Nfs3Procedure::Fsinfo,
            &Fsinfo3Args {
                fsroot: root.clone(),
            },
        );
        let NfsResult::Ok(i) = res else {
            panic!("FSINFO")
        };
        assert!(i.obj_attributes.is_some());
        assert_eq!(
            (i.rtmax, i.rtpref, i.wtmax, i.wtpref),
            (MAX_IO, MAX_IO, MAX_IO, MAX_IO)
        );
        assert_eq!((i.rtmult, i.wtmult, i.dtpref), (4096, 4096, 65536));
        assert_eq!(i.maxfilesize, i64::MAX as u64);
        assert_eq!((i.time_delta.seconds, i.time_delta.nseconds), (0, 1));
        assert_eq!(
            i.properties,
            FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME
        );

        let v = rustix::fs::statvfs(k.path()).unwrap();
        let res: Fsstat3Res = k.nfs(
            Nfs3Procedure::Fsstat,
            &Fsstat3Args {
                fsroot: root.clone(),
            },
        );
        let NfsResult::Ok(s) = res else {
            panic!("FSSTAT")
        };
        assert_eq!(s.tbytes, v.f_blocks * v.f_frsize);
        assert_eq!(s.tfiles, v.f_files);
        assert!(s.abytes <= s.fbytes && s.fbytes <= s.tbytes);
        assert_eq!(s.invarsec, 0);

        let (f, _) = k.lookup(&root, "f");
        let res: Pathconf3Res = k.nfs(Nfs3Procedure::Pathconf, &Pathconf3Args { object: f });
        let NfsResult::Ok(p) = res else {
            panic!("PATHCONF")
        };
        assert_eq!(p.name_max, v.f_namemax as u32);
        assert!(p.linkmax >= 127, "linkmax {}", p.linkmax);
        assert!(p.no_trunc && p.chown_restricted && !p.case_insensitive && p.case_preserving);

        let bad = NfsFh3(vec![0; 8]);
        let res: Fsinfo3Res = k.nfs(Nfs3Procedure::Fsinfo, &Fsinfo3Args { fsroot: bad });
        assert!(matches!(
            res.status(),
            Nfsstat3::Badhandle | Nfsstat3::Stale
        ));
    }
}
