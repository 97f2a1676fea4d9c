//! A refusal says why: the server's log names the rule that refused a
//! mount (not in the client list, unprivileged port on a `secure` export,
//! not exported), and the client's one-line error says what the status
//! can mean and, for root refused by a `root_squash` export, what to do.

mod common;

use common::cli::fails;
use common::*;
use nfsl_client::{ClientConfig, ErrorKind, PortPolicy};

#[test]
fn a_client_not_in_the_list_is_told_and_the_log_says_which_rule() {
    let dir = tempdir();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    let path = canonical(dir.path());
    std::fs::write(&exports, format!("{path} 192.0.2.1(rw)\n")).unwrap();
    let server = NfslServer::start_with_exports(&exports);
    let err = fails(&["ls", &server.url("/")]);
    assert!(
        err.contains("MNT3ERR_ACCES") && err.contains("the server's log says which"),
        "{err}"
    );
    let log = server.wait_for_stderr("refused mount request");
    assert!(
        log.contains("refused mount request")
            && log.contains("127.0.0.1 is not in the client list"),
        "{log}"
    );
    let err = fails(&["ls", &server.url_in("/not/exported", "/")]);
    assert!(err.contains("MNT3ERR_ACCES"), "{err}");
    assert!(server
        .wait_for_stderr("not exported")
        .contains("not exported"));
}

#[test]
fn an_unprivileged_port_on_a_secure_export_is_named_in_the_log() {
    let dir = tempdir();
    let server = NfslServer::start(dir.path(), "rw,secure");
    let config = ClientConfig {
        privileged_port: PortPolicy::Never,
        ..ClientConfig::default()
    };
    let e = rt()
        .block_on(try_mount_export(&server, server.export(), config))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Mount, "{e}");
    let log = server.wait_for_stderr("is not privileged");
    assert!(
        log.contains("is not privileged") && log.contains("`secure`"),
        "{log}"
    );
}

#[test]
fn root_squashed_writes_get_a_hint() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: the hint is for root");
        return;
    }
    let dir = tempdir();
    let server = NfslServer::start(dir.path(), "rw,root_squash,insecure");
    let local = tempdir();
    let f = local.path().join("f");
    std::fs::write(&f, b"x").unwrap();
    let err = fails(&["cp", f.to_str().unwrap(), &server.url("/f")]);
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        err.contains("you are root") && err.contains("no_root_squash"),
        "{err}"
    );
}
