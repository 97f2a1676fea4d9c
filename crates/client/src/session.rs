//! [`Nfs`]: a mounted export, how it is found and mounted, and the
//! operations on whole objects (attributes, links, file-system figures).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use nfsl_proto::nfs3::*;
use nfsl_rpc::OpaqueAuth;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::mount::{prefixes, split_export, MountClient};
use crate::portmap;
use crate::procedures::{ok, Nfs3Procedures};
use crate::stats::{ClientStats, Counters};
use crate::types::{FileHandle, FsInfo, FsStat, Metadata, SetAttr};
use crate::url::NfsUrl;
use nfsl_transport::client::{ClientSettings, RpcClient};

/// A mounted NFSv3 export. Cheap to clone (shared inside); usable from
/// many tasks at once; every call is pipelined on one TCP connection.
#[derive(Clone)]
pub struct Nfs {
    pub(crate) shared: Arc<MountState>,
}

pub(crate) struct MountState {
    pub procs: Nfs3Procedures,
    pub root: FileHandle,
    pub export: String,
    pub fsinfo: FsInfo,
    pub config: ClientConfig,
    pub counters: Arc<Counters>,
    /// LOCALIO routing (see [`crate::local`]).
    pub local: crate::local::Router,
    mount_addr: SocketAddr,
    settings: ClientSettings,
    credential: OpaqueAuth,
    rpc: Arc<RpcClient>,
}

impl Drop for MountState {
    /// Ends the mount's LOCALIO re-prober, which waits on the router.
    fn drop(&mut self) {
        self.local.stop();
    }
}

impl MountState {
    /// The NFS server's address.
    pub(crate) fn rpc_addr(&self) -> SocketAddr {
        self.rpc.addr()
    }

    /// Whether the NFS connection is open now.
    pub(crate) fn rpc_connected(&self) -> bool {
        self.rpc.is_connected()
    }

    /// A call on the NFS connection (any program).
    pub(crate) async fn rpc_call(
        &self,
        id: nfsl_transport::client::ProcId,
        args: impl FnOnce(&mut Vec<u8>),
        payload: bytes::Bytes,
    ) -> Result<nfsl_transport::client::RpcReply> {
        Ok(self.rpc.call(id, args, payload).await?)
    }
}

pub(crate) async fn resolve_host(host: &str) -> Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let mut addrs =
        tokio::net::lookup_host((host, 0))
            .await
            .map_err(|source| Error::Connection {
                what: format!("resolving {host}"),
                source,
            })?;
    addrs
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| Error::Connection {
            what: format!("resolving {host}"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })
}

impl Nfs {
    /// Mounts the export a libnfs-style URL points into and returns it
    /// with the path inside the export (`/`-based).
    ///
    /// Missing ports are asked from the server's portmapper (port 111);
    /// when it does not answer or does not know the program, the standard
    /// port 2049 is tried for both NFS and MOUNT (where nfsl serves both).
    /// The export is the longest entry of the server's EXPORT list that
    /// contains the URL's path; if the list does not help (EXPORT refused,
    /// or no entry matches), MNT is tried on the path and then on each
    /// directory above it. `uid=`/`gid=` in the URL override `config`
    /// and then clear its supplementary groups (they belonged to the
    /// identity being replaced), as libnfs sends none.
    pub async fn connect(url: &NfsUrl, mut config: ClientConfig) -> Result<(Nfs, String)> {
        if url.uid.is_some() || url.gid.is_some() {
            config.gids.clear();
        }
        if let Some(uid) = url.uid {
            config.uid = uid;
        }
        if let Some(gid) = url.gid {
            config.gid = gid;
        }
        if let Some(mode) = url.localio {
            config.localio = mode;
        }
        if let Some(socket) = &url.localio_socket {
            config.localio_socket = Some(socket.clone());
        }
        if let Some(write_behind) = url.write_behind {
            config.write_behind = write_behind;
        }
        if let Some(readahead) = url.readahead {
            config.readahead = readahead;
        }
        if let Some(direct) = url.direct {
            config.direct = direct;
        }
        config.validate()?;
        let ip = resolve_host(&url.host).await?;
        let settings = crate::config::client_settings(&config);
        let (nfs_port, mount_port, why_default) =
            portmap::find_ports(ip, &settings, url.nfs_port, url.mount_port).await?;
        let mount_addr = SocketAddr::new(ip, mount_port);
        let mounter = MountClient::new(mount_addr, settings.clone(), config.credential()?);
        let (export, root, rest) = match (find_and_mount(&mounter, &url.path).await, why_default) {
            (Err(Error::Connection { what, source }), Some(why)) => {
                return Err(Error::Connection {
                    what: format!(
                        "{why}; then the standard port {}: {what} (give nfsport= and mountport= in the URL)",
                        portmap::NFS_PORT
                    ),
                    source,
                })
            }
            (found, _) => found?,
        };
        drop(mounter);
        let nfs = Nfs::start(
            SocketAddr::new(ip, nfs_port),
            mount_addr,
            export,
            root,
            config,
        )
        .await?;
        Ok((nfs, rest))
    }

    /// Mounts `export` (its exact server path) from `host`, with the NFS
    /// and MOUNT ports given.
    pub async fn mount(
        host: &str,
        nfs_port: u16,
        mount_port: u16,
        export: &str,
        config: ClientConfig,
    ) -> Result<Nfs> {
        config.validate()?;
        let ip = resolve_host(host).await?;
        let mount_addr = SocketAddr::new(ip, mount_port);
        let settings = crate::config::client_settings(&config);
        let root = MountClient::new(mount_addr, settings, config.credential()?)
            .mnt(export)
            .await?;
        Nfs::start(
            SocketAddr::new(ip, nfs_port),
            mount_addr,
            export.to_string(),
            root,
            config,
        )
        .await
    }

    async fn start(
        nfs_addr: SocketAddr,
        mount_addr: SocketAddr,
        export: String,
        root: FileHandle,
        config: ClientConfig,
    ) -> Result<Nfs> {
        Nfs::start_session(nfs_addr, mount_addr, export, root, config, None).await
    }

    /// A session of the same mount that sends every call (and asks for
    /// every LOCALIO open) as another AUTH_SYS identity: `uid`, `gid` and
    /// the supplementary `gids` (the first 16, as AUTH_SYS carries no
    /// more). It has its own NFS connection, LOCALIO probe and counters,
    /// and shares the export, its root handle and FSINFO (no new MNT):
    /// handles from one session are valid in the other. This is how a
    /// multi-user front end (the FUSE mount) makes the server decide
    /// permissions for the user who asked, as the kernel client does.
    pub async fn with_identity(&self, uid: u32, gid: u32, gids: &[u32]) -> Result<Nfs> {
        let s = &self.shared;
        let mut config = s.config.clone();
        config.uid = uid;
        config.gid = gid;
        config.gids = gids
            .iter()
            .copied()
            .take(nfsl_rpc::MAX_AUTH_SYS_GIDS)
            .collect();
        Nfs::start_session(
            s.rpc.addr(),
            s.mount_addr,
            s.export.clone(),
            s.root.clone(),
            config,
            Some(s.fsinfo),
        )
        .await
    }

    /// Connects a session; asks FSINFO unless it is known already.
    async fn start_session(
        nfs_addr: SocketAddr,
        mount_addr: SocketAddr,
        export: String,
        root: FileHandle,
        config: ClientConfig,
        known_fsinfo: Option<FsInfo>,
    ) -> Result<Nfs> {
        let settings = crate::config::client_settings(&config);
        let credential = config.credential()?;
        let counters = Arc::new(Counters::default());
        let rpc = Arc::new(RpcClient::new(
            nfs_addr,
            settings.clone(),
            credential.clone(),
            Arc::clone(&counters.rpc),
        ));
        rpc.connect().await?;
        let procs = Nfs3Procedures::new(Arc::clone(&rpc));
        // A further session of a mount must not UMNT what the first holds.
        let owns_mount = known_fsinfo.is_none();
        let fsinfo = match known_fsinfo {
            Some(fsinfo) => fsinfo,
            None => {
                let info = procs
                    .fsinfo(&Fsinfo3Args {
                        fsroot: root.to_wire(),
                    })
                    .await?;
                FsInfo::from(&ok(info, "FSINFO", "/")?)
            }
        };
        let nfs = Nfs {
            shared: Arc::new(MountState {
                procs,
                root,
                export,
                fsinfo,
                local: crate::local::Router::new(&config),
                config,
                counters,
                mount_addr,
                settings,
                credential,
                rpc,
            }),
        };
        if let Err(e) = nfs.shared.local.probe_at_mount(&nfs).await {
            if !owns_mount {
                return Err(e);
            }
            // `localio=on` refused the mount: take back the MNT so the
            // server does not list a mount nobody holds (best effort; the
            // probe's error is what the caller needs).
            let _ = nfs.clone().unmount().await;
            return Err(e);
        }
        Ok(nfs)
    }

    /// The export's root handle.
    pub fn root(&self) -> &FileHandle {
        &self.shared.root
    }

    /// The export's path on the server.
    pub fn export(&self) -> &str {
        &self.shared.export
    }

    /// What FSINFO said at mount.
    pub fn fsinfo(&self) -> &FsInfo {
        &self.shared.fsinfo
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// The raw NFSv3 procedures, by handle.
    pub fn procedures(&self) -> &Nfs3Procedures {
        &self.shared.procs
    }

    /// The client's counters so far (retransmissions, re-sent writes, ...).
    pub fn stats(&self) -> ClientStats {
        let mut stats = self.shared.counters.snapshot();
        self.shared.local.fill_stats(&mut stats);
        stats
    }

    /// READ piece size: the server's preference within its maximum and
    /// the configured cap.
    pub(crate) fn rsize(&self) -> usize {
        io_size(
            self.shared.fsinfo.rtpref,
            self.shared.fsinfo.rtmax,
            self.shared.config.max_io_size,
        )
    }

    /// WRITE piece size, likewise.
    pub(crate) fn wsize(&self) -> usize {
        io_size(
            self.shared.fsinfo.wtpref,
            self.shared.fsinfo.wtmax,
            self.shared.config.max_io_size,
        )
    }

    /// Tells the server the export is no longer mounted (UMNT) and closes
    /// the connection. Open [`crate::File`]s should be closed first.
    pub async fn unmount(self) -> Result<()> {
        let s = &self.shared;
        let mounter = MountClient::new(s.mount_addr, s.settings.clone(), s.credential.clone());
        let result = mounter.umnt(&s.export).await;
        s.local.stop();
        s.rpc.disconnect();
        result
    }

    /// Attributes of the object at `path`, not following a final symlink.
    pub async fn stat(&self, path: &str) -> Result<Metadata> {
        Ok(self.resolve(path, false).await?.1)
    }

    /// Attributes of the object at `path`, following a final symlink (as
    /// `stat(2)` does; [`Nfs::stat`] is `lstat(2)`).
    pub async fn stat_follow(&self, path: &str) -> Result<Metadata> {
        Ok(self.resolve(path, true).await?.1)
    }

    /// Handle and attributes of the object at `path` (a final symlink is
    /// not followed).
    pub async fn lookup(&self, path: &str) -> Result<(FileHandle, Metadata)> {
        self.resolve(path, false).await
    }

    /// Attributes of the object with handle `fh` (GETATTR).
    pub async fn getattr(&self, fh: &FileHandle) -> Result<Metadata> {
        let res = self
            .shared
            .procs
            .getattr(&Getattr3Args {
                object: fh.to_wire(),
            })
            .await?;
        Ok(ok(res, "GETATTR", "")?.obj_attributes.into())
    }

    /// Changes attributes of the object at `path` (SETATTR).
    pub async fn set_attr(&self, path: &str, attrs: SetAttr) -> Result<Metadata> {
        let (fh, _) = self.resolve(path, false).await?;
        self.set_attr_handle(&fh, &attrs)
            .await
            .map_err(|e| e.at(path))
    }

    pub(crate) async fn set_attr_handle(
        &self,
        fh: &FileHandle,
        attrs: &SetAttr,
    ) -> Result<Metadata> {
        let res = self
            .shared
            .procs
            .setattr(&Setattr3Args {
                object: fh.to_wire(),
                new_attributes: attrs.into(),
                guard: None,
            })
            .await?;
        match ok(res, "SETATTR", "")?.obj_wcc.after {
            Some(a) => Ok(a.into()),
            None => self.getattr(fh).await,
        }
    }

    /// Space and file counts of the export (FSSTAT).
    pub async fn fs_stat(&self) -> Result<FsStat> {
        let res = self
            .shared
            .procs
            .fsstat(&Fsstat3Args {
                fsroot: self.shared.root.to_wire(),
            })
            .await?;
        Ok(FsStat::from(&ok(res, "FSSTAT", "/")?))
    }
}

fn io_size(pref: u32, max: u32, cap: u32) -> usize {
    let max = if max == 0 { 32 << 10 } else { max };
    let pref = if pref == 0 { max } else { pref };
    pref.min(max).min(cap).max(512) as usize
}

/// Finds the export containing `path` and mounts it: returns the export,
/// its root handle and the path inside it.
async fn find_and_mount(m: &MountClient, path: &str) -> Result<(String, FileHandle, String)> {
    if !path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "path {path:?} is not absolute"
        )));
    }
    match m.exports().await {
        Ok(list) => {
            if let Some((export, rest)) = split_export(&list, path) {
                let root = m.mnt(&export).await?;
                return Ok((export, root, rest));
            }
        }
        Err(e @ (Error::TimedOut { .. } | Error::Connection { .. })) => return Err(e),
        Err(e) => tracing::debug!("EXPORT failed ({e}); trying MNT on the path's prefixes"),
    }
    let mut first_refusal = None;
    for (prefix, rest) in prefixes(path) {
        match m.mnt(&prefix).await {
            Ok(root) => return Ok((prefix, root, rest)),
            Err(e @ Error::Mount { .. }) => {
                first_refusal.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(first_refusal
        .unwrap_or_else(|| Error::InvalidArgument(format!("no export contains {path}"))))
}

impl std::fmt::Debug for Nfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nfs")
            .field("export", &self.shared.export)
            .field("root", &self.shared.root)
            .field("fsinfo", &self.shared.fsinfo)
            .finish()
    }
}
