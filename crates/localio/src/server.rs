//! The server's end of the local channel: a Unix-domain socket listener
//! that runs a [`Session`] per connection and passes opened files back.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nfsl_proto::nfs3::Nfsstat3;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::codec::{
    decode_body, encode_frame, DioAlignment, FrameDecoder, OpenReply, Reply, Request,
};
use crate::fdpass::{recv_frame, send_frame, WireError};
use crate::registry::{ConnId, NonceRegistry};
use crate::revoke::{next_revocation, Revocations};
use crate::session::{OpenRequest, PeerCred, Session, Step};

/// A file the [`Authorizer`] opened for a client.
#[derive(Debug)]
pub struct OpenedFile {
    /// Opened without `O_DIRECT` (read-only for [`crate::Access::Read`]).
    pub buffered: OwnedFd,
    /// The same file opened with `O_DIRECT`, when the file system allows.
    pub direct: Option<OwnedFd>,
    /// The file's direct-IO alignment.
    pub alignment: DioAlignment,
    /// The file size at open.
    pub size: u64,
}

/// Why an open was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenRefusal {
    /// What NFSv3 would answer (ACCES, ROFS, STALE, BADHANDLE, INVAL...).
    #[error("refused: {0:?}")]
    Nfs(Nfsstat3),
    /// A local failure with this errno.
    #[error("failed: errno {0}")]
    Errno(i32),
}

/// Decides whether a confirmed client may open a file, and opens it. The
/// NFS server implements it with the same rules as its RPC procedures.
///
/// Called on a blocking thread (it may switch that thread's filesystem
/// credentials, as long as it restores them before returning). The
/// listener has already checked that the peer may act as the claimed uid.
pub trait Authorizer: Send + Sync + 'static {
    /// Opens `request.handle` as `request.access` for `request.creds`.
    fn open(&self, request: &OpenRequest) -> Result<OpenedFile, OpenRefusal>;

    /// Where the authorizer announces that its rules changed: each
    /// [`Revocations::revoke_all`] ends every confirmed session of the
    /// listener (see [`crate::revoke`]). The default, `None`, means the
    /// rules never change while the listener runs.
    fn revocations(&self) -> Option<Revocations> {
        None
    }
}

/// Where and how the listener's socket is made.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The socket path. Its directory is created (mode 0755) if missing.
    pub path: PathBuf,
    /// Permission bits of the socket file. Default 0o666: every local user
    /// may connect, and then acts only as itself (`SO_PEERCRED`). Use e.g.
    /// 0o660 with a group to admit only that group's members.
    pub mode: u32,
    /// Connections served at once, all peers together; a connection
    /// beyond it is closed at once (the client falls back to RPC without
    /// waiting).
    pub max_connections: usize,
    /// Connections one non-root peer uid may hold at once; beyond it, its
    /// new connections are closed at once. One local user thus cannot take
    /// the slots of others (root is not limited: it can deny service in
    /// any case).
    pub max_connections_per_uid: usize,
}

impl ListenerConfig {
    /// The defaults for `path`.
    pub fn new(path: impl Into<PathBuf>) -> ListenerConfig {
        ListenerConfig {
            path: path.into(),
            mode: 0o666,
            max_connections: 256,
            max_connections_per_uid: 32,
        }
    }
}

/// The default socket path for an NFS server on `nfs_port` run by this
/// process's user: `/run/nfsl/localio-PORT.sock` for root (whatever its
/// environment says, so clients need not share it), else
/// `$XDG_RUNTIME_DIR/nfsl/localio-PORT.sock`, else
/// `/run/user/UID/nfsl/localio-PORT.sock`. A client looks in every place a
/// server it may trust (root's, or its own user's) would use:
/// [`socket_candidates`].
pub fn default_socket_path(nfs_port: u16) -> PathBuf {
    let euid = rustix::process::geteuid();
    let base = if euid.is_root() {
        PathBuf::from("/run")
    } else {
        runtime_dir(euid.as_raw())
    };
    socket_in(&base, nfs_port)
}

/// Where a client looks for the socket of an NFS server on `nfs_port`, in
/// order: root's place, then this user's runtime directory (from
/// `XDG_RUNTIME_DIR`, then `/run/user/UID`). Servers of other users are
/// never trusted (see `trust`), so they are not looked for.
pub fn socket_candidates(nfs_port: u16) -> Vec<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let mut places = vec![socket_in(Path::new("/run"), nfs_port)];
    for base in [runtime_dir(uid), PathBuf::from(format!("/run/user/{uid}"))] {
        let p = socket_in(&base, nfs_port);
        if !places.contains(&p) {
            places.push(p);
        }
    }
    places
}

fn socket_in(base: &Path, nfs_port: u16) -> PathBuf {
    base.join("nfsl").join(format!("localio-{nfs_port}.sock"))
}

/// This user's runtime directory: `XDG_RUNTIME_DIR` if set and absolute,
/// else `/run/user/UID`.
fn runtime_dir(uid: u32) -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}")))
}

/// The socket file; removed on drop if it is still ours.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev_ino: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.dev_ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// The bound local channel of one NFS server.
#[derive(Debug)]
pub struct LocalioListener {
    listener: UnixListener,
    socket: SocketFile,
    registry: Arc<NonceRegistry>,
    authorizer: Arc<dyn AuthorizerDebug>,
    revocations: Revocations,
    max_connections: usize,
    max_connections_per_uid: usize,
}

/// [`Authorizer`] plus `Debug` for the listener's own `Debug`.
trait AuthorizerDebug: Authorizer {}
impl<T: Authorizer> AuthorizerDebug for T {}
impl std::fmt::Debug for dyn AuthorizerDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorizer")
    }
}

impl LocalioListener {
    /// Creates the socket at `config.path` (inside a tokio runtime): makes
    /// the directory, removes a stale socket left by a server that is gone
    /// (but refuses to replace one a live server answers on, or a file that
    /// is not a socket), binds, and sets the mode.
    pub fn bind(
        config: &ListenerConfig,
        registry: Arc<NonceRegistry>,
        authorizer: impl Authorizer,
    ) -> io::Result<LocalioListener> {
        let path = &config.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)?;
        }
        warn_if_untrusted_dir(path);
        remove_stale(path)?;
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.mode & 0o777))?;
        let m = std::fs::symlink_metadata(path)?;
        let revocations = authorizer.revocations().unwrap_or_default();
        Ok(LocalioListener {
            listener,
            socket: SocketFile {
                path: path.clone(),
                dev_ino: (m.dev(), m.ino()),
            },
            registry,
            authorizer: Arc::new(authorizer),
            revocations,
            max_connections: config.max_connections.max(1),
            max_connections_per_uid: config.max_connections_per_uid.max(1),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.socket.path
    }

    /// The revocation generation this listener obeys (the authorizer's,
    /// or a private one if it has none).
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Serves connections until `shutdown` completes, then closes them all
    /// and removes the socket file. A revocation closes every connection
    /// that was given fds (see [`crate::revoke`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let per_uid = Arc::new(UidSlots::new(self.max_connections_per_uid));
        let next_id = AtomicU64::new(1);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            // Accept at once, always: a connection is never left waiting
            // in the backlog (its client would wait for a handshake that
            // does not come); one over a limit is closed instead.
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                a = self.listener.accept() => a,
            };
            while tasks.try_join_next().is_some() {}
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "LOCALIO accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(peer) = crate::peercred::peer_cred(&stream) else {
                continue;
            };
            let Some(uid_slot) = UidSlots::take(&per_uid, peer.uid) else {
                tracing::debug!(
                    uid = peer.uid,
                    "LOCALIO connection refused: this user holds its share"
                );
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::debug!(
                    uid = peer.uid,
                    "LOCALIO connection refused: all slots taken"
                );
                continue;
            };
            let id = ConnId(next_id.fetch_add(1, Ordering::Relaxed));
            let registry = self.registry.clone();
            let authorizer = self.authorizer.clone();
            let revoked = self.revocations.subscribe();
            tasks.spawn(async move {
                let _permit = permit;
                let _uid_slot = uid_slot;
                let conn = Conn {
                    stream: &stream,
                    peer,
                    id,
                    registry: &registry,
                    authorizer,
                    revoked,
                };
                if let Err(e) = conn.serve().await {
                    tracing::debug!(conn = id.0, error = %e, "LOCALIO connection ended");
                }
                registry.release(id);
            });
        }
        tasks.shutdown().await;
        drop(self.socket);
    }
}

/// Connections held per non-root peer uid.
#[derive(Debug)]
struct UidSlots {
    limit: usize,
    held: Mutex<HashMap<u32, usize>>,
}

/// One connection's share of its uid's slots; given back on drop.
struct UidSlot {
    slots: Arc<UidSlots>,
    uid: u32,
}

impl UidSlots {
    fn new(limit: usize) -> UidSlots {
        UidSlots {
            limit,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, usize>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for `uid`, unless it holds its share (root: always).
    fn take(slots: &Arc<UidSlots>, uid: u32) -> Option<UidSlot> {
        if uid != 0 {
            let mut held = slots.lock();
            let n = held.entry(uid).or_insert(0);
            if *n >= slots.limit {
                return None;
            }
            *n += 1;
        }
        Some(UidSlot {
            slots: Arc::clone(slots),
            uid,
        })
    }
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        if self.uid == 0 {
            return;
        }
        let mut held = self.slots.lock();
        if let Some(n) = held.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.uid);
            }
        }
    }
}

/// Warns when clients will refuse the socket's directory
/// ([`crate::trust`]): writable by group or others, or owned by someone
/// else than root or this server.
fn warn_if_untrusted_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(m) = std::fs::metadata(dir) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    if m.mode() & 0o022 != 0 || (m.uid() != 0 && m.uid() != me) {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", m.mode() & 0o7777),
            owner = m.uid(),
            "LOCALIO socket directory is writable by others or owned by another user: clients will not trust the socket and stay on RPC"
        );
    }
}

/// Removes `path` if it is a socket nobody answers on.
fn remove_stale(path: &Path) -> io::Result<()> {
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !m.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use by a running server", path.display()),
        ));
    }
    std::fs::remove_file(path)
}

/// One accepted connection and what serving it needs.
struct Conn<'a> {
    stream: &'a UnixStream,
    peer: PeerCred,
    id: ConnId,
    registry: &'a NonceRegistry,
    authorizer: Arc<dyn AuthorizerDebug>,
    /// Revocations since the connection was accepted.
    revoked: tokio::sync::watch::Receiver<u64>,
}

impl Conn<'_> {
    async fn serve(mut self) -> Result<(), WireError> {
        let stream = self.stream;
        let mut session = Session::new(self.id, self.peer.clone());
        let mut decoder = FrameDecoder::new();
        // The handshake must finish within the nonce lifetime.
        let deadline = tokio::time::Instant::now() + self.registry.ttl();
        // Whether fds went out on this connection: only then does a
        // revocation concern it (later opens follow the rules in force).
        let mut passed_fds = false;
        loop {
            if !passed_fds {
                self.revoked.borrow_and_update();
            }
            let next = recv_frame(stream, &mut decoder);
            let (body, fds) = if passed_fds {
                tokio::select! {
                    r = next => r?,
                    () = next_revocation(&mut self.revoked) => {
                        tracing::info!(conn = self.id.0, "LOCALIO session revoked: the export rules changed");
                        return Ok(());
                    }
                }
            } else if session.is_confirmed() {
                next.await?
            } else {
                match tokio::time::timeout_at(deadline, next).await {
                    Ok(r) => r?,
                    Err(_) => return Err(WireError::Closed),
                }
            };
            if !fds.is_empty() {
                return Err(WireError::Descriptors);
            }
            let request: Request = match decode_body(&body) {
                Ok(r) => r,
                Err(e) => {
                    let reply = encode_frame(&Reply::Error(e.to_string()));
                    send_frame(stream, &reply, &[]).await?;
                    return Err(e.into());
                }
            };
            match session.handle(request, self.registry, Instant::now()) {
                Step::Reply(reply) => send_frame(stream, &encode_frame(&reply), &[]).await?,
                Step::Close(reply) => {
                    send_frame(stream, &encode_frame(&reply), &[]).await?;
                    return Ok(());
                }
                Step::Open(request) => match self.open(request).await? {
                    Opened::Fds => passed_fds = true,
                    Opened::Refused => {}
                    Opened::Revoked => return Ok(()),
                },
            }
        }
    }

    /// Authorizes one open and sends its reply, unless a revocation came
    /// meanwhile: then the fds (authorized under the old rules) are not
    /// sent and the connection must close.
    async fn open(&self, request: OpenRequest) -> Result<Opened, WireError> {
        let generation = *self.revoked.borrow();
        let auth = self.authorizer.clone();
        let result = tokio::task::spawn_blocking(move || auth.open(&request))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "LOCALIO authorizer panicked");
                Err(OpenRefusal::Nfs(Nfsstat3::Serverfault))
            });
        if *self.revoked.borrow() != generation {
            tracing::info!(conn = self.id.0, "LOCALIO session revoked during an open");
            return Ok(Opened::Revoked);
        }
        let stream = self.stream;
        match result {
            Ok(file) => {
                let reply = Reply::Open(OpenReply::Ok {
                    alignment: file.alignment,
                    size: file.size,
                    has_direct: file.direct.is_some(),
                });
                let mut fds = vec![file.buffered.as_fd()];
                fds.extend(file.direct.as_ref().map(|d| d.as_fd()));
                send_frame(stream, &encode_frame(&reply), &fds).await?;
                Ok(Opened::Fds)
            }
            Err(refusal) => {
                let reply = Reply::Open(match refusal {
                    OpenRefusal::Nfs(s) => OpenReply::Nfs(s),
                    OpenRefusal::Errno(e) => OpenReply::Errno(e),
                });
                send_frame(stream, &encode_frame(&reply), &[]).await?;
                Ok(Opened::Refused)
            }
        }
    }
}

/// How an open ended.
enum Opened {
    /// Fds were passed.
    Fds,
    /// A refusal was sent.
    Refused,
    /// A revocation came while authorizing: nothing was sent.
    Revoked,
}
