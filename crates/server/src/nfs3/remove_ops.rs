//! REMOVE, RMDIR, RENAME. (Placeholder: being written.)

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use super::context::Caller;
use super::Nfs3;

impl Nfs3 {
    pub(super) fn remove(&self, _c: &Caller, _a: Remove3Args) -> Remove3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn rmdir(&self, _c: &Caller, _a: Rmdir3Args) -> Rmdir3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn rename(&self, _c: &Caller, _a: Rename3Args) -> Rename3Res {
        NfsResult::Err(Nfsstat3::Notsupp, Rename3Wcc::default())
    }
}
