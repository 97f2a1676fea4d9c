//! Registering the server with the local rpcbind, as knfsd and NFS-Ganesha
//! do, so clients that know only the host name find NFS and MOUNT (v3,
//! TCP) through the portmapper. Spoken over rpcbind's Unix socket, where
//! rpcbind knows the caller's uid and so who owns each registration.
//!
//! Never fatal: without a running rpcbind the server serves as before and
//! says so once. Never someone else's: a program already mapped to another
//! address where something still listens is left alone (and said so; a
//! mapping to an address nothing listens on is a dead server's and is
//! replaced), and at exit only mappings that still point at this server
//! are removed.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nfsl_proto::mount3::{MOUNT_PROGRAM, MOUNT_V3};
use nfsl_proto::nfs3::{NFS_PROGRAM, NFS_V3};
use nfsl_proto::rpcbind::{Rpcb, RpcbList, RpcbindProcedure, RPCBIND_PROGRAM, RPCBIND_V4};
use nfsl_rpc::{
    decode_reply, frame_record, AcceptedReply, CallHeader, OpaqueAuth, RecordDecoder, ReplyBody,
};
use nfsl_xdr::{decode_exact, encode_to_vec, Xdr};

/// Where rpcbind listens for local callers (Debian and most others; the
/// second is the same place through the `/var/run` link on older systems).
const RPCBIND_SOCKETS: [&str; 2] = ["/run/rpcbind.sock", "/var/run/rpcbind.sock"];
/// How long one call to rpcbind may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest reply accepted from rpcbind.
const MAX_REPLY: usize = 64 << 10;

/// The programs a server on one port serves: NFS v3 and MOUNT v3.
const PROGRAMS: [(u32, u32, &str); 2] = [
    (NFS_PROGRAM, NFS_V3, "NFS"),
    (MOUNT_PROGRAM, MOUNT_V3, "MOUNT"),
];

/// The mappings this server made, to remove at exit.
pub struct Registration {
    socket: PathBuf,
    made: Vec<Rpcb>,
}

/// Registers NFS v3 and MOUNT v3 over TCP at `addr` with the local
/// rpcbind, logging what happened; `None` when nothing was registered.
pub fn register(addr: SocketAddr) -> Option<Registration> {
    let Some(socket) = RPCBIND_SOCKETS.iter().map(Path::new).find(|p| p.exists()) else {
        tracing::info!(
            "no rpcbind running: not registered (clients need nfsport=/mountport=, or port 2049)"
        );
        return None;
    };
    let owner = match rustix::process::geteuid() {
        u if u.is_root() => "superuser".to_string(),
        u => u.as_raw().to_string(),
    };
    let mut made = Vec::new();
    for (program, version, name) in PROGRAMS {
        let mapping = Rpcb::tcp(program, version, addr, &owner);
        match register_one(socket, &mapping) {
            Ok(None) => made.push(mapping),
            Ok(Some(other)) => tracing::warn!(
                "rpcbind already maps {name} v{version} over {} to {other} (another server?): left alone; clients must give this server's port",
                netid(&mapping)
            ),
            Err(e) => tracing::warn!("registering {name} v{version} with rpcbind at {}: {e}", socket.display()),
        }
    }
    if made.is_empty() {
        return None;
    }
    tracing::info!(
        "registered with rpcbind: {}",
        made.iter()
            .map(|m| format!("{}/{} v{}", m.r_prog, netid(m), m.r_vers))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some(Registration {
        socket: socket.to_path_buf(),
        made,
    })
}

impl Registration {
    /// Removes the mappings this server made that still point at it.
    pub fn unregister(self) {
        for mapping in &self.made {
            match current_address(&self.socket, mapping) {
                Ok(now) if now == mapping.r_addr.0 => {
                    if let Err(e) = call(&self.socket, RpcbindProcedure::Unset, mapping) {
                        tracing::warn!(
                            "unregistering program {} from rpcbind: {e}",
                            mapping.r_prog
                        );
                    }
                }
                Ok(_) => {} // someone else's now: not ours to remove
                Err(e) => tracing::warn!("asking rpcbind about program {}: {e}", mapping.r_prog),
            }
        }
    }
}

/// Registers `mapping` unless its program and version are mapped to
/// another address already: then `Some(that address)`.
fn register_one(socket: &Path, mapping: &Rpcb) -> std::io::Result<Option<String>> {
    let now = current_address(socket, mapping)?;
    if now == mapping.r_addr.0 {
        return Ok(None);
    }
    if !now.is_empty() {
        let now = String::from_utf8_lossy(&now).into_owned();
        if !is_stale(&now) {
            return Ok(Some(now));
        }
        // A server that died without unregistering (kill -9): nothing
        // listens there any more, so the mapping is nobody's.
        tracing::info!(
            "replacing rpcbind's stale mapping of program {} to {now}",
            mapping.r_prog
        );
        call(socket, RpcbindProcedure::Unset, mapping)?;
    }
    let set: bool =
        decode_exact(&call(socket, RpcbindProcedure::Set, mapping)?).map_err(invalid)?;
    match set {
        true => Ok(None),
        // Lost a race with another server registering.
        false => Ok(Some(
            String::from_utf8_lossy(&current_address(socket, mapping)?).into_owned(),
        )),
    }
}

/// The address `mapping`'s program and version are registered at on its
/// netid (empty when none). From DUMP: GETADDR answers for the netid the
/// call came in on, which over this socket is `local`.
fn current_address(socket: &Path, mapping: &Rpcb) -> std::io::Result<Vec<u8>> {
    let reply = call(socket, RpcbindProcedure::Dump, &())?;
    let list: RpcbList = decode_exact(&reply).map_err(invalid)?;
    Ok(list
        .0
        .into_iter()
        .find(|r| {
            (r.r_prog, r.r_vers, &r.r_netid) == (mapping.r_prog, mapping.r_vers, &mapping.r_netid)
        })
        .map(|r| r.r_addr.0)
        .unwrap_or_default())
}

/// Whether nothing accepts connections at the universal address `uaddr`
/// (a wildcard address is tried on loopback).
fn is_stale(uaddr: &str) -> bool {
    let Some(mut addr) = nfsl_proto::rpcbind::parse_universal_address(uaddr) else {
        return false;
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    matches!(
        std::net::TcpStream::connect_timeout(&addr, CALL_TIMEOUT),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

fn netid(mapping: &Rpcb) -> String {
    String::from_utf8_lossy(&mapping.r_netid.0).into_owned()
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("rpcbind's reply: {e}"),
    )
}

/// One rpcbind v4 call over its Unix socket; the results.
fn call(socket: &Path, procedure: RpcbindProcedure, args: &impl Xdr) -> std::io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(CALL_TIMEOUT))?;
    stream.set_write_timeout(Some(CALL_TIMEOUT))?;
    // Any xid will do: one call per connection.
    let xid = std::process::id();
    let header = CallHeader {
        xid,
        rpc_version: 2,
        program: RPCBIND_PROGRAM,
        version: RPCBIND_V4,
        procedure: procedure as u32,
        credential: OpaqueAuth::NONE,
        verifier: OpaqueAuth::NONE,
    };
    let mut msg = Vec::new();
    header.encode_call(&encode_to_vec(args), &mut msg);
    let mut record = Vec::new();
    frame_record(&msg, &mut record);
    stream.write_all(&record)?;
    let reply = read_record(&mut stream)?;
    match decode_reply(&reply).map_err(invalid)? {
        (x, _) if x != xid => Err(invalid(format!("xid {x}, not {xid}"))),
        (
            _,
            ReplyBody::Accepted {
                stat: AcceptedReply::Success(results),
                ..
            },
        ) => Ok(results.to_vec()),
        (_, body) => Err(invalid(format!("refused: {body:?}"))),
    }
}

/// One record (all its fragments), at most [`MAX_REPLY`] bytes,
/// reassembled by the same decoder the transport uses.
fn read_record(stream: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut decoder = RecordDecoder::new(MAX_REPLY);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(record) = decoder.next_record().map_err(invalid)? {
            return Ok(record);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        decoder.push(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_replies_are_bounded_errors() {
        // A marker announcing 2 GiB: refused before anything is allocated.
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(&0xffff_ffffu32.to_be_bytes()).unwrap();
        let e = read_record(&mut ours).unwrap_err();
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
        // Fragments that add up past the bound: refused too.
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            for _ in 0..3 {
                let _ = theirs.write_all(&(40u32 << 10).to_be_bytes());
                let _ = theirs.write_all(&vec![0u8; 40 << 10]);
            }
        });
        assert!(read_record(&mut ours).is_err());
        // A truncated record ends in an error, not a hang.
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        theirs
            .write_all(&(0x8000_0000u32 | 100).to_be_bytes())
            .unwrap();
        theirs.write_all(&[1, 2, 3]).unwrap();
        drop(theirs);
        assert!(read_record(&mut ours).is_err());
        // Garbage where a DUMP result should be: a decode error.
        assert!(decode_exact::<RpcbList>(&[0, 0, 0, 1, 0xff]).is_err());
    }
}
