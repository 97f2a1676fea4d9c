//! LOCALIO on the NFS server: the RPC program 400122 v1 (`NULL`,
//! `UUID_IS_LOCAL`) that confirms nonces registered on the local channel,
//! and the [`Authorizer`] that opens files for confirmed clients under the
//! same rules as the NFSv3 procedures.
//!
//! The open follows knfsd's LOCALIO path (`nfsd_file_acquire_local`): the
//! handle is authorized and resolved as for any procedure (export, client
//! rules, `secure`, for the NFS client address recorded at confirmation),
//! the squashed credentials must pass the same permission check as READ
//! (and WRITE for read-write: ROFS on `ro` exports), and then the file is
//! opened by the server itself, as knfsd opens it after `nfsd_permission`.
//! The kernel makes the permission decision under the caller's assumed
//! credentials (`faccessat2` with `AT_EACCESS`), so modes and ACLs apply
//! exactly as for RPC, including NFS's owner override.
//!
//! An export marked `nolocalio` hands out no fds at all (its opens are
//! refused with `NFS3ERR_PERM`, and the client does that export's IO over
//! RPC). Each open reads the exports in force at that moment; a reload that
//! removes or changes an export revokes the sessions that hold fds
//! opened under the old rules (see [`crate::reload`]).

use std::sync::Arc;
use std::time::Instant;

use nfsl_localio::{
    Authorizer, Confirmation, DioAlignment, Nonce, NonceRegistry, OpenRefusal, OpenRequest,
    OpenedFile, Revocations,
};
use nfsl_proto::localio::{LocalioProcedure, LocalioUuid};
use nfsl_proto::nfs3::{NfsFh3, Nfsstat3};
use nfsl_rpc::Auth;
use nfsl_rpc_service::{CallContext, CallOutcome, Results};
use rustix::fs::{FileType, OFlags};

use crate::creds::CallerIdentity;
use crate::handle::{Access, HandleError};
use crate::nfs3::context::{handle_status, Caller};
use crate::nfs3::errors::nfsstat_from_errno;
use crate::server::ProgramState;

/// The LOCALIO RPC program: confirms nonces in the shared registry.
#[derive(Debug)]
pub(crate) struct LocalioProgram {
    registry: Arc<NonceRegistry>,
    shared: Arc<ProgramState>,
}

impl LocalioProgram {
    pub(crate) fn new(registry: Arc<NonceRegistry>, shared: Arc<ProgramState>) -> LocalioProgram {
        LocalioProgram { registry, shared }
    }

    /// Whether `UUID_IS_LOCAL` from `peer` may confirm a nonce: some export
    /// in force without `nolocalio` admits that client address with its
    /// options, including the `secure` rule (a source port below 1024
    /// unless `insecure`), as for every other call. A session confirmed otherwise could open
    /// nothing anyway; refusing it here keeps an address that may not use
    /// the server from holding sessions at all.
    fn admits(&self, peer: std::net::SocketAddr) -> bool {
        self.shared.exports.load().exports.iter().any(|rt| {
            rt.export
                .options_for(peer.ip())
                .is_some_and(|o| o.localio && (!o.secure || peer.port() < 1024))
        })
    }

    /// `NULL` and `UUID_IS_LOCAL`. Like Linux, `UUID_IS_LOCAL` replies void
    /// success whether or not it confirmed anything: the client learns the
    /// answer on the local channel. Only AUTH_SYS calls from a client that
    /// an export admits (client list, `secure`) confirm.
    pub(crate) fn dispatch(&self, ctx: &CallContext, args: &[u8], _: &mut Results) -> CallOutcome {
        match LocalioProcedure::from_u32(ctx.procedure) {
            Some(LocalioProcedure::Null) => {
                if args.is_empty() {
                    CallOutcome::Success
                } else {
                    CallOutcome::GarbageArgs
                }
            }
            Some(LocalioProcedure::UuidIsLocal) => {
                let Ok(uuid) = nfsl_xdr::decode_exact::<LocalioUuid>(args) else {
                    return CallOutcome::GarbageArgs;
                };
                if !self.admits(ctx.peer) {
                    tracing::debug!(
                        peer = %ctx.peer,
                        "UUID_IS_LOCAL refused: no export admits this client (client list or `secure`)"
                    );
                } else if matches!(ctx.auth, Auth::Sys(_)) {
                    let confirmation = Confirmation {
                        nfs_client: ctx.peer,
                        nfs_server: ctx.local,
                    };
                    let ok = self
                        .registry
                        .confirm(&Nonce(uuid), confirmation, Instant::now());
                    tracing::debug!(peer = %ctx.peer, confirmed = ok, "UUID_IS_LOCAL");
                } else {
                    tracing::debug!(peer = %ctx.peer, "UUID_IS_LOCAL without AUTH_SYS ignored");
                }
                CallOutcome::Success
            }
            None => CallOutcome::ProcUnavail,
        }
    }
}

/// Opens files for confirmed LOCALIO clients (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalioAuthorizer {
    shared: Arc<ProgramState>,
}

impl LocalioAuthorizer {
    pub(crate) fn new(shared: Arc<ProgramState>) -> LocalioAuthorizer {
        LocalioAuthorizer { shared }
    }
}

impl Authorizer for LocalioAuthorizer {
    fn open(&self, r: &OpenRequest) -> Result<OpenedFile, OpenRefusal> {
        let caller = Caller {
            peer: r.session.nfs_client,
            identity: CallerIdentity::Unix {
                uid: r.creds.uid,
                gid: r.creds.gid,
                groups: r.creds.gids.clone(),
            },
        };
        let fh = NfsFh3(r.handle.clone());
        let t = self
            .shared
            .target(&caller, &fh, Access::Path)
            .map_err(OpenRefusal::Nfs)?;
        if !t.options.localio {
            // `nolocalio`: no fd ever leaves the server for this export.
            return Err(OpenRefusal::Nfs(Nfsstat3::Perm));
        }
        if t.file_type() != FileType::RegularFile {
            return Err(OpenRefusal::Nfs(Nfsstat3::Inval));
        }
        let access = match r.access {
            nfsl_localio::Access::Read => Access::Read,
            nfsl_localio::Access::ReadWrite => Access::ReadWrite,
        };
        t.may(rustix::fs::Access::READ_OK)
            .map_err(OpenRefusal::Nfs)?;
        if access == Access::ReadWrite {
            t.may(rustix::fs::Access::WRITE_OK)
                .map_err(OpenRefusal::Nfs)?;
        }
        let open = || {
            t.export.fs.resolve(&fh.0, access).map_err(|e| {
                OpenRefusal::Nfs(match &e {
                    // A program running on this host cannot be opened
                    // for writing: a refusal about this file (the client
                    // goes on over RPC for it), not a broken local path.
                    HandleError::Io(io) if io.raw_os_error() == Some(libc::ETXTBSY) => {
                        Nfsstat3::Acces
                    }
                    _ => handle_status(&e),
                })
            })
        };
        let buffered = open()?;
        let stat =
            rustix::fs::fstat(&buffered).map_err(|e| OpenRefusal::Nfs(nfsstat_from_errno(e)))?;
        let alignment = DioAlignment::probe(&buffered).unwrap_or_default();
        let direct = if alignment.supports_direct() {
            let fd = open()?;
            let flags =
                rustix::fs::fcntl_getfl(&fd).map_err(|e| OpenRefusal::Errno(e.raw_os_error()))?;
            // EINVAL: the file system does not do O_DIRECT after all.
            rustix::fs::fcntl_setfl(&fd, flags | OFlags::DIRECT)
                .ok()
                .map(|()| fd)
        } else {
            None
        };
        tracing::debug!(
            client = %r.session.nfs_client,
            peer_uid = r.peer.uid,
            uid = r.creds.uid,
            access = ?r.access,
            direct = direct.is_some(),
            "LOCALIO open"
        );
        Ok(OpenedFile {
            buffered,
            direct,
            alignment,
            size: stat.st_size as u64,
        })
    }

    /// A reload that removes or changes an export revokes every session
    /// that holds fds ([`crate::reload`]).
    fn revocations(&self) -> Option<Revocations> {
        Some(self.shared.revocations.clone())
    }
}

#[cfg(test)]
mod tests;
