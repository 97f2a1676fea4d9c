//! Asking a server's portmapper (rpcbind, port 111, PMAP version 2 over
//! TCP) which port serves a program, as libnfs does when a URL gives no
//! ports.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use nfsl_rpc::OpaqueAuth;
use nfsl_xdr::{decode_exact, Encoder};

use crate::error::{Error, Result};
use nfsl_transport::client::ProcId;
use nfsl_transport::client::{ClientSettings, RpcClient};

/// The portmapper's well-known port.
pub const PMAP_PORT: u16 = 111;
const PMAP_PROGRAM: u32 = 100000;
const PMAP_V2: u32 = 2;
const PMAPPROC_GETPORT: u32 = 3;
const IPPROTO_TCP: u32 = 6;

/// The encoded arguments of GETPORT (`struct mapping`).
pub(crate) fn getport_args(program: u32, version: u32, out: &mut Vec<u8>) {
    out.put_u32(program);
    out.put_u32(version);
    out.put_u32(IPPROTO_TCP);
    out.put_u32(0);
}

/// The TCP port of `program` version `version` on `host`'s portmapper.
pub(crate) async fn getport(
    host: std::net::IpAddr,
    settings: &ClientSettings,
    program: u32,
    version: u32,
) -> Result<u16> {
    let addr = SocketAddr::new(host, PMAP_PORT);
    // The portmapper takes AUTH_NONE; an ordinary source port is fine.
    let mut settings = settings.clone();
    settings.port_policy = crate::config::PortPolicy::Never;
    let rpc = RpcClient::new(addr, settings, OpaqueAuth::NONE, Arc::default());
    let id = ProcId {
        program: PMAP_PROGRAM,
        version: PMAP_V2,
        procedure: PMAPPROC_GETPORT,
        name: "PORTMAP GETPORT",
    };
    let reply = rpc
        .call(id, |out| getport_args(program, version, out), Bytes::new())
        .await
        .map_err(Error::from)
        .map_err(|e| match e {
            Error::Connection { source, .. } => Error::Connection {
                what: format!(
                    "asking the portmapper at {addr} for program {program} (give nfsport= and mountport= in the URL to skip it)"
                ),
                source,
            },
            e => e,
        })?;
    let port: u32 = decode_exact(reply.results())
        .map_err(|e| Error::Protocol(format!("PORTMAP GETPORT results: {e}")))?;
    match u16::try_from(port) {
        Ok(0) => Err(Error::Connection {
            what: format!("asking the portmapper at {addr}"),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("program {program} version {version} over TCP is not registered"),
            ),
        }),
        Ok(p) => Ok(p),
        Err(_) => Err(Error::Protocol(format!("portmapper returned port {port}"))),
    }
}

/// The standard NFS port, where nfsl, knfsd and Ganesha serve NFS (nfsl
/// and Ganesha serve MOUNT there too): tried when the portmapper cannot
/// tell.
pub const NFS_PORT: u16 = 2049;

/// The NFS and MOUNT ports of `host`: those given, else the portmapper's
/// answer, else (no portmapper answering, or the program not registered
/// with it) [`NFS_PORT`] for both. The third value says why the standard
/// port was taken, for the error if nothing answers there either.
pub(crate) async fn find_ports(
    host: std::net::IpAddr,
    settings: &ClientSettings,
    nfs: Option<u16>,
    mount: Option<u16>,
) -> Result<(u16, u16, Option<String>)> {
    let mut why_default = None;
    let mut ask = async |given: Option<u16>, program: u32, version: u32| match given {
        Some(port) => Ok(port),
        None => match getport(host, settings, program, version).await {
            Ok(port) => Ok(port),
            Err(Error::Connection { what, source }) => {
                why_default.get_or_insert(format!("{what}: {source}"));
                Ok(NFS_PORT)
            }
            Err(e) => Err(e),
        },
    };
    let nfs = ask(nfs, nfsl_proto::nfs3::NFS_PROGRAM, nfsl_proto::nfs3::NFS_V3).await?;
    let mount = ask(
        mount,
        nfsl_proto::mount3::MOUNT_PROGRAM,
        nfsl_proto::mount3::MOUNT_V3,
    )
    .await?;
    Ok((nfs, mount, why_default))
}

/// Asks the portmapper (rpcbind, port 111, PMAP v2 GETPORT over TCP) of
/// `host` which TCP port serves `program` version `version`, as
/// [`crate::Nfs::connect`] does for URLs without ports.
pub async fn rpcbind_getport(
    host: &str,
    program: u32,
    version: u32,
    config: &crate::ClientConfig,
) -> Result<u16> {
    let ip = crate::session::resolve_host(host).await?;
    getport(
        ip,
        &crate::config::client_settings(config),
        program,
        version,
    )
    .await
}
