//! A socket-free server for procedure tests: real exports in temporary
//! directories, calls through [`RpcService::call`] with XDR-encoded
//! arguments, as the transport would make them.

use std::cell::Cell;
use std::os::fd::AsFd;
use std::path::Path;

use nfsl_proto::nfs3::*;
use nfsl_rpc::{Auth, AuthSysParams};
use nfsl_transport::{CallContext, CallOutcome, RpcService};
use nfsl_xdr::Xdr;
use rustix::fs::{Mode, OFlags};

use crate::exports::{ExportOptions, ExportTable};
use crate::{NfsServer, ServerConfig};

/// A server over one or more temporary exports.
pub(crate) struct TestServer {
    pub(crate) server: NfsServer,
    exports: Vec<tempfile::TempDir>,
    _state: tempfile::TempDir,
    xid: Cell<u32>,
}

/// The usual test export options.
pub(crate) const RW: &str = "rw,no_root_squash,insecure";

impl TestServer {
    /// One export with `options` (e.g. [`RW`]).
    pub(crate) fn new(options: &str) -> TestServer {
        TestServer::with_exports(&[options])
    }

    /// One export per entry of `options`, in order.
    pub(crate) fn with_exports(options: &[&str]) -> TestServer {
        TestServer::with_exports_in(&std::env::temp_dir(), options)
    }

    /// One export per entry of `options`, each a new directory in `base`
    /// (to choose the file system).
    pub(crate) fn with_exports_in(base: &Path, options: &[&str]) -> TestServer {
        let dirs: Vec<_> = options
            .iter()
            .map(|_| tempfile::tempdir_in(base).unwrap())
            .collect();
        let mut table = ExportTable::default();
        for (dir, o) in dirs.iter().zip(options) {
            let o = ExportOptions::parse_list(o).unwrap();
            table
                .exports
                .extend(ExportTable::single(dir.path(), o).exports);
        }
        let state = tempfile::tempdir().unwrap();
        let server = NfsServer::new(ServerConfig {
            exports: table,
            state_dir: state.path().to_path_buf(),
            max_io_size: 1 << 20,
        })
        .unwrap();
        TestServer {
            server,
            exports: dirs,
            _state: state,
            xid: Cell::new(1),
        }
    }

    /// The first export's directory.
    pub(crate) fn path(&self) -> &Path {
        self.exports[0].path()
    }

    /// Export `i`'s directory.
    pub(crate) fn path_of(&self, i: usize) -> &Path {
        self.exports[i].path()
    }

    /// The first export's root handle.
    pub(crate) fn root(&self) -> NfsFh3 {
        self.root_of(0)
    }

    /// Export `i`'s root handle.
    pub(crate) fn root_of(&self, i: usize) -> NfsFh3 {
        let exports = self.server.shared_for_tests().exports.load();
        let fs = &exports.exports[i].fs;
        NfsFh3(fs.root_handle().as_bytes().to_vec())
    }

    /// The handle of `rel` (relative to the first export), not following
    /// a final symlink.
    pub(crate) fn handle(&self, rel: &str) -> NfsFh3 {
        let exports = self.server.shared_for_tests().exports.load();
        let fs = &exports.exports[0].fs;
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(self.path().join(rel), flags, Mode::empty()).unwrap();
        NfsFh3(fs.handle_for_fd(fd.as_fd()).unwrap().as_bytes().to_vec())
    }

    /// Calls `procedure` as AUTH_SYS `uid`/`gid` from 127.0.0.1:700.
    pub(crate) fn call_as<A: Xdr, R: Xdr>(
        &self,
        uid: u32,
        gid: u32,
        procedure: Nfs3Procedure,
        args: &A,
    ) -> R {
        let xid = self.xid.get();
        self.xid.set(xid + 1);
        let ctx = CallContext {
            xid,
            program: NFS_PROGRAM,
            version: NFS_V3,
            procedure: procedure as u32,
            auth: Auth::Sys(AuthSysParams {
                stamp: 0,
                machine_name: b"test".to_vec(),
                uid,
                gid,
                gids: Vec::new(),
            }),
            peer: "127.0.0.1:700".parse().unwrap(),
            local: "127.0.0.1:2049".parse().unwrap(),
        };
        let mut out = nfsl_transport::Results::new();
        let outcome = self
            .server
            .call(&ctx, &nfsl_xdr::encode_to_vec(args), &mut out);
        assert_eq!(outcome, CallOutcome::Success, "{procedure:?}");
        nfsl_xdr::decode_exact(&out.into_bytes().unwrap()).unwrap()
    }

    /// Calls `procedure` as root.
    pub(crate) fn call<A: Xdr, R: Xdr>(&self, procedure: Nfs3Procedure, args: &A) -> R {
        self.call_as(0, 0, procedure, args)
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
    rustix::fs::lstat(path).unwrap()
}
