//! [`NfsServer`]: the exports opened for serving, the state that survives
//! restarts, and the RPC programs (NFSv3, MOUNT v3) answered on them.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use nfsl_proto::localio::{LOCALIO_PROGRAM, LOCALIO_V1};
use nfsl_proto::mount3::{MOUNT_PROGRAM, MOUNT_V3};
use nfsl_proto::nfs3::{Nfs3Procedure, NFS_PROGRAM, NFS_V3};
use nfsl_rpc_service::{CallContext, CallOutcome, ProgramVersions, Results, RpcService};

use crate::exports::{Export, ExportTable, ExportsError};
use crate::filecache::FileCache;
use crate::localio::{LocalioAuthorizer, LocalioProgram};
use crate::mount3::{Mount3, MountTable};
use crate::nfs3::Nfs3;
use crate::reload::{ExportsHandle, LiveExports, ReloadSummary};
use crate::state::{ServerState, WriteVerifier};

/// What `nfsl serve` needs to start a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// What to export to whom.
    pub exports: ExportTable,
    /// Where the handle secret lives (see [`ServerState`]).
    pub state_dir: PathBuf,
    /// Largest READ/WRITE payload offered in FSINFO (rtmax/wtmax).
    pub max_io_size: u32,
    /// Whom an unprivileged server (not root) serves, and as whom.
    pub unprivileged: crate::creds::UnprivilegedMode,
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The exports are invalid (missing directory, duplicate id...).
    #[error(transparent)]
    Exports(#[from] ExportsError),
    /// The state directory could not be opened or created.
    #[error("state directory {}: {source}", path.display())]
    State {
        /// The directory.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// An export directory could not be opened.
    #[error("export {}: {source}", path.display())]
    Export {
        /// The directory.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
}

/// What every procedure shares: the exports and this instance's verifier.
#[derive(Debug)]
pub(crate) struct ProgramState {
    /// The exports in force (replaced whole by a reload).
    pub(crate) exports: LiveExports,
    pub(crate) verifier: WriteVerifier,
    pub(crate) max_io_size: u32,
    /// Ends LOCALIO sessions when a reload changes the rules.
    pub(crate) revocations: nfsl_localio::Revocations,
    /// As whom requests run (the caller, or the server's own user).
    pub(crate) callers: crate::creds::CallerMapping,
    /// Says (rate-limited) why calls were refused by an export's rules.
    pub(crate) refusals: crate::refusal_log::RefusalLog,
    /// Files kept open for READ and WRITE.
    pub(crate) files: Arc<FileCache>,
}

/// The NFSv3 + MOUNT v3 server: implements [`RpcService`] for the transport.
pub struct NfsServer {
    programs: Vec<ProgramVersions>,
    nfs3: Nfs3,
    mount3: Mount3,
    localio: Option<LocalioProgram>,
    state: ServerState,
}

impl NfsServer {
    /// Validates the exports, opens the state directory and every export.
    pub fn new(mut config: ServerConfig) -> Result<NfsServer, ServerError> {
        config.exports.validate()?;
        let state = ServerState::open(&config.state_dir).map_err(|source| ServerError::State {
            path: config.state_dir.clone(),
            source,
        })?;
        let shared = Arc::new(ProgramState {
            exports: LiveExports::open(config.exports, state.handle_key())?,
            verifier: state.write_verifier(),
            max_io_size: config.max_io_size,
            revocations: nfsl_localio::Revocations::new(),
            refusals: Default::default(),
            callers: crate::creds::CallerMapping::for_this_process(config.unprivileged),
            files: Arc::new(FileCache::new(FileCache::default_capacity())),
        });
        FileCache::start_sweeper(&shared.files);
        Ok(NfsServer {
            programs: vec![
                ProgramVersions {
                    program: NFS_PROGRAM,
                    low: NFS_V3,
                    high: NFS_V3,
                },
                ProgramVersions {
                    program: MOUNT_PROGRAM,
                    low: MOUNT_V3,
                    high: MOUNT_V3,
                },
            ],
            nfs3: Nfs3::new(shared.clone()),
            mount3: Mount3::new(shared, MountTable::default()),
            localio: None,
            state,
        })
    }

    /// The state directory in use.
    pub fn state_dir(&self) -> &std::path::Path {
        self.state.dir()
    }

    /// Serves LOCALIO (program 400122 v1) on the NFS port, confirming
    /// nonces in `registry` (the one the local channel's listener uses).
    /// Without this call the program is not served (`PROG_UNAVAIL`).
    pub fn enable_localio(&mut self, registry: Arc<nfsl_localio::NonceRegistry>) {
        if self.localio.is_none() {
            self.programs.push(ProgramVersions {
                program: LOCALIO_PROGRAM,
                low: LOCALIO_V1,
                high: LOCALIO_V1,
            });
        }
        self.localio = Some(LocalioProgram::new(registry, self.nfs3.shared_arc()));
    }

    /// The [`LocalioAuthorizer`] that opens files for the local channel's
    /// listener under this server's exports and rules.
    pub fn localio_authorizer(&self) -> LocalioAuthorizer {
        LocalioAuthorizer::new(self.nfs3.shared_arc())
    }

    /// The exports being served, in order.
    pub fn exports(&self) -> Vec<Export> {
        self.exports_handle().exports()
    }

    /// A handle to this server's exports that stays usable after the
    /// server is handed to the transport: reload through it.
    pub fn exports_handle(&self) -> ExportsHandle {
        ExportsHandle::new(self.nfs3.shared_arc())
    }

    /// Replaces the exports (see [`ExportsHandle::reload`]).
    pub fn reload_exports(&self, table: ExportTable) -> Result<ReloadSummary, ServerError> {
        self.exports_handle().reload(table)
    }
}

impl RpcService for NfsServer {
    fn programs(&self) -> &[ProgramVersions] {
        &self.programs
    }

    fn is_non_idempotent(&self, program: u32, _version: u32, procedure: u32) -> bool {
        program == NFS_PROGRAM
            && Nfs3Procedure::from_u32(procedure).is_some_and(Nfs3Procedure::is_non_idempotent)
    }

    /// Only callers the handle's export admits now (its client list and
    /// `secure` rule, [`Export::admit`](crate::exports::Export::admit)).
    fn may_replay(&self, ctx: &CallContext, args: &[u8]) -> bool {
        ctx.program == NFS_PROGRAM && self.nfs3.may_replay(ctx, args)
    }

    /// The NFSv3 procedures that only look at the file system (READ,
    /// GETATTR, LOOKUP, ...): no sync, no waiting on writeback. READDIR is
    /// left out (a large directory takes a while).
    fn is_quick(&self, program: u32, _version: u32, procedure: u32) -> bool {
        use Nfs3Procedure as P;
        program == NFS_PROGRAM
            && matches!(
                Nfs3Procedure::from_u32(procedure),
                Some(
                    P::Null
                        | P::Getattr
                        | P::Lookup
                        | P::Access
                        | P::Readlink
                        | P::Read
                        | P::Fsstat
                        | P::Fsinfo
                        | P::Pathconf
                )
            )
    }

    /// NULL, and READ of data in the open-file and page caches
    /// ([`crate::nfs3`]'s `read_now`): an `fstat` and a non-blocking
    /// `preadv2`.
    fn try_call(
        &self,
        ctx: &CallContext,
        args: &[u8],
        results: &mut Results,
    ) -> Option<CallOutcome> {
        match ctx.program {
            NFS_PROGRAM => self.nfs3.try_dispatch(ctx, args, results),
            _ => None,
        }
    }

    fn call(&self, ctx: &CallContext, args: &[u8], results: &mut Results) -> CallOutcome {
        match ctx.program {
            NFS_PROGRAM => self.nfs3.dispatch(ctx, args, results),
            MOUNT_PROGRAM => self.mount3.dispatch(ctx, args, results),
            LOCALIO_PROGRAM => match &self.localio {
                Some(l) => l.dispatch(ctx, args, results),
                None => CallOutcome::ProcUnavail,
            },
            _ => CallOutcome::ProcUnavail,
        }
    }
}

#[cfg(test)]
impl NfsServer {
    /// The shared state, so tests can take handles without MOUNT/LOOKUP.
    pub(crate) fn shared_for_tests(&self) -> &ProgramState {
        self.nfs3.shared()
    }
}
