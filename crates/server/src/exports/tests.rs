use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::*;

fn resolver(name: &str) -> Result<Vec<IpAddr>, String> {
    match name {
        "alpha" => Ok(vec!["192.0.2.7".parse().unwrap()]),
        "dual.example" => Ok(vec![
            "198.51.100.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ]),
        "empty" => Ok(vec![]),
        _ => Err("Name or service not known".into()),
    }
}

fn parse(text: &str) -> Result<ExportTable, ExportsError> {
    ExportTable::parse_with_resolver(text, &resolver)
}

fn one(text: &str) -> Export {
    let t = parse(text).unwrap();
    assert_eq!(t.exports.len(), 1, "{t:?}");
    t.exports.into_iter().next().unwrap()
}

fn err_line(text: &str) -> (usize, String) {
    match parse(text) {
        Err(ExportsError::Syntax { line, message }) => (line, message),
        other => panic!("expected a syntax error for {text:?}, got {other:?}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn empty_and_comments() {
    let t = parse("\n# comment\n   \n\t# indented comment\n").unwrap();
    assert!(t.exports.is_empty());
    let e = one("/srv # trailing comment\n");
    assert_eq!(e.rules.len(), 1);
    assert_eq!(e.rules[0].client, ClientMatch::Any);
}

#[test]
fn basic_line() {
    let e = one("/srv/data 192.0.2.1(rw,no_root_squash) 10.0.0.0/8(ro) *(insecure)");
    assert_eq!(e.path, Path::new("/srv/data"));
    assert_eq!(e.id, ExportId::from_path(Path::new("/srv/data")));
    assert_eq!(e.rules.len(), 3);
    let o = &e.rules[0].options;
    assert!(!o.read_only);
    assert_eq!(o.squash, Squash::None);
    assert!(e.rules[1].options.read_only);
    assert!(!e.rules[2].options.secure);
    assert_eq!(e.rules[1].client.to_string(), "10.0.0.0/8");
}

#[test]
fn path_without_clients_is_world() {
    let e = one("/srv");
    assert_eq!(
        e.rules,
        vec![ExportRule {
            client: ClientMatch::Any,
            options: ExportOptions::default()
        }]
    );
    let e = one("/srv -rw");
    assert!(!e.rules[0].options.read_only);
    assert_eq!(e.rules[0].client, ClientMatch::Any);
}

#[test]
fn bare_options_mean_world() {
    let e = one("/srv alpha (rw)");
    assert!(e.rules[0].options.read_only);
    assert_eq!(e.rules[1].client, ClientMatch::Any);
    assert!(!e.rules[1].options.read_only);
}

#[test]
fn default_options_apply_to_following_clients() {
    let e = one("/srv alpha -rw,async 10.0.0.1 10.0.0.2(ro) -all_squash 10.0.0.3");
    let ro: Vec<bool> = e.rules.iter().map(|r| r.options.read_only).collect();
    assert_eq!(ro, [true, false, true, false]);
    assert!(e.rules[0].options.sync && !e.rules[1].options.sync);
    assert_eq!(e.rules[3].options.squash, Squash::All);
    assert_eq!(e.rules[2].options.squash, Squash::Root);
}

#[test]
fn continuation_and_quotes() {
    let e = one("\"/srv/my data\" alpha(rw) \\\n    10.0.0.0/8(ro)\n");
    assert_eq!(e.path, Path::new("/srv/my data"));
    assert_eq!(e.rules.len(), 2);
    let e = one("/srv/\"a b\"/c\\\r\n *");
    assert_eq!(e.path, Path::new("/srv/a b/c"));
    let e = one("\"/srv/x\\\ny\"");
    assert_eq!(e.path, Path::new("/srv/xy"));
    let e = one("\"/srv/#notcomment\"");
    assert_eq!(e.path, Path::new("/srv/#notcomment"));
    let e = one("/srv/a#b");
    assert_eq!(e.path, Path::new("/srv/a#b"));
}

#[test]
fn octal_escapes_and_literal_backslash() {
    let e = one("/srv/a\\040b *");
    assert_eq!(e.path, Path::new("/srv/a b"));
    let e = one("/srv/a\\x *");
    assert_eq!(e.path, Path::new("/srv/a\\x"));
    let e = one("/srv/\\377");
    assert_eq!(e.path.as_os_str().as_bytes(), b"/srv/\xff");
}

#[test]
fn line_numbers_count_continuations() {
    let (line, msg) = err_line("# c\n/ok\n/srv alpha \\\n \\\n  alpha(rw\n");
    assert_eq!(line, 5, "{msg}");
    let (line, _) = err_line("\n\n\"/unterminated\n");
    assert_eq!(line, 3);
}

#[test]
fn path_normalization_and_merge() {
    let t = parse("/srv//data/ alpha(rw)\n/srv/./data 10.0.0.1\n/other\n").unwrap();
    assert_eq!(t.exports.len(), 2);
    let e = t.find_by_path(Path::new("/srv/data/")).unwrap();
    assert_eq!(e.rules.len(), 2);
    assert_eq!(t.find_by_id(e.id).unwrap().path, Path::new("/srv/data"));
    assert!(t.find_by_path(Path::new("/srv")).is_none());
    assert!(t.find_by_id(ExportId(e.id.0.wrapping_add(1))).is_none());
}

#[test]
fn fsid_sets_id() {
    assert_eq!(one("/srv *(fsid=42)").id, ExportId(42));
    assert_eq!(one("/srv *(fsid=0)").id, ExportId(0));
    assert_eq!(one("/srv *(fsid=root)").id, ExportId(0));
    assert_eq!(one("/srv -fsid=7 alpha 10.0.0.1").id, ExportId(7));
    assert_eq!(one("/srv alpha(fsid=9)\n/srv 10.0.0.1").id, ExportId(9));
    let (_, m) = err_line("/srv alpha(fsid=1) 10.0.0.1(fsid=2)");
    assert!(m.contains("conflicting fsid"), "{m}");
}

#[test]
fn hashed_ids_are_stable_and_distinct() {
    let a = ExportId::from_path(Path::new("/srv/a"));
    assert_eq!(a, ExportId::from_path(Path::new("/srv/a/")));
    assert_ne!(a, ExportId::from_path(Path::new("/srv/b")));
}

#[test]
fn syntax_errors() {
    let cases = [
        ("srv *", "not absolute"),
        ("./srv", "not absolute"),
        ("/srv -", "empty default option list"),
        ("/srv -bogus", "unknown export option"),
        ("/srv host(rw", "malformed options"),
        ("/srv host(rw)x", "malformed options"),
        ("/srv host((rw))", "malformed options"),
        ("/srv host)", "unbalanced"),
        ("/srv \"abc", "unterminated quote"),
        ("/srv @trusted(rw)", "netgroups are not supported"),
        ("/srv @trusted(rw)", "/srv not exported to it"),
        ("/srv host?.l/an", "invalid"),
        ("/srv *.ex(a)mple", "malformed options"),
        ("/srv *.exa+mple", "invalid wildcard host name"),
        ("/srv gss/krb5(rw)", "RPCSEC_GSS"),
        (
            "/srv nosuchhost(rw)",
            "cannot resolve host name 'nosuchhost'",
        ),
        ("/srv empty", "has no addresses"),
        ("/srv bad!name", "invalid client name"),
        ("/srv 10.0.0.0/33", "out of range"),
        ("/srv fe80::/129", "out of range"),
        ("/srv 10.0.0.0/", "invalid prefix length or netmask"),
        ("/srv 10.0.0.0/255.0.255.0", "not contiguous"),
        ("/srv fe80::/ffff::", "invalid prefix length or netmask"),
        ("/srv alpha/24", "invalid network address"),
        ("/srv 300.1.1.1/8", "invalid network address"),
        ("/srv \\377host", "not valid UTF-8"),
    ];
    for (text, want) in cases {
        let (line, m) = err_line(text);
        assert_eq!(line, 1, "{text}");
        assert!(m.contains(want), "{text}: {m}");
    }
}

#[test]
fn client_kinds() {
    let e = one("/srv alpha 10.1.2.3 fe80::1 10.0.0.0/255.255.0.0 fe80::/10 ::ffff:10.9.0.0/112 *");
    let c: Vec<String> = e.rules.iter().map(|r| r.client.to_string()).collect();
    assert_eq!(
        c,
        [
            "alpha",
            "10.1.2.3",
            "fe80::1",
            "10.0.0.0/16",
            "fe80::/10",
            "10.9.0.0/16",
            "*"
        ]
    );
    let e = one("/srv 10.1.2.3/8");
    assert_eq!(
        e.rules[0].client,
        ClientMatch::Network {
            addr: ip("10.0.0.0"),
            prefix_len: 8
        }
    );
    let e = one("/srv 0.0.0.0/0 ::/0");
    assert!(e.rules[0].client.matches(ip("203.0.113.9")));
    assert!(e.rules[1].client.matches(ip("2001:db8::9")));
    assert!(!e.rules[0].client.matches(ip("2001:db8::9")));
}

#[test]
fn precedence_host_over_network_over_world() {
    let e = one("/srv *(rw,insecure) 10.0.0.0/8(rw) 10.0.0.5(ro) 10.0.0.0/16(async)");
    let o = e.options_for(ip("10.0.0.5")).unwrap();
    assert!(o.read_only);
    let o = e.options_for(ip("10.0.1.1")).unwrap();
    assert!(!o.read_only && o.secure && o.sync, "first network wins");
    let o = e.options_for(ip("192.0.2.1")).unwrap();
    assert!(!o.secure);
    let e = one("/srv 10.0.0.0/8(rw)");
    assert!(e.options_for(ip("11.0.0.1")).is_none());
    assert!(e.options_for(IpAddr::V6(Ipv6Addr::LOCALHOST)).is_none());
}

#[test]
fn mapped_ipv6_peers_match_ipv4_rules() {
    let e = one("/srv 192.0.2.7(rw) 10.0.0.0/8 ::ffff:198.51.100.3(async)");
    let mapped = |v4: &str| IpAddr::V6(v4.parse::<Ipv4Addr>().unwrap().to_ipv6_mapped());
    assert!(!e.options_for(mapped("192.0.2.7")).unwrap().read_only);
    assert!(e.options_for(mapped("10.2.3.4")).is_some());
    assert!(!e.options_for(ip("198.51.100.3")).unwrap().sync);
    assert!(e.options_for(mapped("11.0.0.1")).is_none());
}

#[test]
fn hostnames_resolve_to_all_addresses() {
    let e = one("/srv dual.example(rw)");
    assert!(e.options_for(ip("198.51.100.1")).is_some());
    assert!(e.options_for(ip("2001:db8::1")).is_some());
    assert!(e.options_for(ip("198.51.100.2")).is_none());
}

#[test]
fn system_resolver_handles_localhost() {
    let t = ExportTable::parse("/srv localhost(rw)").unwrap();
    let e = &t.exports[0];
    assert!(e.options_for(ip("127.0.0.1")).is_some());
    assert!(matches!(
        ExportTable::parse("/srv no-such-host.invalid"),
        Err(ExportsError::Syntax { line: 1, .. })
    ));
}

#[test]
fn single_export() {
    let o = ExportOptions::parse_list("rw").unwrap();
    let t = ExportTable::single("/srv/x/", o.clone());
    assert_eq!(t.exports[0].path, Path::new("/srv/x"));
    assert_eq!(t.exports[0].id, ExportId::from_path(Path::new("/srv/x")));
    assert_eq!(t.exports[0].options_for(ip("203.0.113.1")), Some(&o));
    let t = ExportTable::single("rel", ExportOptions::parse_list("fsid=5").unwrap());
    assert!(t.exports[0].path.is_absolute());
    assert_eq!(t.exports[0].id, ExportId(5));
}

#[test]
fn validate_canonicalizes_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a")).unwrap();
    std::fs::write(d.join("file"), b"").unwrap();
    std::os::unix::fs::symlink(d.join("a"), d.join("link")).unwrap();
    let canon = std::fs::canonicalize(d.join("a")).unwrap();

    let mut t = parse(&format!("{}/link/ *", d.display())).unwrap();
    let id = t.exports[0].id;
    t.validate().unwrap();
    assert_eq!(t.exports[0].path, canon);
    assert_eq!(t.exports[0].id, id);

    let path_err = |text: String, want: &str| {
        let mut t = parse(&text).unwrap();
        match t.validate() {
            Err(e @ ExportsError::Path { .. }) => assert!(e.to_string().contains(want), "{e}"),
            other => panic!("{text}: {other:?}"),
        }
    };
    path_err(format!("{}/missing", d.display()), "No such file");
    path_err(format!("{}/file", d.display()), "not a directory");
    path_err(format!("{0}/a\n{0}/link", d.display()), "same directory");

    std::fs::create_dir(d.join("b")).unwrap();
    let mut t = parse(&format!("{0}/a *(fsid=1)\n{0}/b *(fsid=1)", d.display())).unwrap();
    match t.validate() {
        Err(ExportsError::DuplicateId { id, first, second }) => {
            assert_eq!(id, ExportId(1));
            assert_eq!(
                (first, second),
                (canon, std::fs::canonicalize(d.join("b")).unwrap())
            );
        }
        other => panic!("{other:?}"),
    }
    let _: PathBuf = t.exports[0].path.clone();
}

#[test]
fn wildcard_names_rank_below_networks_and_above_everyone() {
    let e = one("/srv *(ro) local*(rw,no_root_squash) 10.0.0.0/8(rw)");
    assert_eq!(
        e.rules[1].client,
        ClientMatch::Wildcard {
            pattern: "local*".into()
        }
    );
    assert_eq!(e.rules[1].client.to_string(), "local*");
    // 127.0.0.1 is `localhost` (forward-confirmed in /etc/hosts).
    let o = e.options_for(ip("127.0.0.1")).unwrap();
    assert!(!o.read_only && o.squash == Squash::None);
    let e = one("/srv *.invalid(rw) *(ro)");
    assert!(e.options_for(ip("127.0.0.1")).unwrap().read_only);
}

#[test]
fn lenient_parsing_skips_what_it_cannot_use_and_says_so() {
    let text = "/a nosuchhost(rw) alpha(rw)\n\
                /b -bogus\n\
                /c @group(rw)\n\
                relative\n\
                /d *(ro)\n";
    let (table, skipped) = parse::parse(text, &resolver).unwrap();
    let paths: Vec<_> = table.exports.iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths, [PathBuf::from("/a"), PathBuf::from("/d")]);
    // /a keeps the client that resolved, and only it: no fallback to `*`.
    assert_eq!(table.exports[0].rules.len(), 1);
    assert!(table.exports[0].options_for(ip("192.0.2.7")).is_some());
    assert!(table.exports[0].options_for(ip("203.0.113.9")).is_none());
    let said: Vec<String> = skipped.iter().map(|e| e.to_string()).collect();
    assert_eq!(said.len(), 5, "{said:?}");
    assert!(said[0].contains("line 1") && said[0].contains("nosuchhost"));
    assert!(said[1].contains("line 2") && said[1].contains("unknown export option"));
    assert!(said[2].contains("netgroups are not supported"), "{said:?}");
    assert!(said[3].contains("no usable client for /c: not exported"));
    assert!(said[4].contains("line 4") && said[4].contains("not absolute"));
    // A file that cannot be split into entries still fails whole.
    assert!(parse::parse("/a \"x\n", &resolver).is_err());
}

#[test]
fn lenient_parsing_leaves_out_an_entry_with_a_conflicting_fsid_whole() {
    // Within one entry: nothing of it is exported.
    let (table, skipped) = parse::parse("/a 10.0.0.1(fsid=1) 10.0.0.2(fsid=2)", &resolver).unwrap();
    assert!(table.exports.is_empty(), "{table:?}");
    assert!(skipped[0].to_string().contains("conflicting fsid"));
    // Against an earlier entry for the same path: the earlier one stays as
    // it was, the later one's client gets nothing.
    let text = "/m 10.0.0.1(fsid=1)\n/m 10.0.0.2(fsid=2)\n";
    let (table, skipped) = parse::parse(text, &resolver).unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let m = &table.exports[0];
    assert_eq!((m.id, m.rules.len()), (ExportId(1), 1));
    assert!(m.options_for(ip("10.0.0.1")).is_some());
    assert!(m.options_for(ip("10.0.0.2")).is_none());
}

#[test]
fn skipped_clients_cost_memory_linear_in_the_file() {
    // One error per skipped client; each must not carry a copy of a long
    // path, or a 10 KB file would make megabytes of messages.
    let text = format!("/{} {}", "p".repeat(4000), "x ".repeat(3000));
    let (table, skipped) = parse::parse(&text, &resolver).unwrap();
    assert!(table.exports.is_empty());
    assert_eq!(skipped.len(), 3001);
    let said: usize = skipped.iter().map(|e| e.to_string().len()).sum();
    assert!(
        said < 50 * text.len(),
        "{said} bytes of messages for {}",
        text.len()
    );
    assert!(skipped[0].to_string().contains("/pppp"), "{}", skipped[0]);
}

#[test]
fn lenient_validation_removes_bad_exports_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a")).unwrap();
    std::fs::write(d.join("file"), b"").unwrap();
    let mut t = parse(&format!(
        "{0}/missing *\n{0}/a *\n{0}/file *\n{0}/a/ *(fsid=3)",
        d.display()
    ))
    .unwrap();
    let refused = t.validate_lenient();
    assert_eq!(t.exports.len(), 1);
    assert_eq!(
        t.exports[0].path,
        std::fs::canonicalize(d.join("a")).unwrap()
    );
    let said: Vec<String> = refused.iter().map(|e| e.to_string()).collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].contains("missing") && said[0].contains("No such file"));
    assert!(said[1].contains("not a directory"));
}
