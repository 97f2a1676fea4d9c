//! READDIR, READDIRPLUS. (Placeholder: being written.)

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use super::context::Caller;
use super::Nfs3;

impl Nfs3 {
    pub(super) fn readdir(&self, _c: &Caller, _a: Readdir3Args) -> Readdir3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
    pub(super) fn readdirplus(&self, _c: &Caller, _a: Readdirplus3Args) -> Readdirplus3Res {
        NfsResult::Err(Nfsstat3::Notsupp, None)
    }
}
