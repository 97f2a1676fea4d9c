//! The client's end of the local channel: the handshake as states that
//! consume themselves, then opens that return file descriptors.
//!
//! ```text
//! Connected::connect(path) --register()--> Registered
//!     (the caller now sends UUID_IS_LOCAL(registered.nonce()) over NFS)
//! Registered --confirm()--> LocalioChannel  (or NotConfirmed: stay on RPC)
//! LocalioChannel::open(handle, access, creds) -> LocalFile
//! ```
//! `nfsl-client` drives the middle step (`Nfs::localio_probe`).

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nfsl_proto::nfs3::Nfsstat3;
use tokio::io::Interest;
use tokio::net::UnixStream;
use tokio::sync::Mutex;

use crate::codec::{
    decode_body, encode_frame, Access, Creds, DioAlignment, FrameDecoder, Nonce, OpenReply,
    RegisterStatus, Reply, Request, MAX_GIDS, MAX_HANDLE,
};
use crate::fdpass::{recv_frame, send_frame, WireError};

/// Why the local path is not available (the caller stays on RPC).
#[derive(Debug, thiserror::Error)]
pub enum LocalioError {
    /// The server's socket cannot be reached: no LOCALIO server on this
    /// host for that port (remote server, LOCALIO disabled, other path).
    #[error("cannot reach the LOCALIO socket {}: {source}", path.display())]
    Unreachable {
        /// The socket path tried.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The channel failed or broke (e.g. the server restarted).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The process on the socket is not one this client may trust
    /// ([`crate::trust`]): nothing was sent to it.
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
    /// The server did not take the nonce.
    #[error("LOCALIO nonce refused: {0:?}")]
    Register(RegisterStatus),
    /// `UUID_IS_LOCAL` did not confirm the nonce: the NFS connection does
    /// not reach the server that owns this socket, or the server does not
    /// support LOCALIO, or the call was not made with AUTH_SYS.
    #[error("the NFS server did not confirm the LOCALIO nonce: not local")]
    NotConfirmed,
    /// The server refused the open with this NFSv3 status.
    #[error("LOCALIO open refused: {0:?}")]
    Refused(Nfsstat3),
    /// The server failed to open the file (errno).
    #[error("LOCALIO open failed on the server: {}", std::io::Error::from_raw_os_error(*.0))]
    Errno(i32),
    /// Arguments the channel cannot carry (handle too long, too many gids).
    #[error("invalid LOCALIO request: {0}")]
    InvalidArgument(String),
    /// The server answered something unexpected.
    #[error("LOCALIO protocol error: {0}")]
    Protocol(String),
}

impl LocalioError {
    /// The NFSv3 status of a refused open.
    pub fn nfsstat(&self) -> Option<Nfsstat3> {
        match self {
            LocalioError::Refused(s) => Some(*s),
            _ => None,
        }
    }

    /// Whether the open was refused for lack of permission (ACCES, PERM).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.nfsstat(), Some(Nfsstat3::Acces | Nfsstat3::Perm))
    }
}

/// A connected stream and its frame reassembly.
#[derive(Debug)]
struct Conn {
    stream: Arc<UnixStream>,
    decoder: FrameDecoder,
    /// An exchange was abandoned half-way (its future dropped): its reply
    /// may still arrive, so the stream can no longer be trusted.
    broken: bool,
}

impl Conn {
    async fn exchange(&mut self, request: &Request) -> Result<(Reply, Vec<OwnedFd>), LocalioError> {
        if self.broken {
            return Err(LocalioError::Protocol(
                "channel unusable after an interrupted request".into(),
            ));
        }
        self.broken = true;
        send_frame(&self.stream, &encode_frame(request), &[]).await?;
        let (body, fds) = recv_frame(&self.stream, &mut self.decoder).await?;
        self.broken = false;
        let reply: Reply = decode_body(&body).map_err(WireError::from)?;
        if let Reply::Error(text) = reply {
            return Err(LocalioError::Protocol(format!("server: {text}")));
        }
        Ok((reply, fds))
    }
}

fn unexpected(reply: &Reply) -> LocalioError {
    LocalioError::Protocol(format!("unexpected reply {reply:?}"))
}

/// Handshake state 1: connected to the server's socket.
#[derive(Debug)]
pub struct Connected {
    conn: Conn,
    path: PathBuf,
}

impl Connected {
    /// Connects to the socket at `path` and checks that its server may be
    /// trusted ([`crate::trust`]) before anything is sent.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Connected, LocalioError> {
        let path = path.as_ref().to_path_buf();
        match UnixStream::connect(&path).await {
            Ok(stream) => {
                let peer = crate::peercred::peer_ids(&stream).map_err(WireError::from)?;
                let me = rustix::process::geteuid().as_raw();
                crate::trust::check_server_socket(&path, &peer, me)?;
                Ok(Connected {
                    conn: Conn {
                        stream: Arc::new(stream),
                        decoder: FrameDecoder::new(),
                        broken: false,
                    },
                    path,
                })
            }
            Err(source) => Err(LocalioError::Unreachable { path, source }),
        }
    }

    /// Registers a fresh random nonce.
    pub async fn register(self) -> Result<Registered, LocalioError> {
        self.register_nonce(Nonce::random()).await
    }

    /// Registers the given nonce (tests use it to try reusing one; a real
    /// client always wants [`Connected::register`]).
    pub async fn register_nonce(mut self, nonce: Nonce) -> Result<Registered, LocalioError> {
        match self.conn.exchange(&Request::Register(nonce)).await? {
            (Reply::Register(RegisterStatus::Ok), _) => Ok(Registered {
                conn: self.conn,
                path: self.path,
                nonce,
            }),
            (Reply::Register(status), _) => Err(LocalioError::Register(status)),
            (other, _) => Err(unexpected(&other)),
        }
    }
}

/// Handshake state 2: the nonce is registered; send
/// `UUID_IS_LOCAL(nonce)` over the NFS connection, then [`confirm`](Registered::confirm).
#[derive(Debug)]
pub struct Registered {
    conn: Conn,
    path: PathBuf,
    nonce: Nonce,
}

impl Registered {
    /// The nonce to send in `UUID_IS_LOCAL`.
    pub fn nonce(&self) -> Nonce {
        self.nonce
    }

    /// Asks whether the nonce was confirmed; only then is the channel
    /// usable.
    pub async fn confirm(self) -> Result<LocalioChannel, LocalioError> {
        let nonce = self.nonce;
        self.confirm_nonce(nonce).await
    }

    /// Asks about some other nonce (tests: it is never confirmed for
    /// this connection).
    pub async fn confirm_nonce(mut self, nonce: Nonce) -> Result<LocalioChannel, LocalioError> {
        match self.conn.exchange(&Request::Confirmed(nonce)).await? {
            (Reply::Confirmed(true), _) => Ok(LocalioChannel {
                stream: Arc::clone(&self.conn.stream),
                conn: Arc::new(Mutex::new(self.conn)),
                path: self.path,
            }),
            (Reply::Confirmed(false), _) => Err(LocalioError::NotConfirmed),
            (other, _) => Err(unexpected(&other)),
        }
    }
}

/// A file opened through LOCALIO: what the IO engine needs.
#[derive(Debug)]
pub struct LocalFile {
    /// The buffered fd (read-only for [`Access::Read`]).
    pub buffered: OwnedFd,
    /// An `O_DIRECT` fd of the same file, when the file system supports it.
    pub direct: Option<OwnedFd>,
    /// The file's direct-IO alignment, as the server measured it.
    pub alignment: DioAlignment,
    /// The file size at open.
    pub size: u64,
    /// The access it was opened with.
    pub access: Access,
}

/// Handshake done: the server confirmed that this process shares its
/// host. Opens are sent one at a time (a lock serializes them).
#[derive(Debug)]
pub struct LocalioChannel {
    conn: Arc<Mutex<Conn>>,
    /// The same stream as `conn`'s, for [`LocalioChannel::closed`].
    stream: Arc<UnixStream>,
    path: PathBuf,
}

impl LocalioChannel {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves once the server has closed the channel (it revoked the
    /// session because its export rules changed, or it stopped) or the
    /// channel failed or fell out of step. It never consumes a reply: it
    /// waits for EOF/HUP on the socket, and when the socket is readable
    /// because a reply is arriving it waits for the open that expects it to
    /// take it. The future owns what it needs (no borrow of `self`), so it
    /// can be spawned; it keeps the socket open while it runs, so abort it
    /// when the channel is dropped.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let stream = Arc::clone(&self.stream);
        let conn = Arc::clone(&self.conn);
        async move {
            loop {
                match stream.ready(Interest::READABLE).await {
                    Ok(r) if !r.is_read_closed() && !r.is_error() => {}
                    _ => return,
                }
                // Readable: a reply on its way (the open in flight holds
                // the lock until it has read it), or the server closed the
                // channel or sent something unasked.
                let _idle = conn.lock().await;
                let mut byte = [0u8; 1];
                let peek = stream.try_io(Interest::READABLE, || {
                    rustix::net::recv(
                        &*stream,
                        &mut byte[..],
                        rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
                    )
                    .map_err(io::Error::from)
                });
                match peek {
                    // Nothing there after all (readiness was stale).
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    // EOF, bytes nobody asked for, or a socket error.
                    _ => return,
                }
            }
        }
    }

    /// Opens a file by NFS handle for `access` with AUTH_SYS `creds`; the
    /// server applies the export's rules and the file's permissions as for
    /// RPC.
    pub async fn open(
        &self,
        handle: &[u8],
        access: Access,
        creds: &Creds,
    ) -> Result<LocalFile, LocalioError> {
        if handle.len() > MAX_HANDLE {
            return Err(LocalioError::InvalidArgument(format!(
                "file handle of {} bytes (at most {MAX_HANDLE})",
                handle.len()
            )));
        }
        if creds.gids.len() > MAX_GIDS {
            return Err(LocalioError::InvalidArgument(format!(
                "{} supplementary groups (at most {MAX_GIDS})",
                creds.gids.len()
            )));
        }
        let request = Request::Open {
            handle: handle.to_vec(),
            access,
            creds: creds.clone(),
        };
        let (reply, mut fds) = self.conn.lock().await.exchange(&request).await?;
        let Reply::Open(open) = reply else {
            return Err(unexpected(&reply));
        };
        if fds.len() != open.fd_count() {
            return Err(LocalioError::Protocol(format!(
                "{} file descriptors with {open:?}",
                fds.len()
            )));
        }
        match open {
            OpenReply::Ok {
                alignment, size, ..
            } => {
                let direct = (fds.len() == 2).then(|| fds.remove(1));
                Ok(LocalFile {
                    buffered: fds.remove(0),
                    direct,
                    alignment,
                    size,
                    access,
                })
            }
            OpenReply::Nfs(s) => Err(LocalioError::Refused(s)),
            OpenReply::Errno(e) => Err(LocalioError::Errno(e)),
        }
    }
}
