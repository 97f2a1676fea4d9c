//! A small synchronous ONC RPC client (RFC 5531) over a plain `TcpStream`,
//! written independently of `crates/rpc` on purpose: the end-to-end tests
//! must not share the server's understanding of the protocol.
//!
//! It builds call records field by field (so tests can break any field),
//! sends raw bytes, reads one reply record and parses its header into
//! [`Reply`]. Typed helpers on top use the `nfsl-proto` message types.
//!
//! Where it stands: the RPC layer (record marking, call and reply headers,
//! credentials: what `nfsl-rpc` and the transport do for the server) is
//! this file's own, so its types mirror `nfsl_rpc`'s on purpose and must
//! not be replaced by them; the XDR codec (`nfsl-xdr`) and the NFS/MOUNT
//! argument and result types (`nfsl-proto`) are shared: their wire format
//! is exercised against libnfs and Ganesha by the interop tests.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;

use nfsl_proto::mount3::{Dirpath, MountList, Mountres3, MOUNT_PROGRAM, MOUNT_V3};
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::{decode_exact, encode_to_vec, Decoder, Encoder, Xdr};

/// `msg_type` CALL.
pub const MSG_CALL: u32 = 0;
/// `msg_type` REPLY.
pub const MSG_REPLY: u32 = 1;
/// Auth flavor AUTH_NONE.
pub const AUTH_NONE: u32 = 0;
/// Auth flavor AUTH_SYS.
pub const AUTH_SYS: u32 = 1;
/// `auth_stat`: bad credential (seal broken or unknown flavor).
pub const AUTH_BADCRED: u32 = 1;
/// `auth_stat`: the client must begin a new session.
pub const AUTH_REJECTEDCRED: u32 = 2;
/// `auth_stat`: rejected for security reasons (e.g. insecure port).
pub const AUTH_TOOWEAK: u32 = 5;
/// Last-fragment bit of the record mark.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;

/// How long a test waits for one reply before failing.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// The credential a call carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cred {
    /// AUTH_NONE with an empty body.
    None,
    /// AUTH_SYS with machine name "nfsl-e2e" and these ids.
    Sys {
        /// Effective uid.
        uid: u32,
        /// Effective gid.
        gid: u32,
        /// Supplementary gids.
        gids: Vec<u32>,
    },
    /// Any flavor with any body, for malformed-credential tests.
    Raw {
        /// The flavor number.
        flavor: u32,
        /// The opaque body (encoded with its length).
        body: Vec<u8>,
    },
}

impl Cred {
    /// AUTH_SYS as root.
    pub fn root() -> Self {
        Cred::Sys {
            uid: 0,
            gid: 0,
            gids: vec![],
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cred::None => {
                out.put_u32(AUTH_NONE);
                out.put_opaque(&[]);
            }
            Cred::Sys { uid, gid, gids } => {
                let mut body = Vec::new();
                body.put_u32(0x4e46_534c); // stamp
                body.put_opaque(b"nfsl-e2e");
                body.put_u32(*uid);
                body.put_u32(*gid);
                body.put_u32(gids.len() as u32);
                for g in gids {
                    body.put_u32(*g);
                }
                out.put_u32(AUTH_SYS);
                out.put_opaque(&body);
            }
            Cred::Raw { flavor, body } => {
                out.put_u32(*flavor);
                out.put_opaque(body);
            }
        }
    }
}

/// One RPC call message, every field settable.
#[derive(Debug, Clone)]
pub struct Call {
    /// Transaction id.
    pub xid: u32,
    /// RPC protocol version (2 is the only valid one).
    pub rpcvers: u32,
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
    /// Credential.
    pub cred: Cred,
    /// Procedure arguments, already XDR-encoded.
    pub args: Vec<u8>,
}

impl Call {
    /// A call with RPC version 2 and AUTH_SYS root credentials.
    pub fn new(xid: u32, prog: u32, vers: u32, proc_: u32, args: Vec<u8>) -> Self {
        Call {
            xid,
            rpcvers: 2,
            prog,
            vers,
            proc_,
            cred: Cred::root(),
            args,
        }
    }

    /// The call message body (without record mark); the verifier is AUTH_NONE.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.args.len());
        out.put_u32(self.xid);
        out.put_u32(MSG_CALL);
        out.put_u32(self.rpcvers);
        out.put_u32(self.prog);
        out.put_u32(self.vers);
        out.put_u32(self.proc_);
        self.cred.encode(&mut out);
        Cred::None.encode(&mut out);
        out.extend_from_slice(&self.args);
        out
    }

    /// The call as one complete record (single last fragment).
    pub fn record(&self) -> Vec<u8> {
        record(&self.encode())
    }
}

/// Wraps `body` in one record-marking fragment flagged as the last.
pub fn record(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.put_u32(LAST_FRAGMENT | body.len() as u32);
    out.extend_from_slice(body);
    out
}

/// `accept_stat` of an accepted reply (an independent twin of
/// `nfsl_rpc::AcceptedReply`: see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptStat {
    /// SUCCESS with the procedure's results (XDR bytes).
    Success(Vec<u8>),
    /// PROG_UNAVAIL.
    ProgUnavail,
    /// PROG_MISMATCH with the supported version range.
    ProgMismatch {
        /// Lowest supported version.
        low: u32,
        /// Highest supported version.
        high: u32,
    },
    /// PROC_UNAVAIL.
    ProcUnavail,
    /// GARBAGE_ARGS.
    GarbageArgs,
    /// SYSTEM_ERR.
    SystemErr,
}

/// A rejected reply (`rejected_reply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// RPC_MISMATCH with the supported RPC version range.
    RpcMismatch {
        /// Lowest supported RPC version.
        low: u32,
        /// Highest supported RPC version.
        high: u32,
    },
    /// AUTH_ERROR with its `auth_stat`.
    AuthError(u32),
}

/// The body of a reply message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// MSG_ACCEPTED.
    Accepted {
        /// Verifier flavor.
        verf_flavor: u32,
        /// Status and results.
        stat: AcceptStat,
    },
    /// MSG_DENIED.
    Denied(Rejected),
}

/// A parsed reply message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Transaction id echoed from the call.
    pub xid: u32,
    /// Accepted or denied.
    pub body: ReplyBody,
}

impl Reply {
    /// The accept status, panicking on a denied reply.
    pub fn accepted(&self) -> &AcceptStat {
        match &self.body {
            ReplyBody::Accepted { stat, .. } => stat,
            ReplyBody::Denied(r) => panic!("expected an accepted reply, got denied {r:?}"),
        }
    }

    /// The results of a SUCCESS reply, panicking otherwise.
    pub fn results(&self) -> &[u8] {
        match self.accepted() {
            AcceptStat::Success(r) => r,
            other => panic!("expected SUCCESS, got {other:?}"),
        }
    }
}

/// Parses a reply message (one whole record without its mark).
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, String> {
    let mut d = Decoder::new(bytes);
    let e = |e: nfsl_xdr::XdrError| format!("{e} in reply {bytes:02x?}");
    let xid = d.u32().map_err(e)?;
    let mtype = d.u32().map_err(e)?;
    if mtype != MSG_REPLY {
        return Err(format!("msg_type {mtype}, not REPLY"));
    }
    let body = match d.u32().map_err(e)? {
        0 => {
            let verf_flavor = d.u32().map_err(e)?;
            d.opaque(400).map_err(e)?;
            let stat = match d.u32().map_err(e)? {
                0 => AcceptStat::Success(d.rest().to_vec()),
                1 => AcceptStat::ProgUnavail,
                2 => AcceptStat::ProgMismatch {
                    low: d.u32().map_err(e)?,
                    high: d.u32().map_err(e)?,
                },
                3 => AcceptStat::ProcUnavail,
                4 => AcceptStat::GarbageArgs,
                5 => AcceptStat::SystemErr,
                s => return Err(format!("unknown accept_stat {s}")),
            };
            ReplyBody::Accepted { verf_flavor, stat }
        }
        1 => ReplyBody::Denied(match d.u32().map_err(e)? {
            0 => Rejected::RpcMismatch {
                low: d.u32().map_err(e)?,
                high: d.u32().map_err(e)?,
            },
            1 => Rejected::AuthError(d.u32().map_err(e)?),
            s => return Err(format!("unknown reject_stat {s}")),
        }),
        s => return Err(format!("unknown reply_stat {s}")),
    };
    if !matches!(
        body,
        ReplyBody::Accepted {
            stat: AcceptStat::Success(_),
            ..
        }
    ) && d.remaining() != 0
    {
        return Err(format!("{} trailing bytes after reply", d.remaining()));
    }
    Ok(Reply { xid, body })
}

/// A connection to an RPC server on 127.0.0.1.
pub struct RpcClient {
    stream: TcpStream,
    next_xid: u32,
    /// Credential used by the typed helpers.
    pub cred: Cred,
}

impl RpcClient {
    /// Connects from an ephemeral (unprivileged) port.
    pub fn connect(port: u16) -> Self {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        Self::from_stream(stream)
    }

    /// Connects from a privileged source port (< 1024), as `secure` exports
    /// require; needs root (CAP_NET_BIND_SERVICE).
    pub fn connect_privileged(port: u16) -> Self {
        use rustix::net::{AddressFamily, SocketType};
        let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        // Start somewhere different per process and call so parallel tests
        // rarely race for the same source port.
        let start = (std::process::id() as u16 ^ Self::seed()) % 400;
        let mut last_err = None;
        for i in 0..424u16 {
            let src_port = 1023 - (start + i) % 424;
            let fd =
                rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).expect("socket");
            rustix::net::sockopt::set_socket_reuseaddr(&fd, true).expect("SO_REUSEADDR");
            let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, src_port);
            if let Err(e) = rustix::net::bind(&fd, &src) {
                last_err = Some(e);
                continue;
            }
            match rustix::net::connect(&fd, &dst) {
                Ok(()) => return Self::from_stream(TcpStream::from(fd)),
                Err(e) => last_err = Some(e),
            }
        }
        panic!("no privileged source port could connect to {dst}: {last_err:?}");
    }

    fn seed() -> u16 {
        use std::sync::atomic::{AtomicU16, Ordering};
        static NEXT: AtomicU16 = AtomicU16::new(0);
        NEXT.fetch_add(37, Ordering::Relaxed)
    }

    /// Wraps a connected stream (any source address or port).
    pub fn from_stream(stream: TcpStream) -> Self {
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        RpcClient {
            stream,
            next_xid: 0x1000 ^ (std::process::id() << 12),
            cred: Cred::root(),
        }
    }

    /// The local (source) port of the connection.
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().unwrap().port()
    }

    /// Sets how long reads wait before failing with `WouldBlock`/`TimedOut`.
    pub fn set_read_timeout(&mut self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }

    /// A fresh transaction id.
    pub fn xid(&mut self) -> u32 {
        self.next_xid = self.next_xid.wrapping_add(1);
        self.next_xid
    }

    /// A call to `prog`/`vers`/`proc_` with a fresh xid and this client's
    /// credential, for tests that alter fields before sending.
    pub fn new_call(&mut self, prog: u32, vers: u32, proc_: u32, args: Vec<u8>) -> Call {
        let mut c = Call::new(self.xid(), prog, vers, proc_, args);
        c.cred = self.cred.clone();
        c
    }

    /// Writes bytes as they are (records, partial records, garbage).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one whole record (all fragments), without the marks.
    pub fn read_record(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut mark = [0u8; 4];
            self.stream.read_exact(&mut mark)?;
            let mark = u32::from_be_bytes(mark);
            let len = (mark & !LAST_FRAGMENT) as usize;
            assert!(len <= 64 << 20, "reply fragment of {len} bytes");
            let start = out.len();
            out.resize(start + len, 0);
            self.stream.read_exact(&mut out[start..])?;
            if mark & LAST_FRAGMENT != 0 {
                return Ok(out);
            }
        }
    }

    /// Reads and parses one reply, or the IO error that prevented it.
    pub fn try_read_reply(&mut self) -> io::Result<Reply> {
        let rec = self.read_record()?;
        parse_reply(&rec).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Reads and parses one reply, panicking on any failure.
    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply()
            .unwrap_or_else(|e| panic!("reading an RPC reply: {e}"))
    }

    /// Sends `call` and returns the reply, checking it echoes the xid.
    pub fn exchange(&mut self, call: &Call) -> Reply {
        self.send_raw(&call.record())
            .unwrap_or_else(|e| panic!("sending {call:?}: {e}"));
        let reply = self.read_reply();
        assert_eq!(reply.xid, call.xid, "reply xid does not match the call");
        reply
    }

    /// Calls with already-encoded arguments; returns the parsed reply.
    pub fn call_raw(&mut self, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Reply {
        let call = self.new_call(prog, vers, proc_, args.to_vec());
        self.exchange(&call)
    }

    /// Calls with typed arguments and decodes the whole result as `R`;
    /// panics unless the reply is an accepted SUCCESS that decodes exactly.
    pub fn call<A: Xdr, R: Xdr>(&mut self, prog: u32, vers: u32, proc_: u32, args: &A) -> R {
        let reply = self.call_raw(prog, vers, proc_, &encode_to_vec(args));
        let results = reply.results();
        decode_exact(results).unwrap_or_else(|e| {
            panic!("decoding results of prog {prog} v{vers} proc {proc_}: {e}: {results:02x?}")
        })
    }

    /// Calls an NFSv3 procedure.
    pub fn nfs<A: Xdr, R: Xdr>(&mut self, proc_: Nfs3Procedure, args: &A) -> R {
        self.call(NFS_PROGRAM, NFS_V3, proc_ as u32, args)
    }

    /// Calls an NFSv3 procedure and returns the raw reply.
    pub fn nfs_raw(&mut self, proc_: Nfs3Procedure, args: &[u8]) -> Reply {
        self.call_raw(NFS_PROGRAM, NFS_V3, proc_ as u32, args)
    }

    /// MOUNT v3 MNT of `path`.
    pub fn mnt(&mut self, path: &str) -> Mountres3 {
        let arg = Dirpath(path.as_bytes().to_vec());
        self.call(MOUNT_PROGRAM, MOUNT_V3, 1, &arg)
    }

    /// MOUNT v3 DUMP: the server's list of mounts.
    pub fn dump(&mut self) -> MountList {
        let reply = self.call_raw(MOUNT_PROGRAM, MOUNT_V3, 2, &[]);
        decode_exact(reply.results()).unwrap_or_else(|e| panic!("decoding DUMP results: {e}"))
    }

    /// MNT that must succeed; returns the root handle.
    pub fn mount(&mut self, path: &str) -> NfsFh3 {
        match self.mnt(path) {
            Mountres3::Ok(ok) => ok.fhandle,
            Mountres3::Err(s) => panic!("MNT {path}: {s:?}"),
        }
    }

    /// GETATTR.
    pub fn getattr(&mut self, fh: &NfsFh3) -> Getattr3Res {
        self.nfs(Nfs3Procedure::Getattr, &Getattr3Args { object: fh.clone() })
    }

    /// GETATTR that must succeed.
    pub fn attrs(&mut self, fh: &NfsFh3) -> Fattr3 {
        match self.getattr(fh) {
            NfsResult::Ok(ok) => ok.obj_attributes,
            NfsResult::Err(s, _) => panic!("GETATTR: {s:?}"),
        }
    }

    /// LOOKUP of a raw name.
    pub fn lookup(&mut self, dir: &NfsFh3, name: &[u8]) -> Lookup3Res {
        self.nfs(
            Nfs3Procedure::Lookup,
            &Lookup3Args {
                what: diropargs(dir, name),
            },
        )
    }

    /// LOOKUP that must succeed; returns the handle and its attributes.
    pub fn lookup_ok(&mut self, dir: &NfsFh3, name: &str) -> (NfsFh3, Fattr3) {
        match self.lookup(dir, name.as_bytes()) {
            NfsResult::Ok(ok) => {
                let attrs = ok
                    .obj_attributes
                    .unwrap_or_else(|| panic!("LOOKUP {name}: no attributes"));
                (ok.object, attrs)
            }
            NfsResult::Err(s, _) => panic!("LOOKUP {name}: {s:?}"),
        }
    }

    /// READ.
    pub fn read(&mut self, fh: &NfsFh3, offset: u64, count: u32) -> Read3Res {
        self.nfs(
            Nfs3Procedure::Read,
            &Read3Args {
                file: fh.clone(),
                offset,
                count,
            },
        )
    }

    /// WRITE of `data` at `offset`.
    pub fn write(&mut self, fh: &NfsFh3, offset: u64, data: &[u8], stable: StableHow) -> Write3Res {
        self.nfs(
            Nfs3Procedure::Write,
            &Write3Args {
                file: fh.clone(),
                offset,
                count: data.len() as u32,
                stable,
                data: Data(data.to_vec()),
            },
        )
    }

    /// COMMIT of the whole file.
    pub fn commit(&mut self, fh: &NfsFh3) -> Commit3Res {
        self.nfs(
            Nfs3Procedure::Commit,
            &Commit3Args {
                file: fh.clone(),
                offset: 0,
                count: 0,
            },
        )
    }

    /// CREATE `name` in `dir`.
    pub fn create(&mut self, dir: &NfsFh3, name: &str, how: CreateHow3) -> Create3Res {
        self.nfs(
            Nfs3Procedure::Create,
            &Create3Args {
                location: diropargs(dir, name.as_bytes()),
                how,
            },
        )
    }

    /// READDIR.
    pub fn readdir(
        &mut self,
        dir: &NfsFh3,
        cookie: u64,
        cookieverf: Cookieverf3,
        count: u32,
    ) -> Readdir3Res {
        self.nfs(
            Nfs3Procedure::Readdir,
            &Readdir3Args {
                dir: dir.clone(),
                cookie,
                cookieverf,
                count,
            },
        )
    }

    /// Whether the server closed the connection: a read sees EOF or a reset
    /// within `wait`. Data arriving instead is an error of the caller's test.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        self.set_read_timeout(wait);
        let mut buf = [0u8; 512];
        let closed = match self.stream.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => panic!(
                "expected the connection to close, got {n} bytes: {:02x?}",
                &buf[..n]
            ),
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        self.set_read_timeout(REPLY_TIMEOUT);
        closed
    }
}

/// `diropargs3` from a handle and a raw name.
pub fn diropargs(dir: &NfsFh3, name: &[u8]) -> DirOpArgs3 {
    DirOpArgs3 {
        dir: dir.clone(),
        name: Filename3(name.to_vec()),
    }
}
