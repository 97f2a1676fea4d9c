//! Whole RPC records through the server's procedures, without a socket:
//! the most valuable target, since it reaches every procedure's argument
//! checks, handle resolution and file system code.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use nfsl_proto::localio::LOCALIO_PROGRAM;
use nfsl_proto::mount3::{ExportList, MountList, Mountres3, MOUNT_PROGRAM};
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_rpc::{Auth, CallHeader, RecordDecoder};
use nfsl_rpc_service::{CallContext, CallOutcome, Results, RpcService};
use nfsl_server::exports::{ExportOptions, ExportTable};
use nfsl_server::{NfsServer, ServerConfig};
use nfsl_xdr::{decode_exact, Encoder, Xdr};

use crate::alloc::{bounded, input_bound};
use crate::handles::scratch_dir;
use crate::rpc::RECORD_LIMIT;

/// Largest READ/WRITE the target's server offers.
pub const MAX_IO: u32 = 64 * 1024;
/// Most records one input may carry.
const MAX_CALLS: usize = 16;
/// Most handles remembered for [`HANDLE_ALIAS`] substitution.
const MAX_HANDLES: usize = 16;

/// A 4-byte handle `fh N 0` in a call's arguments (as an XDR opaque:
/// length 4, then these bytes with N at index 2) is replaced by the Nth
/// handle the server gave out in this input (0 is the export's root;
/// then every handle in a LOOKUP, CREATE, MKDIR, SYMLINK, MKNOD,
/// READDIRPLUS or MNT result, in order), so inputs can name real files
/// although handles change between runs.
pub const HANDLE_ALIAS: [u8; 8] = [0, 0, 0, 4, b'f', b'h', 0, 0];

struct Target {
    server: NfsServer,
    export: PathBuf,
    root: Vec<u8>,
}

fn target() -> &'static Mutex<Target> {
    static TARGET: OnceLock<Mutex<Target>> = OnceLock::new();
    TARGET.get_or_init(|| {
        let export = scratch_dir("dispatch-export");
        // Everyone is squashed to nobody, who may write here: fuzzed calls
        // can create, write and remove, but never as root (no device
        // nodes, no chown), so a finding cannot hurt the machine.
        std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o777))
            .expect("chmod export");
        let options =
            ExportOptions::parse_list("rw,all_squash,insecure,async").expect("export options");
        let server = NfsServer::new(ServerConfig {
            exports: ExportTable::single(&export, options),
            state_dir: scratch_dir("dispatch-state"),
            max_io_size: MAX_IO,
            unprivileged: Default::default(),
        })
        .expect("server");
        let root = mnt_root(&server, &export);
        Mutex::new(Target {
            server,
            export,
            root,
        })
    })
}

fn context(header: &CallHeader, auth: Auth) -> CallContext {
    CallContext {
        xid: header.xid,
        program: header.program,
        version: header.version,
        procedure: header.procedure,
        auth,
        peer: SocketAddr::from(([127, 0, 0, 1], 700)),
        local: SocketAddr::from(([127, 0, 0, 1], 2049)),
    }
}

fn mnt_root(server: &NfsServer, export: &std::path::Path) -> Vec<u8> {
    let canonical = std::fs::canonicalize(export).expect("canonical export");
    let mut args = Vec::new();
    args.put_opaque(canonical.as_os_str().as_encoded_bytes());
    let header = CallHeader {
        xid: 0,
        rpc_version: 2,
        program: MOUNT_PROGRAM,
        version: 3,
        procedure: 1,
        credential: nfsl_rpc::OpaqueAuth::NONE,
        verifier: nfsl_rpc::OpaqueAuth::NONE,
    };
    let mut out = Results::new();
    let outcome = server.call(&context(&header, Auth::None), &args, &mut out);
    assert_eq!(outcome, CallOutcome::Success);
    match decode_exact::<Mountres3>(&out.into_bytes().expect("results")) {
        Ok(Mountres3::Ok(ok)) => ok.fhandle.0,
        other => panic!("MNT of the fuzz export: {other:?}"),
    }
}

/// Empties the export, so every input starts from the same state.
fn wipe(export: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(export) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                _ => std::fs::remove_file(&p),
            };
        }
    }
}

/// A stream of up to 16 RPC call records (with record marks) to the
/// server's NFSv3, MOUNT and LOCALIO programs, triaged as the transport
/// does (header, credential, program and version) and executed in order
/// on a real export (emptied first), as AUTH_SYS or AUTH_NONE callers
/// squashed to nobody. Handles may be written as [`HANDLE_ALIAS`]es.
///
/// Checks: no panic; every call ends in an RPC outcome; every successful
/// call's results decode (exactly, no trailing bytes) as the procedure's
/// result type, so the server never sends a malformed reply; memory held
/// while executing a call is bounded by its input plus a few maximal
/// READ/WRITE payloads.
pub fn server_dispatch(data: &[u8]) {
    let target = target().lock().unwrap_or_else(|p| p.into_inner());
    wipe(&target.export);
    let mut handles = vec![target.root.clone()];
    let mut dec = RecordDecoder::new(RECORD_LIMIT).with_max_fragments(4);
    dec.push(data);
    for _ in 0..MAX_CALLS {
        let Ok(Some(record)) = dec.next_record() else {
            break;
        };
        let Ok((header, args)) = CallHeader::decode_prefix(&record) else {
            continue;
        };
        let auth = match Auth::from_credential(&header.credential) {
            Ok(Auth::Other(_)) | Err(_) => continue,
            Ok(auth) => auth,
        };
        let served = target
            .server
            .programs()
            .iter()
            .any(|p| p.program == header.program && (p.low..=p.high).contains(&header.version));
        if !served {
            continue;
        }
        let args = substitute_handles(args, &handles);
        let limit = input_bound(args.len()) + 8 * MAX_IO as usize;
        let (outcome, results) = bounded("server_dispatch", limit, || {
            let mut out = Results::new();
            let outcome = target.server.call(&context(&header, auth), &args, &mut out);
            (outcome, out.into_bytes())
        });
        if debug() {
            let status = results
                .as_ref()
                .ok()
                .and_then(|r| r.get(..4).map(|s| s.to_vec()));
            eprintln!(
                "prog {} proc {} -> {outcome:?} {status:?}",
                header.program, header.procedure
            );
        }
        if outcome != CallOutcome::Success {
            continue;
        }
        let results = results.expect("results readable");
        check_results(header.program, header.procedure, &results, &mut handles);
    }
}

/// Whether to print each call's outcome (`NFSL_FUZZ_DEBUG=1`), to see
/// what an input reaches.
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("NFSL_FUZZ_DEBUG").is_some())
}

fn substitute_handles(args: &[u8], handles: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args;
    while !rest.is_empty() {
        match rest.first_chunk::<8>() {
            Some(w) if w[..6] == HANDLE_ALIAS[..6] && w[7] == 0 => {
                let fh = &handles[usize::from(w[6]) % handles.len()];
                out.put_opaque(fh);
                rest = &rest[8..];
            }
            _ => {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
    }
    out
}

fn remember(handles: &mut Vec<Vec<u8>>, fh: &NfsFh3) {
    if handles.len() < MAX_HANDLES && !handles.contains(&fh.0) {
        handles.push(fh.0.clone());
    }
}

/// Decodes `results` as `T`, exactly; a failure is a malformed reply.
fn decoded<T: Xdr>(program: u32, procedure: u32, results: &[u8]) -> T {
    decode_exact::<T>(results).unwrap_or_else(|e| {
        panic!("program {program} procedure {procedure}: malformed results ({e}): {results:02x?}")
    })
}

fn check_results(program: u32, procedure: u32, r: &[u8], handles: &mut Vec<Vec<u8>>) {
    let p = procedure;
    match program {
        NFS_PROGRAM => match Nfs3Procedure::from_u32(procedure) {
            None => panic!("NFSv3 procedure {procedure} succeeded"),
            Some(proc_) => nfs3_results(proc_, r, handles),
        },
        MOUNT_PROGRAM => match procedure {
            1 => {
                if let Mountres3::Ok(ok) = decoded::<Mountres3>(program, p, r) {
                    remember(handles, &ok.fhandle);
                }
            }
            2 => drop(decoded::<MountList>(program, p, r)),
            5 => drop(decoded::<ExportList>(program, p, r)),
            _ => decoded::<()>(program, p, r),
        },
        LOCALIO_PROGRAM => decoded::<()>(program, p, r),
        _ => panic!("program {program} succeeded"),
    }
}

fn nfs3_results(proc_: Nfs3Procedure, r: &[u8], handles: &mut Vec<Vec<u8>>) {
    use Nfs3Procedure as P;
    let (prog, p) = (NFS_PROGRAM, proc_ as u32);
    match proc_ {
        P::Null => decoded::<()>(prog, p, r),
        P::Getattr => drop(decoded::<Getattr3Res>(prog, p, r)),
        P::Setattr => drop(decoded::<Setattr3Res>(prog, p, r)),
        P::Lookup => {
            if let NfsResult::Ok(ok) = decoded::<Lookup3Res>(prog, p, r) {
                remember(handles, &ok.object);
            }
        }
        P::Access => drop(decoded::<Access3Res>(prog, p, r)),
        P::Readlink => drop(decoded::<Readlink3Res>(prog, p, r)),
        P::Read => {
            if let NfsResult::Ok(ok) = decoded::<Read3Res>(prog, p, r) {
                assert_eq!(ok.count as usize, ok.data.0.len(), "READ count");
                assert!(ok.data.0.len() <= MAX_IO as usize);
            }
        }
        P::Write => drop(decoded::<Write3Res>(prog, p, r)),
        P::Create | P::Mkdir | P::Symlink | P::Mknod => {
            if let NfsResult::Ok(ok) = decoded::<Create3Res>(prog, p, r) {
                if let Some(fh) = &ok.obj {
                    remember(handles, fh);
                }
            }
        }
        P::Remove | P::Rmdir => drop(decoded::<Remove3Res>(prog, p, r)),
        P::Rename => drop(decoded::<Rename3Res>(prog, p, r)),
        P::Link => drop(decoded::<Link3Res>(prog, p, r)),
        P::Readdir => drop(decoded::<Readdir3Res>(prog, p, r)),
        P::Readdirplus => {
            if let NfsResult::Ok(ok) = decoded::<Readdirplus3Res>(prog, p, r) {
                for fh in ok
                    .reply
                    .entries
                    .iter()
                    .filter_map(|e| e.name_handle.as_ref())
                {
                    remember(handles, fh);
                }
            }
        }
        P::Fsstat => drop(decoded::<Fsstat3Res>(prog, p, r)),
        P::Fsinfo => drop(decoded::<Fsinfo3Res>(prog, p, r)),
        P::Pathconf => drop(decoded::<Pathconf3Res>(prog, p, r)),
        P::Commit => drop(decoded::<Commit3Res>(prog, p, r)),
    }
}

/// Frames `header` plus `args` (which may use [`HANDLE_ALIAS`]) as one
/// record, for seeds.
pub fn call_record(header: &CallHeader, args: &[u8]) -> Vec<u8> {
    let mut msg = Vec::new();
    header.encode_call(args, &mut msg);
    let mut out = Vec::new();
    nfsl_rpc::frame_record(&msg, &mut out);
    out
}
