//! Socket-free procedure tests: a real [`NfsServer`] over a temporary
//! export, called through [`RpcService::call`] with XDR-encoded arguments,
//! as the transport would.

use std::net::SocketAddr;
use std::path::Path;

use nfsl_proto::mount3::{Dirpath, Mountres3, MOUNT_PROGRAM, MOUNT_V3};
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_rpc::{Auth, AuthSysParams};
use nfsl_transport::{CallContext, CallOutcome, Results, RpcService};
use nfsl_xdr::{decode_exact, encode_to_vec, Xdr};

use crate::exports::{ExportOptions, ExportTable};
use crate::{NfsServer, ServerConfig};

/// Largest READ/WRITE the test server offers.
pub(crate) const MAX_IO: u32 = 1 << 20;

/// A server over a temporary export.
pub(crate) struct Kit {
    pub(crate) server: NfsServer,
    pub(crate) export: tempfile::TempDir,
    _state: tempfile::TempDir,
    /// Source address of calls (privileged port by default).
    pub(crate) peer: SocketAddr,
    /// Credentials of calls.
    pub(crate) auth: Auth,
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
    /// A server exporting a fresh temporary directory, prepared by `setup`.
    pub(crate) fn new(options: &str, setup: impl FnOnce(&Path)) -> Kit {
        let export = tempfile::tempdir().expect("export tempdir");
        setup(export.path());
        let state = tempfile::tempdir().expect("state tempdir");
        let options = ExportOptions::parse_list(options).expect("options");
        let server = NfsServer::new(ServerConfig {
            exports: ExportTable::single(export.path(), options),
            state_dir: state.path().to_path_buf(),
            max_io_size: MAX_IO,
        })
        .expect("server");
        Kit {
            server,
            export,
            _state: state,
            peer: "127.0.0.1:700".parse().expect("address"),
            auth: auth_sys(0, 0),
        }
    }

    /// The canonical export path.
    pub(crate) fn export_path(&self) -> String {
        self.server.exports()[0].path.to_string_lossy().into_owned()
    }

    /// One raw call; the outcome and the encoded results.
    pub(crate) fn raw(&self, program: u32, procedure: u32, args: &[u8]) -> (CallOutcome, Vec<u8>) {
        let ctx = CallContext {
            xid: 1,
            program,
            version: if program == MOUNT_PROGRAM {
                MOUNT_V3
            } else {
                NFS_V3
            },
            procedure,
            auth: self.auth.clone(),
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

    /// A successful call's decoded results.
    pub(crate) fn call<A: Xdr, R: Xdr>(&self, program: u32, procedure: u32, args: &A) -> R {
        let (outcome, out) = self.raw(program, procedure, &encode_to_vec(args));
        assert_eq!(outcome, CallOutcome::Success, "procedure {procedure}");
        decode_exact(&out).expect("decodable results")
    }

    /// An NFSv3 call.
    pub(crate) fn nfs<A: Xdr, R: Xdr>(&self, procedure: Nfs3Procedure, args: &A) -> R {
        self.call(NFS_PROGRAM, procedure as u32, args)
    }

    /// MNT of `path`.
    pub(crate) fn mnt(&self, path: &str) -> Mountres3 {
        self.call(MOUNT_PROGRAM, 1, &Dirpath(path.as_bytes().to_vec()))
    }

    /// The export root's handle, by MNT.
    pub(crate) fn root(&self) -> NfsFh3 {
        match self.mnt(&self.export_path()) {
            Mountres3::Ok(ok) => ok.fhandle,
            Mountres3::Err(s) => panic!("MNT: {s:?}"),
        }
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
        what: DirOpArgs3 {
            dir: dir.clone(),
            name: Filename3(name.as_bytes().to_vec()),
        },
    }
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
