//! Socket-free tests of LOCALIO on the server: the RPC program against
//! the nonce registry, and the authorizer's rules.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Instant;

use nfsl_localio::registry::ConnId;
use nfsl_localio::{Access, Authorizer, Nonce, NonceRegistry, OpenRefusal};
use nfsl_proto::localio::LOCALIO_PROGRAM;
use nfsl_proto::nfs3::Nfsstat3;
use nfsl_rpc::Auth;
use nfsl_rpc_service::{CallOutcome, RpcService};

use crate::testkit::{localio_open_request, root_or_skip, Kit};

fn kit(options: &str) -> (Kit, Arc<NonceRegistry>) {
    let mut k = Kit::new(options, |d| {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.join("pub"), b"public").unwrap();
        std::fs::set_permissions(d.join("pub"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(d.join("secret"), b"secret").unwrap();
        std::fs::set_permissions(d.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
    });
    let registry = Arc::new(NonceRegistry::default());
    k.server.enable_localio(registry.clone());
    (k, registry)
}

fn refusal(r: Result<nfsl_localio::OpenedFile, OpenRefusal>) -> Nfsstat3 {
    match r {
        Err(OpenRefusal::Nfs(s)) => s,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn program_is_served_only_when_enabled() {
    let k = Kit::new("rw", |_| {});
    assert!(!k
        .server
        .programs()
        .iter()
        .any(|p| p.program == LOCALIO_PROGRAM));
    assert_eq!(k.raw(LOCALIO_PROGRAM, 0, &[]).0, CallOutcome::ProcUnavail);
    let (k, _) = kit("rw");
    assert!(k
        .server
        .programs()
        .iter()
        .any(|p| p.program == LOCALIO_PROGRAM));
    assert_eq!(k.raw(LOCALIO_PROGRAM, 0, &[]).0, CallOutcome::Success);
    assert_eq!(
        k.raw(LOCALIO_PROGRAM, 0, &[0; 4]).0,
        CallOutcome::GarbageArgs
    );
    assert_eq!(
        k.raw(LOCALIO_PROGRAM, 1, &[0; 15]).0,
        CallOutcome::GarbageArgs
    );
    assert_eq!(
        k.raw(LOCALIO_PROGRAM, 1, &[0; 20]).0,
        CallOutcome::GarbageArgs
    );
    assert_eq!(k.raw(LOCALIO_PROGRAM, 2, &[]).0, CallOutcome::ProcUnavail);
}

#[test]
fn uuid_is_local_confirms_only_auth_sys_and_registered_nonces() {
    let (mut k, registry) = kit("rw");
    let now = Instant::now();
    let n = Nonce::random();
    registry.register(n, ConnId(1), 0, now).unwrap();
    k.auth = Auth::None;
    let (outcome, results) = k.raw(LOCALIO_PROGRAM, 1, &n.0);
    assert_eq!((outcome, results.len()), (CallOutcome::Success, 0));
    assert_eq!(registry.take(&n, ConnId(1), now), None, "AUTH_NONE");
    k.auth = crate::testkit::auth_sys(1000, 1000);
    assert_eq!(k.raw(LOCALIO_PROGRAM, 1, &n.0).0, CallOutcome::Success);
    let c = registry.take(&n, ConnId(1), now).expect("confirmed");
    assert_eq!(c.nfs_client, k.peer);
    // A nonce nobody registered: still void success, nothing confirmed.
    let forged = Nonce::random();
    assert_eq!(k.raw(LOCALIO_PROGRAM, 1, &forged.0).0, CallOutcome::Success);
    assert_eq!(registry.take(&forged, ConnId(1), now), None);
}

/// `UUID_IS_LOCAL` obeys the exports like every other call: from an
/// unprivileged port it confirms nothing when every export admitting the
/// client is `secure`, and nothing for a client no export admits.
#[test]
fn uuid_is_local_obeys_secure_and_client_lists() {
    let now = Instant::now();
    let confirms = |k: &Kit, registry: &NonceRegistry, id: u64| {
        let n = Nonce::random();
        registry.register(n, ConnId(id), 0, now).unwrap();
        assert_eq!(k.raw(LOCALIO_PROGRAM, 1, &n.0).0, CallOutcome::Success);
        registry.take(&n, ConnId(id), now).is_some()
    };
    let (mut k, registry) = kit("rw,secure");
    k.auth = crate::testkit::auth_sys(1000, 1000);
    assert!(confirms(&k, &registry, 1), "privileged port");
    k.peer = "127.0.0.1:40000".parse().unwrap();
    assert!(!confirms(&k, &registry, 2), "unprivileged port, secure");
    let (mut k, registry) = kit("rw,insecure");
    k.auth = crate::testkit::auth_sys(1000, 1000);
    k.peer = "127.0.0.1:40000".parse().unwrap();
    assert!(confirms(&k, &registry, 3), "insecure admits any port");
}

#[test]
fn authorizer_applies_the_rpc_rules() {
    if !root_or_skip() {
        return;
    }
    let (k, _) = kit("rw,no_root_squash");
    let auth = k.server.localio_authorizer();
    let root = k.root();
    let (public, _) = k.lookup(&root, "pub");
    let (secret, _) = k.lookup(&root, "secret");
    let (dir, _) = k.lookup(&root, "dir");

    let f = auth
        .open(&localio_open_request(&public, Access::Read, 1000))
        .unwrap();
    assert_eq!(f.size, 6);
    let mut s = String::new();
    std::fs::File::from(f.buffered)
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "public");
    let flags = rustix::fs::fcntl_getfl(
        &auth
            .open(&localio_open_request(&public, Access::Read, 0))
            .unwrap()
            .buffered,
    )
    .unwrap();
    assert_eq!(
        flags & rustix::fs::OFlags::RWMODE,
        rustix::fs::OFlags::RDONLY
    );

    assert_eq!(
        refusal(auth.open(&localio_open_request(&secret, Access::Read, 1000))),
        Nfsstat3::Acces
    );
    assert_eq!(
        refusal(auth.open(&localio_open_request(&public, Access::ReadWrite, 1000))),
        Nfsstat3::Acces,
        "0644 is not writable by others"
    );
    auth.open(&localio_open_request(&secret, Access::ReadWrite, 0))
        .unwrap();
    assert_eq!(
        refusal(auth.open(&localio_open_request(&dir, Access::Read, 0))),
        Nfsstat3::Inval
    );
    let mut bad = secret.clone();
    *bad.0.last_mut().unwrap() ^= 0xff;
    assert_eq!(
        refusal(auth.open(&localio_open_request(&bad, Access::Read, 0))),
        Nfsstat3::Badhandle
    );

    let (k, _) = kit("ro,no_root_squash");
    let auth = k.server.localio_authorizer();
    let (public, _) = k.lookup(&k.root(), "pub");
    assert_eq!(
        refusal(auth.open(&localio_open_request(&public, Access::ReadWrite, 0))),
        Nfsstat3::Rofs
    );

    let (k, _) = kit("rw,all_squash");
    let auth = k.server.localio_authorizer();
    let (secret, _) = k.lookup(&k.root(), "secret");
    assert_eq!(
        refusal(auth.open(&localio_open_request(&secret, Access::Read, 0))),
        Nfsstat3::Acces
    );
}

/// `nolocalio`: no fd leaves the server for that export, and
/// `UUID_IS_LOCAL` confirms nothing for a client that only such exports
/// admit.
#[test]
fn nolocalio_hands_out_no_fds() {
    let (mut k, registry) = kit("rw,no_root_squash,nolocalio");
    let now = Instant::now();
    let n = Nonce::random();
    registry.register(n, ConnId(1), 0, now).unwrap();
    k.auth = crate::testkit::auth_sys(0, 0);
    assert_eq!(k.raw(LOCALIO_PROGRAM, 1, &n.0).0, CallOutcome::Success);
    assert_eq!(registry.take(&n, ConnId(1), now), None, "not confirmed");
    if !root_or_skip() {
        return;
    }
    let auth = k.server.localio_authorizer();
    let (public, _) = k.lookup(&k.root(), "pub");
    for access in [Access::Read, Access::ReadWrite] {
        assert_eq!(
            refusal(auth.open(&localio_open_request(&public, access, 0))),
            Nfsstat3::Perm
        );
    }
    // The same export with `localio` opens.
    let (k, _) = kit("rw,no_root_squash,localio");
    let auth = k.server.localio_authorizer();
    let (public, _) = k.lookup(&k.root(), "pub");
    auth.open(&localio_open_request(&public, Access::Read, 0))
        .unwrap();
}
