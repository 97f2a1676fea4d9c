//! The `nfsl` commands where coreutils sets the user's expectations, end
//! to end against a real `nfsl serve`: `cp` over existing symlinks and
//! onto names ending in `/`, `mkdir -m` with symbolic modes, `mv` into
//! itself, `ls -a` and symlinks named on the command line, `stat`'s
//! name, `cat` of a directory, and absolute symlinks that leave the
//! export.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::cli::{fails, ok, ok_text};
use common::*;

const RW: &str = "rw,no_root_squash";

#[test]
fn cp_r_twice_replaces_the_symlinks_it_made() {
    let work = tempdir();
    let tree = work.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("f"), b"data").unwrap();
    symlink("f", tree.join("link")).unwrap();
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    let tree_arg = tree.to_str().unwrap();
    ok(&["cp", "-r", "-q", tree_arg, &server.url("/")]);
    // Retargeted at the source: the second copy must replace the link.
    fs::remove_file(tree.join("link")).unwrap();
    symlink("elsewhere", tree.join("link")).unwrap();
    ok(&["cp", "-r", "-q", tree_arg, &server.url("/")]);
    let copied = export.path().join("tree");
    assert_eq!(
        fs::read_link(copied.join("link")).unwrap().to_str(),
        Some("elsewhere")
    );
    assert_eq!(fs::read(copied.join("f")).unwrap(), b"data");

    // Back to this machine, twice, as well.
    let back = work.path().join("back");
    ok(&[
        "cp",
        "-r",
        "-q",
        &server.url("/tree"),
        back.to_str().unwrap(),
    ]);
    ok(&[
        "cp",
        "-r",
        "-q",
        &server.url("/tree"),
        back.to_str().unwrap(),
    ]);
    let link = back.join("tree").join("link");
    assert_eq!(fs::read_link(link).unwrap().to_str(), Some("elsewhere"));
}

#[test]
fn cp_onto_a_name_ending_in_slash_wants_a_directory() {
    let work = tempdir();
    let f = work.path().join("f");
    fs::write(&f, b"x").unwrap();
    let export = tempdir();
    fs::write(export.path().join("remote"), b"y").unwrap();
    let server = NfslServer::start(export.path(), RW);
    let f_arg = f.to_str().unwrap();

    let err = fails(&["cp", f_arg, &server.url("/nodir/")]);
    assert!(err.contains("cannot create regular file"), "{err}");
    assert!(err.contains("Not a directory"), "{err}");
    assert!(!export.path().join("nodir").exists());

    let missing = format!("{}/missing/", work.path().display());
    let err = fails(&["cp", &server.url("/remote"), &missing]);
    assert!(err.contains("Not a directory"), "{err}");
    assert!(!work.path().join("missing").exists());

    // An existing file named with a trailing slash is not a directory.
    let err = fails(&["cp", f_arg, &server.url("/remote/")]);
    assert!(err.contains("Not a directory"), "{err}");
    assert_eq!(fs::read(export.path().join("remote")).unwrap(), b"y");

    // A directory may be made there.
    let dir = work.path().join("dir");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("inner"), b"z").unwrap();
    ok(&[
        "cp",
        "-r",
        "-q",
        dir.to_str().unwrap(),
        &server.url("/newdir/"),
    ]);
    assert_eq!(fs::read(export.path().join("newdir/inner")).unwrap(), b"z");
}

#[test]
fn mkdir_takes_symbolic_modes() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    ok(&["mkdir", "-m", "u=rwx,g=rx,o=", &server.url("/a")]);
    ok(&["mkdir", "-m", "go-w", &server.url("/b")]);
    ok(&["mkdir", "-m", "0711", &server.url("/c")]);
    let mode = |n: &str| {
        fs::metadata(export.path().join(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("a"), 0o750);
    assert_eq!(mode("b"), 0o755);
    assert_eq!(mode("c"), 0o711);
    let out = common::cli::nfsl(&["mkdir", "-m", "u=rwq", &server.url("/d")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid mode"));
}

#[test]
fn mv_into_itself_says_so() {
    let export = tempdir();
    fs::create_dir(export.path().join("d")).unwrap();
    let server = NfslServer::start(export.path(), RW);
    let err = fails(&["mv", &server.url("/d"), &server.url("/d/sub")]);
    assert!(
        err.contains("cannot move '/d' to a subdirectory of itself, '/d/sub'"),
        "{err}"
    );
    assert!(export.path().join("d").is_dir());
}

#[test]
fn ls_a_stat_and_cat_read_as_coreutils_do() {
    let export = tempdir();
    let e = export.path();
    fs::create_dir(e.join("dir")).unwrap();
    fs::write(e.join("dir/f"), b"hi").unwrap();
    symlink("dir", e.join("rel")).unwrap();
    symlink(e.join("dir"), e.join("abs")).unwrap();
    symlink("/", e.join("dir/root_of_host")).unwrap();
    // A link to an ancestor of the export: resolving it from the export's
    // root used to loop until "too many levels of symbolic links".
    fs::create_dir(e.join("up")).unwrap();
    symlink(e.parent().unwrap(), e.join("up/parent")).unwrap();
    let server = NfslServer::start(e, RW);

    assert_eq!(
        ok_text(&["ls", "-a", &server.url("/dir")]),
        ".\n..\nf\nroot_of_host\n"
    );
    // Symlinks named on the command line are followed without -l, and an
    // absolute one inside the export works like a relative one.
    assert_eq!(ok_text(&["ls", &server.url("/rel")]), "f\nroot_of_host\n");
    assert_eq!(ok_text(&["ls", &server.url("/abs")]), "f\nroot_of_host\n");
    assert_eq!(ok_text(&["cat", &server.url("/abs/f")]), "hi");
    assert!(ok_text(&["ls", "-l", &server.url("/abs")]).contains("abs -> "));

    let err = fails(&["ls", &server.url("/up/parent/x")]);
    assert!(err.contains("leads outside the export"), "{err}");
    let err = fails(&["cat", &server.url("/dir/root_of_host/etc/passwd")]);
    assert!(err.contains("leads outside the export"), "{err}");

    let text = ok_text(&["stat", &server.url("/dir/f")]);
    let full = e.join("dir/f");
    assert!(
        text.contains(&format!("  File: {}\n", full.display())),
        "{text}"
    );

    let err = fails(&["cat", &server.url("/dir")]);
    assert!(err.ends_with("/dir: Is a directory\n"), "{err}");
    assert!(!err.contains("OPEN"), "{err}");
}

#[test]
fn server_logs_carry_no_colour_codes_off_a_terminal() {
    let export = tempdir();
    let server = NfslServer::start(export.path(), RW);
    ok(&["ls", &server.url("/")]);
    let log = server.wait_for_stderr("export");
    assert!(log.contains("export"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a piped log: {log:?}"
    );
}
