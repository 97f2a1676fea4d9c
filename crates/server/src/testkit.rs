//! Socket-free procedure tests: a real [`NfsServer`] over temporary
//! exports, called through [`RpcService::call`] with XDR-encoded arguments,
//! as the transport would. The one harness of the server crate's tests.

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::Path;

use nfsl_proto::mount3::{Dirpath, Mountres3, MOUNT_PROGRAM, MOUNT_V3};
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_rpc::{Auth, AuthSysParams};
use nfsl_rpc_service::{CallContext, CallOutcome, Results, RpcService};
use nfsl_xdr::{decode_exact, encode_to_vec, Xdr};
use rustix::fs::{Mode, OFlags};

use crate::exports::{ExportOptions, ExportTable};
use crate::{NfsServer, ServerConfig};

/// Largest READ/WRITE the test server offers.
pub(crate) const MAX_IO: u32 = 1 << 20;

/// The usual read-write export options.
pub(crate) const RW: &str = "rw,no_root_squash,insecure";

/// A server over one or more temporary exports.
pub(crate) struct Kit {
    pub(crate) server: NfsServer,
    exports: Vec<tempfile::TempDir>,
    _state: tempfile::TempDir,
    /// Source address of calls (privileged port by default).
    pub(crate) peer: SocketAddr,
    /// Credentials of calls (root by default).
    pub(crate) auth: Auth,
    /// The xid of the next call.
    xid: Cell<u32>,
}

/// AUTH_SYS credentials for `uid`/`gid`.
pub(crate) fn auth_sys(uid: u32, gid: u32) -> Auth {
    Auth::Sys(AuthSysParams {
        stamp: 0,
        machine_name: b"test".to_vec(),
        uid,
        gid,
        gids: vec![],
    })
}

impl Kit {
    /// A server exporting a fresh temporary directory, prepared by `setup`
    /// before the server starts.
    pub(crate) fn new(options: &str, setup: impl FnOnce(&Path)) -> Kit {
        Kit::build(&std::env::temp_dir(), &[options], setup)
    }

    /// One export per entry of `options`, in order.
    pub(crate) fn with_exports(options: &[&str]) -> Kit {
        Kit::with_exports_in(&std::env::temp_dir(), options)
    }

    /// One export per entry of `options`, each a new directory in `base`
    /// (to choose the file system).
    pub(crate) fn with_exports_in(base: &Path, options: &[&str]) -> Kit {
        Kit::build(base, options, |_| {})
    }

    /// Exports in new directories of `base`, the first prepared by `setup`.
    fn build(base: &Path, options: &[&str], setup: impl FnOnce(&Path)) -> Kit {
        let exports: Vec<_> = options
            .iter()
            .map(|_| tempfile::tempdir_in(base).expect("export tempdir"))
            .collect();
        setup(exports[0].path());
        let mut table = ExportTable::default();
        for (dir, options) in exports.iter().zip(options) {
            let options = ExportOptions::parse_list(options).expect("options");
            table
                .exports
                .extend(ExportTable::single(dir.path(), options).exports);
        }
        let state = tempfile::tempdir().expect("state tempdir");
        let server = NfsServer::new(ServerConfig {
            exports: table,
            state_dir: state.path().to_path_buf(),
            max_io_size: MAX_IO,
            unprivileged: Default::default(),
        })
        .expect("server");
        Kit {
            server,
            exports,
            _state: state,
            peer: "127.0.0.1:700".parse().expect("address"),
            auth: auth_sys(0, 0),
            xid: Cell::new(1),
        }
    }

    /// The first export's directory.
    pub(crate) fn path(&self) -> &Path {
        self.path_of(0)
    }

    /// Export `i`'s directory.
    pub(crate) fn path_of(&self, i: usize) -> &Path {
        self.exports[i].path()
    }

    /// The first export's canonical path.
    pub(crate) fn export_path(&self) -> String {
        self.export_path_of(0)
    }

    /// Export `i`'s canonical path.
    pub(crate) fn export_path_of(&self, i: usize) -> String {
        self.server.exports()[i].path.to_string_lossy().into_owned()
    }

    /// One raw call as [`Kit::auth`]; the outcome and the encoded results.
    pub(crate) fn raw(&self, program: u32, procedure: u32, args: &[u8]) -> (CallOutcome, Vec<u8>) {
        self.raw_as(&self.auth, program, procedure, args)
    }

    /// One raw call as `auth`; the outcome and the encoded results.
    fn raw_as(
        &self,
        auth: &Auth,
        program: u32,
        procedure: u32,
        args: &[u8],
    ) -> (CallOutcome, Vec<u8>) {
        let xid = self.xid.get();
        self.xid.set(xid.wrapping_add(1));
        let ctx = CallContext {
            xid,
            program,
            version: if program == MOUNT_PROGRAM {
                MOUNT_V3
            } else {
                NFS_V3
            },
            procedure,
            auth: auth.clone(),
            peer: self.peer,
            local: "127.0.0.1:2049".parse().expect("address"),
        };
        let mut out = Results::new();
        let outcome = self.server.call(&ctx, args, &mut out);
        (
            outcome,
            out.into_bytes().expect("file ranges of the results"),
        )
    }

    /// One NFSv3 call as [`Kit::auth`] through [`RpcService::try_call`]
    /// (as the transport tries it on its own thread): `None` if declined,
    /// which must leave the results empty.
    pub(crate) fn try_nfs(&self, procedure: Nfs3Procedure, args: &[u8]) -> Option<Vec<u8>> {
        self.try_nfs_as(&self.auth, procedure, args)
    }

    /// [`Kit::try_nfs`] as `auth`.
    pub(crate) fn try_nfs_as(
        &self,
        auth: &Auth,
        procedure: Nfs3Procedure,
        args: &[u8],
    ) -> Option<Vec<u8>> {
        let ctx = CallContext {
            xid: 1,
            program: NFS_PROGRAM,
            version: NFS_V3,
            procedure: procedure as u32,
            auth: auth.clone(),
            peer: self.peer,
            local: "127.0.0.1:2049".parse().expect("address"),
        };
        let mut out = Results::new();
        let outcome = self.server.try_call(&ctx, args, &mut out);
        let out = out.into_bytes().expect("file ranges of the results");
        match outcome {
            None => {
                assert!(out.is_empty(), "declined, yet results were written");
                None
            }
            Some(o) => {
                assert_eq!(o, CallOutcome::Success, "{procedure:?}");
                Some(out)
            }
        }
    }

    /// A successful call's decoded results.
    pub(crate) fn call<A: Xdr, R: Xdr>(&self, program: u32, procedure: u32, args: &A) -> R {
        let (outcome, out) = self.raw(program, procedure, &encode_to_vec(args));
        assert_eq!(outcome, CallOutcome::Success, "procedure {procedure}");
        decode_exact(&out).expect("decodable results")
    }

    /// A successful NFSv3 call's decoded results.
    pub(crate) fn nfs<A: Xdr, R: Xdr>(&self, procedure: Nfs3Procedure, args: &A) -> R {
        self.call(NFS_PROGRAM, procedure as u32, args)
    }

    /// A successful NFSv3 call's decoded results, made as AUTH_SYS
    /// `uid`/`gid` (whatever [`Kit::auth`] is).
    pub(crate) fn nfs_as<A: Xdr, R: Xdr>(
        &self,
        uid: u32,
        gid: u32,
        procedure: Nfs3Procedure,
        args: &A,
    ) -> R {
        let auth = auth_sys(uid, gid);
        let (outcome, out) =
            self.raw_as(&auth, NFS_PROGRAM, procedure as u32, &encode_to_vec(args));
        assert_eq!(outcome, CallOutcome::Success, "{procedure:?}");
        decode_exact(&out).expect("decodable results")
    }

    /// MNT of `path`.
    pub(crate) fn mnt(&self, path: &str) -> Mountres3 {
        self.call(MOUNT_PROGRAM, 1, &Dirpath(path.as_bytes().to_vec()))
    }

    /// The first export's root handle, by MNT.
    pub(crate) fn root(&self) -> NfsFh3 {
        self.root_of(0)
    }

    /// Export `i`'s root handle, by MNT.
    pub(crate) fn root_of(&self, i: usize) -> NfsFh3 {
        match self.mnt(&self.export_path_of(i)) {
            Mountres3::Ok(ok) => ok.fhandle,
            Mountres3::Err(s) => panic!("MNT: {s:?}"),
        }
    }

    /// The handle of `rel` (relative to the first export), not following
    /// a final symlink.
    pub(crate) fn handle(&self, rel: &str) -> NfsFh3 {
        let exports = self.server.shared_for_tests().exports.load();
        let fs = &exports.exports[0].fs;
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(self.path().join(rel), flags, Mode::empty()).expect("open");
        NfsFh3(
            fs.handle_for_fd(fd.as_fd())
                .expect("handle")
                .as_bytes()
                .to_vec(),
        )
    }

    /// LOOKUP that must succeed: handle and attributes.
    pub(crate) fn lookup(&self, dir: &NfsFh3, name: &str) -> (NfsFh3, Fattr3) {
        let res: Lookup3Res = self.nfs(Nfs3Procedure::Lookup, &lookup_args(dir, name));
        match res {
            NfsResult::Ok(ok) => (ok.object, ok.obj_attributes.expect("attributes")),
            NfsResult::Err(s, _) => panic!("LOOKUP {name}: {s:?}"),
        }
    }
}

/// LOOKUP arguments.
pub(crate) fn lookup_args(dir: &NfsFh3, name: &str) -> Lookup3Args {
    Lookup3Args {
        what: dirop(dir, name),
    }
}

/// A `diropargs3`.
pub(crate) fn dirop(dir: &NfsFh3, name: &str) -> DirOpArgs3 {
    DirOpArgs3 {
        dir: dir.clone(),
        name: Filename3(name.as_bytes().to_vec()),
    }
}

/// The `stat` of `path` (not following symlinks).
pub(crate) fn lstat(path: &Path) -> rustix::fs::Stat {
    rustix::fs::lstat(path).expect("lstat")
}

/// A LOCALIO open of `fh` with `access` as `uid` (gid `uid`, no other
/// groups), over a session confirmed for 127.0.0.1:700 by a root peer.
pub(crate) fn localio_open_request(
    fh: &NfsFh3,
    access: nfsl_localio::Access,
    uid: u32,
) -> nfsl_localio::OpenRequest {
    nfsl_localio::OpenRequest {
        session: nfsl_localio::Confirmation {
            nfs_client: SocketAddr::from(([127, 0, 0, 1], 700)),
            nfs_server: SocketAddr::from(([127, 0, 0, 1], 2049)),
        },
        peer: nfsl_localio::PeerCred {
            pid: 1,
            uid: 0,
            gid: 0,
            groups: vec![],
        },
        handle: fh.0.clone(),
        access,
        creds: nfsl_localio::Creds {
            uid,
            gid: uid,
            gids: vec![],
        },
    }
}

/// Whether a test that switches credentials can run (it needs root);
/// when it cannot, says it is skipped.
pub(crate) fn root_or_skip() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root (credential switching)");
    }
    root
}
