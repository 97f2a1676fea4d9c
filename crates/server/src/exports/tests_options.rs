//! Option-list parsing (`rw,no_root_squash,...`).

use super::*;

fn err_line(text: &str) -> (usize, String) {
    match ExportTable::parse_with_resolver(text, &|_| Err("no resolver".into())) {
        Err(ExportsError::Syntax { line, message }) => (line, message),
        other => panic!("expected a syntax error for {text:?}, got {other:?}"),
    }
}

#[test]
fn defaults_are_knfsd() {
    let d = ExportOptions::default();
    assert!(d.read_only && d.secure && d.sync);
    assert_eq!(d.squash, Squash::Root);
    assert_eq!((d.anon_uid, d.anon_gid, d.fsid), (65534, 65534, None));
    assert_eq!(
        d.to_string(),
        "ro,root_squash,secure,sync,anonuid=65534,anongid=65534"
    );
}

#[test]
fn all_options() {
    let o = ExportOptions::parse_list(
        "rw,no_root_squash,anonuid=1000,anongid=100,insecure,async,subtree_check,fsid=3,sec=sys,nolocalio",
    )
    .unwrap();
    assert_eq!(
        o,
        ExportOptions {
            read_only: false,
            squash: Squash::None,
            anon_uid: 1000,
            anon_gid: 100,
            secure: false,
            sync: false,
            subtree_check: true,
            fsid: Some(3),
            localio: false,
        }
    );
    assert_eq!(
        o.to_string(),
        "rw,no_root_squash,insecure,async,anonuid=1000,anongid=100,subtree_check,fsid=3,nolocalio"
    );
    assert!(
        !ExportOptions::parse_list("subtree_check,no_subtree_check")
            .unwrap()
            .subtree_check
    );
    assert!(
        ExportOptions::parse_list("nolocalio,localio")
            .unwrap()
            .localio
    );
    assert!(ExportOptions::parse_list("nolocalio=1").is_err());
    let o = ExportOptions::parse_list(
        "rw,ro,async,sync,insecure,secure,all_squash,no_all_squash,nolocalio,localio",
    )
    .unwrap();
    assert_eq!(o, ExportOptions::default());
    assert_eq!(
        ExportOptions::parse_list("").unwrap(),
        ExportOptions::default()
    );
    assert_eq!(
        ExportOptions::parse_list("sec=sys:sys").unwrap(),
        ExportOptions::default()
    );
}

#[test]
fn squash_flags_interact_like_knfsd() {
    let sq = |s| ExportOptions::parse_list(s).unwrap().squash;
    assert_eq!(sq("all_squash,no_root_squash"), Squash::All);
    assert_eq!(sq("no_root_squash,all_squash"), Squash::All);
    assert_eq!(sq("all_squash,no_root_squash,no_all_squash"), Squash::None);
    assert_eq!(sq("no_root_squash,root_squash"), Squash::Root);
    assert_eq!(sq("no_all_squash"), Squash::Root);
}

#[test]
fn ignored_options_accepted() {
    let list = "subtree_check,no_subtree_check,wdelay,no_wdelay,hide,nohide,crossmnt,\
                nocrossmnt,no_acl,acl,mountpoint,mp,mountpoint=/x,mp=/y,insecure_locks,\
                secure_locks,auth_nlm,no_auth_nlm";
    assert_eq!(
        ExportOptions::parse_list(list).unwrap(),
        ExportOptions::default()
    );
}

#[test]
fn option_errors() {
    let cases = [
        ("bogus", "unknown export option 'bogus'"),
        ("rw,,sync", "empty option"),
        (",", "empty option"),
        ("rw=1", "takes no value"),
        ("no_subtree_check=1", "takes no value"),
        ("frob=1", "unknown export option 'frob'"),
        ("anonuid", "needs a value"),
        ("anonuid=-2", "expected a number"),
        ("anongid=x", "expected a number"),
        ("anonuid=4294967296", "expected a number"),
        ("fsid=1f4e2c8a-0000-4000-8000-000000000000", "UUID"),
        ("fsid=", "expected a number"),
        ("sec=krb5", "sec=krb5 is not supported"),
        ("sec=sys:krb5p", "sec=krb5p is not supported"),
        ("sec", "needs a value"),
    ];
    for (list, want) in cases {
        match ExportOptions::parse_list(list) {
            Err(ExportsError::Options(m)) => assert!(m.contains(want), "{list}: {m}"),
            other => panic!("{list}: {other:?}"),
        }
        let (line, m) = err_line(&format!("\n/srv *({list})"));
        assert_eq!(line, 2);
        assert!(m.contains(want), "{list}: {m}");
    }
}
