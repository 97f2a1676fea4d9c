//! The `nfsl` client commands end to end: the real binary against a real
//! `nfsl serve` child, results checked on the exported directory itself
//! and, where present, with libnfs (`nfs-ls`, `nfs-cat`) as an independent
//! client. Errors must be one line on stderr and a non-zero exit.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::cli::{fails, nfsl, ok, ok_text};
use common::*;

const RW: &str = "rw,no_root_squash";

fn have_libnfs() -> bool {
    ["nfs-ls", "nfs-cat"].iter().all(|t| require_peer(t))
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn ls_and_ls_l_show_what_the_directory_holds() {
    let export = tempdir();
    let e = export.path();
    fs::write(e.join("b.txt"), b"hello").unwrap();
    fs::write(e.join("a.bin"), vec![7u8; 12345]).unwrap();
    set_mode(&e.join("a.bin"), 0o640);
    fs::write(e.join(".hidden"), b"").unwrap();
    fs::create_dir(e.join("dir")).unwrap();
    symlink("b.txt", e.join("link")).unwrap();
    let server = NfslServer::start(e, RW);
    let url = server.url("");

    assert_eq!(ok_text(&["ls", &url]), "a.bin\nb.txt\ndir\nlink\n");
    assert_eq!(
        ok_text(&["ls", "-a", &url]),
        ".\n..\n.hidden\na.bin\nb.txt\ndir\nlink\n"
    );

    let long = ok_text(&["ls", "-l", &url]);
    let mut lines = long.lines();
    assert!(lines.next().unwrap().starts_with("total "), "{long}");
    let mut seen = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let name = fields[8];
        let m = fs::symlink_metadata(e.join(name)).unwrap();
        let kind = if m.is_dir() {
            'd'
        } else if m.file_type().is_symlink() {
            'l'
        } else {
            '-'
        };
        let mode = fields[0];
        assert_eq!(mode.chars().next(), Some(kind), "{line}");
        assert_eq!(
            u32::from_str_radix(&perm_bits(&mode[1..]), 2).unwrap(),
            m.mode() & 0o777,
            "{line}"
        );
        assert_eq!(fields[1].parse::<u64>().unwrap(), m.nlink(), "{line}");
        assert_eq!(fields[2].parse::<u32>().unwrap(), m.uid(), "{line}");
        assert_eq!(fields[3].parse::<u32>().unwrap(), m.gid(), "{line}");
        assert_eq!(fields[4].parse::<u64>().unwrap(), m.size(), "{line}");
        if kind == 'l' {
            assert_eq!(&fields[9..], ["->", "b.txt"], "{line}");
        }
        seen.push(name.to_string());
    }
    assert_eq!(seen, ["a.bin", "b.txt", "dir", "link"]);

    // A file URL lists just the file.
    let one = ok_text(&["ls", "-l", &server.url("/b.txt")]);
    assert_eq!(one.lines().count(), 1, "{one}");
    assert!(
        one.starts_with("-rw-") && one.trim_end().ends_with(" b.txt"),
        "{one}"
    );

    // The same entries as libnfs sees them.
    if have_libnfs() {
        let theirs: BTreeMap<String, (char, String, u64)> = nfs_ls_entries(&url)
            .into_iter()
            .map(|x| (x.name, (x.kind, x.perms, x.size)))
            .collect();
        assert_eq!(
            theirs.keys().cloned().collect::<Vec<_>>(),
            [".hidden", "a.bin", "b.txt", "dir", "link"]
        );
        let a = &theirs["a.bin"];
        assert_eq!((a.0, a.1.as_str(), a.2), ('-', "rw-r-----", 12345));
    }
}

/// `rwxr-x---` -> `111101000`.
fn perm_bits(rwx: &str) -> String {
    rwx.chars()
        .map(|c| if c == '-' { '0' } else { '1' })
        .collect()
}

#[test]
fn cat_writes_the_exact_bytes() {
    let export = tempdir();
    let data = pseudo_random_bytes((20 << 20) + 4097, 1);
    fs::write(export.path().join("data.bin"), &data).unwrap();
    fs::write(export.path().join("empty"), b"").unwrap();
    fs::write(export.path().join("small"), b"abc").unwrap();
    let server = NfslServer::start(export.path(), RW);
    let url = server.url("/data.bin");
    let out = ok(&["cat", &url]);
    assert!(out == data, "cat: {} bytes, want {}", out.len(), data.len());
    assert!(ok(&["cat", &server.url("/empty")]).is_empty());
    // Several files in order, like cat.
    let both = ok(&["cat", &server.url("/small"), &server.url("/small")]);
    assert_eq!(both, b"abcabc");
    if have_libnfs() {
        assert!(nfs_cat(&url) == out, "nfs-cat disagrees");
    }
}

#[test]
fn cp_copies_local_to_nfs_nfs_to_local_and_nfs_to_nfs() {
    let export = tempdir();
    let local = tempdir();
    fs::create_dir(export.path().join("sub")).unwrap();
    // Not a multiple of the copy's chunk size, several chunks long.
    let data = pseudo_random_bytes((40 << 20) + 12_345, 2);
    let src = local.path().join("src.bin");
    fs::write(&src, &data).unwrap();
    set_mode(&src, 0o640);
    let server = NfslServer::start(export.path(), RW);

    ok(&["cp", src.to_str().unwrap(), &server.url("/in.bin")]);
    let stored = export.path().join("in.bin");
    assert!(fs::read(&stored).unwrap() == data, "local -> nfs differs");
    assert_eq!(fs::metadata(&stored).unwrap().mode() & 0o777, 0o640);
    if have_libnfs() {
        assert!(nfs_cat(&server.url("/in.bin")) == data, "nfs-cat differs");
    }

    let back = local.path().join("back.bin");
    ok(&["cp", &server.url("/in.bin"), back.to_str().unwrap()]);
    assert!(fs::read(&back).unwrap() == data, "nfs -> local differs");

    // NFS -> NFS into an existing directory: keeps the name.
    ok(&["cp", &server.url("/in.bin"), &server.url("/sub")]);
    assert!(fs::read(export.path().join("sub/in.bin")).unwrap() == data);

    // Overwriting: a longer file is replaced by a shorter one, entirely.
    let short = local.path().join("short.txt");
    fs::write(&short, b"short now").unwrap();
    ok(&["cp", short.to_str().unwrap(), &server.url("/in.bin")]);
    assert_eq!(fs::read(&stored).unwrap(), b"short now");
    ok(&["cp", &server.url("/sub/in.bin"), back.to_str().unwrap()]);
    assert!(fs::read(&back).unwrap() == data);

    // Several sources into a directory.
    ok(&[
        "cp",
        short.to_str().unwrap(),
        src.to_str().unwrap(),
        &server.url("/sub"),
    ]);
    assert_eq!(
        fs::read(export.path().join("sub/short.txt")).unwrap(),
        b"short now"
    );

    // A file holding less than its size says (sysfs: 4096 bytes, a few
    // in it) is copied up to its real end, as `cp` would.
    let pseudo = Path::new("/sys/devices/system/cpu/online");
    match fs::read(pseudo) {
        Ok(want) if fs::metadata(pseudo).unwrap().len() > want.len() as u64 => {
            ok(&["cp", pseudo.to_str().unwrap(), &server.url("/online")]);
            assert_eq!(fs::read(export.path().join("online")).unwrap(), want);
        }
        _ => eprintln!(
            "skipping the sysfs copy: {} is not a sysfs attribute here",
            pseudo.display()
        ),
    }

    // Never onto itself (the data would be truncated away).
    let err = fails(&["cp", &server.url("/sub/in.bin"), &server.url("/sub")]);
    assert!(err.contains("source itself"), "{err}");
    assert!(fs::read(export.path().join("sub/in.bin")).unwrap() == data);
    let err = fails(&[
        "cp",
        short.to_str().unwrap(),
        src.to_str().unwrap(),
        &server.url("/in.bin"),
    ]);
    assert!(err.contains("not a directory"), "{err}");
}

/// Every file, directory and symlink under `root`, with contents/targets.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let m = fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.mode() & 0o777)
            } else {
                format!("file {:o} {:x?}", m.mode() & 0o777, fs::read(&p).unwrap())
            };
            out.insert(rel, what);
        }
    }
    out
}

#[test]
fn cp_r_copies_a_tree_both_ways() {
    let export = tempdir();
    let local = tempdir();
    let tree = local.path().join("tree");
    fs::create_dir_all(tree.join("a/b/c")).unwrap();
    fs::create_dir(tree.join("empty")).unwrap();
    fs::write(tree.join("top.txt"), b"top").unwrap();
    fs::write(tree.join("a/one"), pseudo_random_bytes(100_000, 3)).unwrap();
    fs::write(tree.join("a/b/c/deep"), b"deep").unwrap();
    set_mode(&tree.join("a/b/c/deep"), 0o600);
    symlink("../top.txt", tree.join("a/up")).unwrap();
    let server = NfslServer::start(export.path(), RW);

    // Into a missing destination: the copy is named as the destination.
    ok(&["cp", "-r", tree.to_str().unwrap(), &server.url("/copy")]);
    assert_eq!(snapshot(&export.path().join("copy")), snapshot(&tree));
    // Into an existing directory: under the source's name.
    ok(&["cp", "-r", tree.to_str().unwrap(), &server.url("")]);
    assert_eq!(snapshot(&export.path().join("tree")), snapshot(&tree));

    let back = local.path().join("back");
    ok(&["cp", "-r", &server.url("/copy"), back.to_str().unwrap()]);
    assert_eq!(snapshot(&back), snapshot(&tree));
    ok(&["cp", "-R", &server.url("/copy"), &server.url("/tree/a")]);
    assert_eq!(
        snapshot(&export.path().join("tree/a/copy")),
        snapshot(&tree)
    );

    let err = fails(&["cp", tree.to_str().unwrap(), &server.url("/x")]);
    assert!(err.contains("-r"), "{err}");
    let err = fails(&["cp", "-r", &server.url("/tree"), &server.url("/tree/a")]);
    assert!(err.contains("into itself"), "{err}");
}

#[test]
fn stat_shows_the_files_attributes() {
    let export = tempdir();
    let f = export.path().join("f.txt");
    fs::write(&f, b"12345").unwrap();
    set_mode(&f, 0o604);
    let server = NfslServer::start(export.path(), RW);
    let text = ok_text(&["stat", &server.url("/f.txt")]);
    let m = fs::metadata(&f).unwrap();
    let full = f.display();
    assert!(text.contains(&format!("  File: {full}\n")), "{text}");
    assert!(text.contains("  Size: 5 "), "{text}");
    assert!(text.contains("regular file"), "{text}");
    assert!(text.contains(&format!("Fileid: {} ", m.ino())), "{text}");
    assert!(text.contains("Access: (0604/-rw----r--)"), "{text}");
    assert!(
        text.contains(&format!("Uid: {}  Gid: {}", m.uid(), m.gid())),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Modify: 20")).count(),
        1
    );
    let dir = ok_text(&["stat", &server.url("")]);
    assert!(dir.contains("directory"), "{dir}");
}

#[test]
fn mkdir_rm_and_mv_change_the_tree() {
    let export = tempdir();
    let e = export.path();
    let server = NfslServer::start(e, RW);

    ok(&["mkdir", "-p", &server.url("/a/b/c")]);
    assert!(e.join("a/b/c").is_dir());
    ok(&["mkdir", "-p", &server.url("/a/b/c")]); // exists: fine with -p
    let err = fails(&["mkdir", &server.url("/a")]);
    assert!(err.contains("NFS3ERR_EXIST"), "{err}");
    ok(&["mkdir", "-m", "700", &server.url("/private")]);
    assert_eq!(
        fs::metadata(e.join("private")).unwrap().mode() & 0o777,
        0o700
    );

    fs::write(e.join("a/b/c/file"), b"x").unwrap();
    ok(&["mv", &server.url("/a/b/c/file"), &server.url("/renamed")]);
    assert_eq!(fs::read(e.join("renamed")).unwrap(), b"x");
    ok(&["mv", &server.url("/renamed"), &server.url("/a")]); // into a directory
    assert!(e.join("a/renamed").is_file());
    ok(&["mv", &server.url("/private"), &server.url("/a/b/moved")]);
    assert!(e.join("a/b/moved").is_dir() && !e.join("private").exists());

    let other = tempdir();
    let other_server = NfslServer::start(other.path(), RW);
    let err = fails(&["mv", &server.url("/a/renamed"), &other_server.url("/x")]);
    assert!(err.contains("different servers"), "{err}");
    let err = fails(&["mv", &server.url("/a/renamed"), "/tmp/somewhere"]);
    assert!(err.contains("not an NFS URL"), "{err}");

    let err = fails(&["rm", &server.url("/a")]);
    assert!(err.contains("is a directory"), "{err}");
    ok(&["rm", &server.url("/a/renamed")]);
    assert!(!e.join("a/renamed").exists());
    ok(&["rm", "-f", &server.url("/a/renamed")]);
    ok(&["rm", "-r", &server.url("/a")]);
    assert!(!e.join("a").exists());
    let err = fails(&["rm", "-r", &server.url("")]);
    assert!(err.contains("root"), "{err}");
    assert_eq!(fs::read_dir(e).unwrap().count(), 0);
}

#[test]
fn df_reports_the_exported_file_system() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    let text = ok_text(&["df", "--bytes", &server.url("")]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Filesystem", "Size", "Used", "Avail", "Use%"]
    );
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(fields[0], format!("127.0.0.1:{}", server.export()));
    let st = rustix::fs::statvfs(export.path()).unwrap();
    assert_eq!(fields[1].parse::<u64>().unwrap(), st.f_blocks * st.f_frsize);
    assert!(fields[4].ends_with('%'));
    let human = ok_text(&["df", &server.url("")]);
    assert!(
        human.lines().nth(1).unwrap().contains('G') || human.contains('M'),
        "{human}"
    );
    let inodes = ok_text(&["df", "-i", &server.url("")]);
    assert!(inodes.starts_with("Filesystem"), "{inodes}");
    assert!(inodes.contains(&(st.f_files).to_string()), "{inodes}");
}

#[test]
fn errors_are_one_line_and_a_failing_exit() {
    let export = tempdir();
    let e = export.path();
    fs::write(e.join("secret"), b"s").unwrap();
    set_mode(&e.join("secret"), 0o600);
    fs::create_dir(e.join("locked")).unwrap();
    set_mode(&e.join("locked"), 0o755);
    let local = tempdir();
    let src = local.path().join("f");
    fs::write(&src, b"data").unwrap();
    let server = NfslServer::start(e, RW);

    for cmd in ["cat", "ls", "stat", "rm"] {
        let err = fails(&[cmd, &server.url("/missing")]);
        assert!(err.contains("NFS3ERR_NOENT"), "{cmd}: {err}");
        assert!(err.starts_with(&format!("nfsl: {cmd} nfs://")), "{err}");
    }
    let err = fails(&[
        "cp",
        &server.url("/missing"),
        local.path().to_str().unwrap(),
    ]);
    assert!(err.contains("no such file"), "{err}");

    for bad in [
        "nfs://127.0.0.1/x?version=4",
        "nfs://127.0.0.1/x?nfport=1",
        "nfs:///x",
        "http://127.0.0.1/x",
    ] {
        let err = fails(&["cat", bad]);
        assert!(err.contains(bad) || err.contains("URL"), "{err}");
    }
    // Nothing listens there (a port this server just released).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    fails(&[
        "ls",
        &format!("nfs://127.0.0.1/x?version=3&nfsport={closed}&mountport={closed}"),
    ]);

    // uid 65534 may neither read a 0600 root file nor write a 0755 root dir.
    let nobody = |path: &str| format!("{}&uid=65534&gid=65534", server.url(path));
    let err = fails(&["cat", &nobody("/secret")]);
    assert!(err.contains("NFS3ERR_ACCES"), "{err}");
    let err = fails(&["cp", src.to_str().unwrap(), &nobody("/locked/f")]);
    assert!(err.contains("NFS3ERR_ACCES"), "{err}");
    let err = fails(&["mkdir", &nobody("/locked/d")]);
    assert!(err.contains("NFS3ERR_ACCES"), "{err}");
    assert_eq!(fs::read_dir(e.join("locked")).unwrap().count(), 0);
}

#[test]
fn demo_runs_and_leaves_nothing_behind() {
    let tmp = tempdir();
    let mut c = Command::new(env!("CARGO_BIN_EXE_nfsl"));
    // Several chunks and a bit, so the pipelined paths are exercised.
    c.args(["demo", "--size", "17000001"])
        .env("TMPDIR", tmp.path());
    let out = run_peer(c);
    assert_success(&out, "nfsl demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("every byte verified"), "{text}");
    assert!(text.contains("on disk is identical"), "{text}");
    assert!(text.contains("MB/s"), "{text}");
    assert!(text.contains("cleaned up"), "{text}");
    let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "demo left {left:?} behind");

    let err = String::from_utf8_lossy(&nfsl(&["demo", "--size", "0"]).stderr).into_owned();
    assert!(err.contains("at least 1 byte"), "{err}");
}

#[test]
fn the_commands_work_against_nfs_ganesha() {
    if !ganesha_available() {
        return;
    }
    let export = tempdir();
    let local = tempdir();
    let data = pseudo_random_bytes((9 << 20) + 3, 9);
    let src = local.path().join("f.bin");
    fs::write(&src, &data).unwrap();
    let g = Ganesha::start(export.path());

    ok(&["mkdir", "-p", &g.url("/d/e")]);
    ok(&["cp", src.to_str().unwrap(), &g.url("/d/f.bin")]);
    assert!(
        ok(&["cat", &g.url("/d/f.bin")]) == data,
        "cat via Ganesha differs"
    );
    assert_eq!(ok_text(&["ls", &g.url("/d")]), "e\nf.bin\n");
    let long = ok_text(&["ls", "-l", &g.url("/d")]);
    let f_line = long.lines().find(|l| l.ends_with(" f.bin")).unwrap();
    assert!(
        f_line.starts_with("-rw-") && f_line.contains(&format!(" {} ", data.len())),
        "{long}"
    );
    let st = ok_text(&["stat", &g.url("/d/f.bin")]);
    assert!(st.contains(&format!("  Size: {} ", data.len())), "{st}");

    let back = local.path().join("back");
    ok(&["cp", "-r", &g.url("/d"), back.to_str().unwrap()]);
    assert!(back.join("e").is_dir());
    assert!(fs::read(back.join("f.bin")).unwrap() == data);

    ok(&["mv", &g.url("/d/f.bin"), &g.url("/d/e")]);
    assert_eq!(ok_text(&["ls", &g.url("/d/e")]), "f.bin\n");
    let df = ok_text(&["df", &g.url("")]);
    assert_eq!(df.lines().count(), 2, "{df}");
    let err = fails(&["cat", &g.url("/d/missing")]);
    assert!(err.contains("NFS3ERR_NOENT"), "{err}");
    ok(&["rm", "-r", &g.url("/d")]);
    assert_eq!(ok_text(&["ls", &g.url("")]), "");
}
