//! SETATTR, WRITE, COMMIT. (Placeholder: being written.)

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use super::context::Caller;
use super::Nfs3;

impl Nfs3 {
    pub(super) fn setattr(&self, _c: &Caller, _a: Setattr3Args) -> Setattr3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn write(&self, _c: &Caller, _a: Write3Args) -> Write3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn commit(&self, _c: &Caller, _a: Commit3Args) -> Commit3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
}
