//! CREATE, MKDIR, SYMLINK, MKNOD, LINK. (Placeholder: being written.)

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

use super::context::Caller;
use super::Nfs3;

impl Nfs3 {
    pub(super) fn create(&self, _c: &Caller, _a: Create3Args) -> Create3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn mkdir(&self, _c: &Caller, _a: Mkdir3Args) -> Mkdir3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn symlink(&self, _c: &Caller, _a: Symlink3Args) -> Symlink3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn mknod(&self, _c: &Caller, _a: Mknod3Args) -> Mknod3Res {
        NfsResult::Err(Nfsstat3::Notsupp, WccData::default())
    }
    pub(super) fn link(&self, _c: &Caller, _a: Link3Args) -> Link3Res {
        NfsResult::Err(Nfsstat3::Notsupp, Link3Wcc::default())
    }
}
