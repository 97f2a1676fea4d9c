//! NFSv3 (RFC 1813): the 22 procedures on exported local directories.
//!
//! Every procedure follows the same order (see [`context`]): find the
//! export from the handle and the caller's options for it, resolve the
//! handle with the server's own credentials, then do the work under the
//! caller's (squashed) credentials so the kernel checks permissions as it
//! would for that user, as knfsd does.
//!
//! Files by job: [`dispatch`] decodes arguments and routes; `read_ops`
//! (GETATTR, LOOKUP, ACCESS, READLINK, READ), `read_now` (READ of cached
//! data on the transport's thread, without waiting), `readdir` (READDIR,
//! READDIRPLUS), `fs_info` (FSSTAT, FSINFO, PATHCONF), `write_ops`
//! (SETATTR, WRITE, COMMIT), `create_ops` (CREATE, MKDIR, SYMLINK, MKNOD,
//! LINK) and `remove_ops` (REMOVE, RMDIR, RENAME).

pub(crate) mod attrs;
pub(crate) mod context;
mod create_ops;
mod dispatch;

pub(crate) use dispatch::run;
pub(crate) mod errors;
mod fs_info;
mod read_data;
mod read_now;
mod read_ops;
mod readdir;
mod remove_ops;
mod write_ops;

use std::sync::Arc;

use crate::server::ProgramState;

/// The NFSv3 program: procedures over the shared exports.
#[derive(Debug)]
pub(crate) struct Nfs3 {
    shared: Arc<ProgramState>,
}

impl Nfs3 {
    pub(crate) fn new(shared: Arc<ProgramState>) -> Nfs3 {
        Nfs3 { shared }
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &ProgramState {
        &self.shared
    }

    pub(crate) fn shared_arc(&self) -> Arc<ProgramState> {
        self.shared.clone()
    }
}
