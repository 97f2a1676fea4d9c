//! GETATTR, LOOKUP, ACCESS, READLINK, READ. (Placeholder: being written.)

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use super::context::Caller;
use super::Nfs3;

impl Nfs3 {
    pub(super) fn getattr(&self, _c: &Caller, _a: Getattr3Args) -> Getattr3Res {
        NfsResult::Err(Nfsstat3::Notsupp, ())
    }
    pub(super) fn lookup(&self, _c: &Caller, _a: Lookup3Args) -> Lookup3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
    pub(super) fn access(&self, _c: &Caller, _a: Access3Args) -> Access3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
    pub(super) fn readlink(&self, _c: &Caller, _a: Readlink3Args) -> Readlink3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
    pub(super) fn read(&self, _c: &Caller, _a: Read3Args) -> Read3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
}
