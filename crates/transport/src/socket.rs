//! Socket set-up for both sides: the client's TCP connections, from a
//! privileged source port
//! when the policy asks for one (servers export with `secure` by default
//! and then refuse calls from ports >= 1024), and from the port of the
//! previous connection when reconnecting: servers key their duplicate
//! request caches by address and port (knfsd does), so a retransmission
//! is answered from the cache only if it comes from the same port. To
//! make that port free at once, connections are closed abortively
//! (`SO_LINGER` 0, no TIME_WAIT), as the Linux client does; the client
//! closes a connection only when it no longer waits for anything on it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use tokio::net::{TcpSocket, TcpStream};

/// Which local port the client's sockets bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortPolicy {
    /// A privileged port (< 1024) when running as root, falling back to an
    /// ordinary one if none is free; an ordinary port otherwise.
    #[default]
    Auto,
    /// Always a privileged port; fail if none can be bound.
    Always,
    /// Never: let the kernel choose.
    Never,
}

/// `SO_RCVLOWAT` while a large record streams in (see [`RecvLowat`]).
pub const RCVLOWAT_BIG: usize = 256 << 10;

/// The privileged ports tried, as `bindresvport(3)` does.
const RESERVED_PORTS: std::ops::Range<u16> = 512..1024;

/// Connects to `addr` honouring `policy`, from `previous_port` first if
/// given (a reconnection; any other port if that fails); the stream has
/// `TCP_NODELAY` set (the transport batches writes itself) and closes
/// abortively.
pub async fn connect(
    addr: SocketAddr,
    policy: PortPolicy,
    previous_port: Option<u16>,
) -> io::Result<TcpStream> {
    if let Some(port) = previous_port {
        match connect_from(addr, port).await {
            Ok(s) => return finish(s),
            Err(e) => tracing::debug!("cannot reconnect from port {port} ({e}); using another"),
        }
    }
    let privileged = match policy {
        PortPolicy::Always => true,
        PortPolicy::Never => false,
        PortPolicy::Auto => rustix::process::geteuid().is_root(),
    };
    let stream = if privileged {
        match connect_privileged(addr).await {
            Ok(s) => s,
            Err(e) if policy == PortPolicy::Auto && is_port_shortage(&e) => {
                tracing::debug!("no privileged port free ({e}); using an ordinary one");
                TcpStream::connect(addr).await?
            }
            Err(e) => return Err(e),
        }
    } else {
        TcpStream::connect(addr).await?
    };
    finish(stream)
}

/// `TCP_NODELAY` (the transport batches writes itself) and an abortive
/// close (see the module documentation).
fn finish(stream: TcpStream) -> io::Result<TcpStream> {
    stream.set_nodelay(true)?;
    stream.set_zero_linger()?;
    Ok(stream)
}

/// Connects to `addr` from local `port`.
async fn connect_from(addr: SocketAddr, port: u16) -> io::Result<TcpStream> {
    let (socket, local) = match addr.ip() {
        IpAddr::V4(_) => (TcpSocket::new_v4()?, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        IpAddr::V6(_) => (TcpSocket::new_v6()?, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    };
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(local, port))?;
    socket.connect(addr).await
}

fn is_port_shortage(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrInUse
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::PermissionDenied
    )
}

async fn connect_privileged(addr: SocketAddr) -> io::Result<TcpStream> {
    let span = RESERVED_PORTS.end - RESERVED_PORTS.start;
    let start: u16 = rand::random::<u16>() % span;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free privileged port");
    for i in 0..span {
        let port = RESERVED_PORTS.start + (start + i) % span;
        let (socket, local) = match addr.ip() {
            IpAddr::V4(_) => (TcpSocket::new_v4()?, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            IpAddr::V6(_) => (TcpSocket::new_v6()?, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        };
        // TIME_WAIT from an earlier connection on this port only blocks
        // the same remote address (connect then fails and the next port
        // is tried), not binding it.
        socket.set_reuseaddr(true)?;
        match socket.bind(SocketAddr::new(local, port)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                last = e;
                continue;
            }
            Err(e) => return Err(e),
        }
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            // The 4-tuple is still in TIME_WAIT from an earlier connection.
            Err(e) if is_port_shortage(&e) && e.kind() != io::ErrorKind::PermissionDenied => {
                last = e
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        last.kind(),
        format!("no free privileged source port: {last}"),
    ))
}

/// A socket's `SO_RCVLOWAT` (bytes that must be queued before it reads
/// as readable), set only when it changes. Both sides raise it while a
/// large record streams in, so the kernel wakes the reader once per
/// [`RCVLOWAT_BIG`] bytes instead of once per segment.
#[derive(Debug)]
pub struct RecvLowat(usize);

impl Default for RecvLowat {
    fn default() -> Self {
        RecvLowat(1)
    }
}

impl RecvLowat {
    /// Sets the low-water mark of `sock` to `bytes` (best effort: on
    /// failure it stays as it was, which is only slower).
    #[allow(unsafe_code)] // the one syscall no safe crate wraps
    pub fn want(&mut self, sock: &impl AsFd, bytes: usize) {
        if bytes == self.0 {
            return;
        }
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a
        // pointer to a live c_int, on a descriptor borrowed for the call.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            self.0 = bytes;
        }
    }
}
