//! libnfs (`nfs-cp`, `nfs-cat`, `nfs-ls`) as an independent NFSv3 client
//! of `nfsl serve`. libnfs runs as root from privileged ports, so the
//! default `secure` exports serve it. Files are read and written at the
//! export root because libnfs MNTs a file's parent directory.

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

const RW: &str = "rw,no_root_squash";

/// Whether all three libnfs tools are present (else the test is skipped).
fn peers() -> bool {
    ["nfs-ls", "nfs-cat", "nfs-cp"]
        .iter()
        .all(|t| require_peer(t))
}

fn by_name(entries: Vec<LsEntry>) -> HashMap<String, LsEntry> {
    let mut map = HashMap::new();
    for e in entries {
        let name = e.name.clone();
        assert!(map.insert(name.clone(), e).is_none(), "{name} listed twice");
    }
    map
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_64_mib_file_is_copied_in_and_out_byte_identical() {
    if !peers() {
        return;
    }
    let export = tempdir();
    let local = tempdir();
    let data = pseudo_random_bytes(64 << 20, 64);
    let src = local.path().join("src.bin");
    fs::write(&src, &data).unwrap();
    let server = NfslServer::start(export.path(), RW);

    let out = nfs_cp(src.to_str().unwrap(), &server.url("/in.bin"));
    assert_success(&out, "nfs-cp local -> nfs");
    let written = fs::read(export.path().join("in.bin")).unwrap();
    assert!(written == data, "nfs-cp in: {} bytes differ", written.len());

    let copy = local.path().join("out.bin");
    let out = nfs_cp(&server.url("/in.bin"), copy.to_str().unwrap());
    assert_success(&out, "nfs-cp nfs -> local");
    assert!(fs::read(&copy).unwrap() == data, "nfs-cp out differs");

    let cat = nfs_cat(&server.url("/in.bin"));
    assert_eq!(cat.len(), data.len());
    assert!(cat == data, "nfs-cat differs");

    // nfs-cp creates exclusively: an existing name is refused, unchanged.
    fs::write(&src, b"short").unwrap();
    let out = nfs_cp(src.to_str().unwrap(), &server.url("/in.bin"));
    assert!(!out.status.success(), "nfs-cp overwrote an existing file");
    assert_eq!(
        fs::metadata(export.path().join("in.bin")).unwrap().len(),
        64 << 20
    );
}

#[test]
fn nfs_ls_lists_10000_files_each_exactly_once() {
    if !peers() {
        return;
    }
    let export = tempdir();
    let names = create_files(export.path(), "entry-", 10_000);
    let server = NfslServer::start(export.path(), RW);
    let entries = nfs_ls_entries(&server.url(""));
    assert_eq!(
        entries.len(),
        10_000,
        "nfs-ls printed {} entries",
        entries.len()
    );
    let listed = by_name(entries);
    for name in &names {
        let e = listed
            .get(name)
            .unwrap_or_else(|| panic!("{name} not listed"));
        assert_eq!((e.kind, e.size), ('-', 0), "{name}");
    }
}

#[test]
fn nfs_ls_shows_types_modes_sizes_and_link_counts() {
    if !peers() {
        return;
    }
    let export = tempdir();
    let p = export.path();
    fs::write(p.join("file"), vec![b'x'; 1234]).unwrap();
    set_mode(&p.join("file"), 0o640);
    fs::hard_link(p.join("file"), p.join("hard")).unwrap();
    fs::write(p.join("exec"), b"#!/bin/sh\n").unwrap();
    set_mode(&p.join("exec"), 0o755);
    fs::create_dir(p.join("dir")).unwrap();
    set_mode(&p.join("dir"), 0o750);
    fs::create_dir(p.join("dir/sub")).unwrap();
    fs::write(p.join("dir/inner"), b"12345").unwrap();
    symlink("file", p.join("link")).unwrap();
    let dangling_target = "/nonexistent/target/of/a/dangling/link";
    symlink(dangling_target, p.join("dangling")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    set_mode(&p.join("fifo"), 0o644);
    let uid = fs::metadata(p.join("file")).unwrap().uid();
    let gid = fs::metadata(p.join("file")).unwrap().gid();

    let server = NfslServer::start(p, RW);
    let listed = by_name(nfs_ls_entries(&server.url("")));
    let mut names: Vec<_> = listed.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        ["dangling", "dir", "exec", "fifo", "file", "hard", "link"]
    );
    let check = |name: &str, kind: char, perms: &str, nlink: u32, size: u64| {
        let e = &listed[name];
        assert_eq!(
            (e.kind, e.perms.as_str(), e.nlink, e.size),
            (kind, perms, nlink, size),
            "{name}: {e:?}"
        );
        assert_eq!((e.uid, e.gid), (uid, gid), "{name} owner");
    };
    check("file", '-', "rw-r-----", 2, 1234);
    check("hard", '-', "rw-r-----", 2, 1234);
    check("exec", '-', "rwxr-xr-x", 1, 10);
    let dir_size = fs::metadata(p.join("dir")).unwrap().len();
    check("dir", 'd', "rwxr-x---", 3, dir_size);
    check("link", 'l', "rwxrwxrwx", 1, 4);
    check(
        "dangling",
        'l',
        "rwxrwxrwx",
        1,
        dangling_target.len() as u64,
    );
    // nfs-ls prints no type character for FIFOs: a '-' would mean the
    // server called it a regular file.
    check("fifo", '?', "rw-r--r--", 1, 0);

    let out = nfs_ls_recursive(&server.url(""));
    assert_success(&out, "nfs-ls -R");
    let all = by_name(parse_nfs_ls(&String::from_utf8_lossy(&out.stdout)));
    assert_eq!(all["dir/inner"].size, 5);
    assert_eq!(all["dir/sub"].kind, 'd');
    assert_eq!(all.len(), 9, "{:?}", all.keys());
}

#[test]
fn local_renames_and_removals_show_in_the_next_listing() {
    if !peers() {
        return;
    }
    let export = tempdir();
    let p = export.path();
    for name in ["keep", "rename-me", "remove-me", "grow"] {
        fs::write(p.join(name), name).unwrap();
    }
    fs::create_dir(p.join("rmdir-me")).unwrap();
    let server = NfslServer::start(p, RW);
    let before = by_name(nfs_ls_entries(&server.url("")));
    let mut names: Vec<_> = before.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        ["grow", "keep", "remove-me", "rename-me", "rmdir-me"]
    );
    assert_eq!(before["grow"].size, 4);

    fs::rename(p.join("rename-me"), p.join("renamed")).unwrap();
    fs::remove_file(p.join("remove-me")).unwrap();
    fs::remove_dir(p.join("rmdir-me")).unwrap();
    fs::create_dir(p.join("new-dir")).unwrap();
    fs::write(p.join("grow"), vec![0u8; 5000]).unwrap();

    let after = by_name(nfs_ls_entries(&server.url("")));
    let mut names: Vec<_> = after.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["grow", "keep", "new-dir", "renamed"]);
    assert_eq!(after["grow"].size, 5000);
    assert_eq!(after["new-dir"].kind, 'd');
    assert_eq!(nfs_cat(&server.url("/renamed")), b"rename-me");
}

#[test]
fn a_read_only_export_refuses_writes() {
    if !peers() {
        return;
    }
    let export = tempdir();
    let local = tempdir();
    fs::write(export.path().join("existing"), b"readable").unwrap();
    let src = local.path().join("src");
    fs::write(&src, b"must not arrive").unwrap();
    let server = NfslServer::start(export.path(), "ro,no_root_squash");

    let out = nfs_cp(src.to_str().unwrap(), &server.url("/new"));
    assert!(
        !out.status.success(),
        "nfs-cp into a ro export succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !export.path().join("new").exists(),
        "file created on a ro export"
    );
    assert_eq!(nfs_cat(&server.url("/existing")), b"readable");
}

#[test]
fn an_exports_file_serves_each_export_with_its_options() {
    if !peers() {
        return;
    }
    let rw = tempdir();
    let ro = tempdir();
    let local = tempdir();
    fs::write(rw.path().join("a"), b"in the rw export").unwrap();
    fs::write(ro.path().join("b"), b"in the ro export").unwrap();
    let exports = local.path().join("exports");
    fs::write(
        &exports,
        format!(
            "# two exports\n{} 127.0.0.1(rw,no_root_squash)\n{} *(ro,no_root_squash)\n",
            canonical(rw.path()),
            canonical(ro.path())
        ),
    )
    .unwrap();
    let server = NfslServer::start_with_exports(&exports);
    let rw_export = canonical(rw.path());
    let ro_export = canonical(ro.path());
    assert_eq!(server.export(), rw_export);

    assert_eq!(
        nfs_cat(&server.url_in(&rw_export, "/a")),
        b"in the rw export"
    );
    assert_eq!(
        nfs_cat(&server.url_in(&ro_export, "/b")),
        b"in the ro export"
    );

    let src = local.path().join("src");
    fs::write(&src, b"new").unwrap();
    let out = nfs_cp(src.to_str().unwrap(), &server.url_in(&rw_export, "/new"));
    assert_success(&out, "nfs-cp into the rw export");
    assert_eq!(fs::read(rw.path().join("new")).unwrap(), b"new");
    let out = nfs_cp(src.to_str().unwrap(), &server.url_in(&ro_export, "/new"));
    assert!(!out.status.success(), "nfs-cp into the ro export succeeded");
    assert!(!ro.path().join("new").exists());
}
