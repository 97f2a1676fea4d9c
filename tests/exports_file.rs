//! `nfsl serve --exports FILE` reads the file as `exportfs` does: wildcard
//! host names match the client's confirmed name, and an entry or client
//! that cannot be used (unknown option, unresolvable host, netgroup,
//! missing directory) is warned about and skipped while the rest is
//! served, at start and on SIGHUP.

mod common;

use common::cli::{fails, ok_text};
use common::*;

fn write(file: &std::path::Path, text: &str) {
    std::fs::write(file, text).unwrap();
}

#[test]
fn bad_entries_are_skipped_with_a_warning_and_the_rest_is_served() {
    let good = tempdir();
    std::fs::write(good.path().join("f"), b"served").unwrap();
    let typo = tempdir();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    let (g, t) = (canonical(good.path()), canonical(typo.path()));
    write(
        &exports,
        &format!(
            "{g} no-such-host.invalid(rw) 127.0.0.1(rw,insecure)\n\
             {t} *(rw,bogus_option)\n\
             /no/such/dir *(rw)\n\
             {t} @trusted(rw)\n"
        ),
    );
    let server = NfslServer::start_with_exports(&exports);
    let log = server.wait_for_stderr("/no/such/dir");
    for said in [
        "cannot resolve host name 'no-such-host.invalid'",
        "unknown export option",
        "/no/such/dir",
        "netgroups are not supported",
    ] {
        assert!(
            log.contains(said) && log.contains("skipped"),
            "{said}: {log}"
        );
    }
    assert_eq!(ok_text(&["cat", &server.url_in(&g, "/f")]), "served");
    // The entry whose only client was a netgroup is not exported to
    // anyone (never to everyone instead).
    let err = fails(&["ls", &server.url_in(&t, "/")]);
    assert!(err.contains("MNT"), "{err}");
}

#[test]
fn wildcard_host_names_match_the_clients_name() {
    let open = tempdir();
    let closed = tempdir();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    let (o, c) = (canonical(open.path()), canonical(closed.path()));
    // 127.0.0.1 is `localhost` in /etc/hosts, forward and reverse.
    write(
        &exports,
        &format!("{o} local*(rw,insecure)\n{c} *.invalid(rw,insecure)\n"),
    );
    let server = NfslServer::start_with_exports(&exports);
    assert_eq!(ok_text(&["ls", &server.url_in(&o, "/")]), "");
    let err = fails(&["ls", &server.url_in(&c, "/")]);
    assert!(err.contains("MNT"), "{err}");
}

#[test]
fn a_reload_skips_bad_entries_but_never_unexports_everything_by_mistake() {
    let a = tempdir();
    let b = tempdir();
    std::fs::write(b.path().join("f"), b"b").unwrap();
    let conf = tempdir();
    let exports = conf.path().join("exports");
    let (ca, cb) = (canonical(a.path()), canonical(b.path()));
    write(&exports, &format!("{ca} *(rw,insecure)\n"));
    let server = NfslServer::start_with_exports(&exports);

    write(
        &exports,
        &format!("{ca} *(rw,insecure)\n{cb} *(rw,insecure,typo)\n"),
    );
    let line = server.sighup();
    assert!(
        line.contains("reloaded") && !line.contains("not reloaded"),
        "{line}"
    );
    assert!(
        server.wait_for_stderr("typo").contains("typo"),
        "no warning"
    );
    assert_eq!(ok_text(&["ls", &server.url_in(&ca, "/")]), "");

    // Every entry unusable: the reload is refused, the old table stays.
    write(&exports, &format!("{cb} *(rw,typo)\n"));
    let line = server.sighup();
    assert!(
        line.contains("not reloaded") && line.contains("typo"),
        "{line}"
    );
    assert_eq!(ok_text(&["ls", &server.url_in(&ca, "/")]), "");
}
