//! Tests specific to the inode-number fallback scheme.

use std::fs;

use super::tests::{fixture, ino, ino_of, is_stale, lookup, open, Fixture};
use super::*;

/// A resolution reads at most `scan_limit` entries of the parent.
#[test]
fn parent_scan_is_bounded() {
    let fx = fixture();
    let fh = lookup(&open(&fx.root, Scheme::Inode), "d/e/f/deep");
    // After a restart only directories are known: `deep` is found by
    // reading `f` (`.`, `..` and `deep`, in some order).
    let short = open(&fx.root, Scheme::Inode).with_scan_limit(0);
    assert!(is_stale(short.resolve(fh.as_bytes(), Access::Path)));
    let enough = open(&fx.root, Scheme::Inode).with_scan_limit(3);
    let fd = enough.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/e/f/deep")));
}

#[test]
fn lookups_fill_the_cache() {
    let fx = fixture();
    // No directory reads allowed: everything must come from the table.
    let efs = open(&fx.root, Scheme::Inode).with_scan_limit(0);
    let fh = lookup(&efs, "d/e/f/deep");
    let fd = efs.resolve(fh.as_bytes(), Access::Read).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/e/f/deep")));
    let up = efs
        .resolve(lookup(&efs, "d/e/f/..").as_bytes(), Access::Path)
        .unwrap();
    assert_eq!(ino(&up), ino_of(&fx.root.join("d/e")));
    let root = efs
        .resolve(efs.root_handle().as_bytes(), Access::Path)
        .unwrap();
    assert!(efs.is_root(&root).unwrap());
}

#[test]
fn handle_for_fd_records_the_path() {
    let fx = fixture();
    let efs = open(&fx.root, Scheme::Inode).with_scan_limit(0);
    let f = fs::File::open(fx.root.join("d/e/f/deep")).unwrap();
    let fh = efs.handle_for_fd(&f).unwrap();
    let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/e/f/deep")));
}

#[test]
fn stale_table_entries_fall_back_to_the_parent() {
    let fx = fixture();
    let efs = open(&fx.root, Scheme::Inode);
    let fh = lookup(&efs, "d/e/f/deep");
    fs::rename(fx.root.join("d/e/f/deep"), fx.root.join("d/e/f/x")).unwrap();
    fs::write(fx.root.join("d/e/f/deep"), b"impostor").unwrap();
    let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/e/f/x")));
    // Moved to another directory behind the server's back: stale, as
    // the module documents (finding it would take a walk).
    fs::rename(fx.root.join("d/e/f/x"), fx.root.join("d/x")).unwrap();
    assert!(is_stale(efs.resolve(fh.as_bytes(), Access::Path)));
}

/// A directory renamed through the table keeps every path below it.
#[test]
fn directories_moved_behind_the_servers_back_are_found_after_a_restart() {
    let fx = fixture();
    let fh = lookup(&open(&fx.root, Scheme::Inode), "d/e/f/deep");
    fs::rename(fx.root.join("d/e"), fx.root.join("e2")).unwrap();
    let efs = open(&fx.root, Scheme::Inode);
    let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("e2/f/deep")));
}

#[test]
fn index_ignores_symlink_loops_and_outside_targets() {
    let fx = fixture();
    std::os::unix::fs::symlink(".", fx.root.join("d/loop")).unwrap();
    std::os::unix::fs::symlink("/", fx.root.join("d/slash")).unwrap();
    let fh = lookup(&open(&fx.root, Scheme::Inode), "d/e/f/deep");
    fs::remove_file(fx.root.join("d/e/f/deep")).unwrap();
    assert!(is_stale(
        open(&fx.root, Scheme::Inode).resolve(fh.as_bytes(), Access::Path)
    ));
}

/// An export of `dirs` directories of `files` files each.
fn wide_export(dirs: usize, files: usize) -> Fixture {
    let fx = fixture();
    for d in 0..dirs {
        let dir = fx.root.join(format!("dir{d}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..files {
            fs::write(dir.join(format!("f{f}")), b"").unwrap();
        }
    }
    fx
}

/// A handle whose file is gone costs at most one directory read to
/// answer, however large the export: no remote input may trigger work
/// that grows with the export (issue 11, item 9). Also after a restart,
/// when nothing is cached.
#[test]
fn stale_handles_cost_no_walk() {
    let fx = wide_export(60, 20);
    let efs = open(&fx.root, Scheme::Inode);
    let fh = lookup(&efs, "dir59/f19");
    let dir_fh = lookup(&efs, "dir58");
    fs::remove_file(fx.root.join("dir59/f19")).unwrap();
    fs::remove_dir_all(fx.root.join("dir58")).unwrap();
    efs.take_dir_reads();
    for _ in 0..3 {
        assert!(is_stale(efs.resolve(fh.as_bytes(), Access::Path)));
        assert!(is_stale(efs.resolve(dir_fh.as_bytes(), Access::Path)));
    }
    let reads = efs.take_dir_reads();
    assert!(
        reads <= 6,
        "{reads} directory reads for 6 stale resolutions"
    );
    let restarted = open(&fx.root, Scheme::Inode);
    restarted.take_dir_reads();
    assert!(is_stale(restarted.resolve(fh.as_bytes(), Access::Path)));
    assert!(is_stale(restarted.resolve(dir_fh.as_bytes(), Access::Path)));
    let reads = restarted.take_dir_reads();
    assert!(reads <= 2, "{reads} directory reads after a restart");
}

/// A file moved to another directory through NFS RENAME keeps its handle.
#[test]
fn renames_through_the_server_are_followed() {
    let fx = fixture();
    let efs = open(&fx.root, Scheme::Inode).with_scan_limit(0);
    let fh = lookup(&efs, "d/e/f/deep");
    let dir_fh = lookup(&efs, "d/e");
    fs::rename(fx.root.join("d/e/f/deep"), fx.root.join("d/moved")).unwrap();
    fs::rename(fx.root.join("d/e"), fx.root.join("e2")).unwrap();
    let d = efs
        .resolve(lookup(&efs, "d").as_bytes(), Access::Path)
        .unwrap();
    efs.note_renamed(&d, b"moved");
    let root = efs
        .resolve(efs.root_handle().as_bytes(), Access::Path)
        .unwrap();
    efs.note_renamed(&root, b"e2");
    let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/moved")));
    let fd = efs.resolve(dir_fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("e2")));
}
