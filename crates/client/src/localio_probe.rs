//! LOCALIO from the client's side: raw calls on the NFS connection and
//! the probe that decides whether this client shares the server's host.
//!
//! The probe ([`Nfs::localio_probe`]) connects to the server's local
//! channel, registers a fresh nonce, sends `UUID_IS_LOCAL(nonce)` over
//! this mount's NFS connection (with its AUTH_SYS credential), and asks
//! the channel whether the nonce was confirmed. Any failure means "not
//! local" ([`NotLocal`]) and nothing changes for RPC. Using the returned
//! [`LocalioChannel`] for READ/WRITE/COMMIT is the IO engine's business.

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use nfsl_localio::client::Connected;
use nfsl_localio::{Creds, LocalioChannel, LocalioError, Nonce};
use nfsl_proto::localio::{LocalioProcedure, LOCALIO_PROGRAM, LOCALIO_V1};
use nfsl_xdr::Xdr;

use crate::error::{Error, Result};
use crate::session::Nfs;
use nfsl_transport::client::ProcId;

/// Why a LOCALIO probe left this mount on RPC.
#[derive(Debug, thiserror::Error)]
pub enum NotLocal {
    /// The local channel failed: no socket (remote or non-LOCALIO server,
    /// LOCALIO disabled), nonce not confirmed, channel broken.
    #[error(transparent)]
    Channel(#[from] LocalioError),
    /// `UUID_IS_LOCAL` failed over NFS (e.g. `PROG_UNAVAIL` from a server
    /// without LOCALIO).
    #[error("UUID_IS_LOCAL: {0}")]
    Rpc(Error),
    /// No socket at any place a trusted server on this port would use (a
    /// remote server, LOCALIO off, or a server given another
    /// `--localio-socket`: then give the URL `localio-socket=PATH`).
    #[error(
        "no LOCALIO socket for port {port} at {} (a server started with another --localio-socket needs localio-socket=PATH in the URL)",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoSocket {
        /// The server's NFS port.
        port: u16,
        /// The places looked at.
        tried: Vec<std::path::PathBuf>,
    },
}

impl Nfs {
    /// The NFS server's address (host and NFS port).
    pub fn server_addr(&self) -> SocketAddr {
        self.shared.rpc_addr()
    }

    /// Calls any procedure of any program on the NFS connection, with the
    /// mount's credential and the usual timeouts and retries: `args` are
    /// the encoded arguments, the result is the encoded results of a
    /// `SUCCESS` reply (RPC-level refusals are [`Error::Rpc`]).
    pub async fn call_raw(
        &self,
        program: u32,
        version: u32,
        procedure: u32,
        args: &[u8],
    ) -> Result<Vec<u8>> {
        let id = ProcId {
            program,
            version,
            procedure,
            name: "RPC call",
        };
        self.call_id(id, args).await
    }

    async fn call_id(&self, id: ProcId, args: &[u8]) -> Result<Vec<u8>> {
        let reply = self
            .shared
            .rpc_call(id, |out| out.extend_from_slice(args), Bytes::new())
            .await?;
        Ok(reply.results().to_vec())
    }

    /// `UUID_IS_LOCAL(nonce)` (LOCALIO program 400122 v1) on the NFS
    /// connection. Success says nothing by itself; ask the channel.
    pub async fn uuid_is_local(&self, nonce: &Nonce) -> Result<()> {
        let id = ProcId {
            program: LOCALIO_PROGRAM,
            version: LOCALIO_V1,
            procedure: LocalioProcedure::UuidIsLocal as u32,
            name: "LOCALIO UUID_IS_LOCAL",
        };
        let mut args = Vec::with_capacity(16);
        nonce.encode(&mut args);
        self.call_id(id, &args).await?;
        Ok(())
    }

    /// The AUTH_SYS credentials this mount uses, for
    /// [`LocalioChannel::open`].
    pub fn localio_creds(&self) -> Creds {
        let c = self.config();
        Creds {
            uid: c.uid,
            gid: c.gid,
            gids: c.gids.clone(),
        }
    }

    /// Runs the LOCALIO handshake against this mount's server through the
    /// socket at `socket`, or, when `None`, through the first socket that
    /// works of those a trusted server on the server's NFS port would
    /// make ([`nfsl_localio::socket_candidates`]: root's `/run/nfsl`, then
    /// this user's runtime directory), so client and server need not
    /// share an environment.
    pub async fn localio_probe(
        &self,
        socket: Option<&Path>,
    ) -> std::result::Result<LocalioChannel, NotLocal> {
        if let Some(path) = socket {
            return self.localio_probe_at(path).await;
        }
        let port = self.server_addr().port();
        let tried = nfsl_localio::socket_candidates(port);
        let mut last = None;
        for path in tried.iter().filter(|p| p.exists()) {
            match self.localio_probe_at(path).await {
                Ok(channel) => return Ok(channel),
                Err(e) => {
                    tracing::debug!(socket = %path.display(), "LOCALIO: not through this socket: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(NotLocal::NoSocket { port, tried }))
    }

    async fn localio_probe_at(&self, path: &Path) -> std::result::Result<LocalioChannel, NotLocal> {
        let registered = Connected::connect(path).await?.register().await?;
        self.uuid_is_local(&registered.nonce())
            .await
            .map_err(NotLocal::Rpc)?;
        let channel = registered.confirm().await?;
        tracing::debug!(socket = %path.display(), "LOCALIO: server is local");
        Ok(channel)
    }
}
