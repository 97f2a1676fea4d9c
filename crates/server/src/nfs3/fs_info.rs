//! FSSTAT, FSINFO, PATHCONF. (Placeholder: being written.)

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use super::context::Caller;
use super::Nfs3;

impl Nfs3 {
    pub(super) fn fsstat(&self, _c: &Caller, _a: Fsstat3Args) -> Fsstat3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
    pub(super) fn fsinfo(&self, _c: &Caller, _a: Fsinfo3Args) -> Fsinfo3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
    pub(super) fn pathconf(&self, _c: &Caller, _a: Pathconf3Args) -> Pathconf3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
}
