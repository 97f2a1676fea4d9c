//! Tests specific to the inode-number fallback scheme.

use std::fs;

use super::tests::{fixture, ino, ino_of, is_stale, lookup, open};
use super::*;

/// Entries a walk must visit to reach `d/e/f/deep`: the 4 root entries
/// (a, d, link, fifo), then e, f, deep.
const DEEP_COST: usize = 7;

#[test]
fn walk_is_bounded() {
    let fx = fixture();
    let fh = lookup(&open(&fx.root, Scheme::Inode), "d/e/f/deep");
    let short = open(&fx.root, Scheme::Inode).with_walk_limit(DEEP_COST - 1);
    assert!(is_stale(short.resolve(fh.as_bytes(), Access::Path)));
    let enough = open(&fx.root, Scheme::Inode).with_walk_limit(DEEP_COST);
    let fd = enough.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/e/f/deep")));
}

#[test]
fn lookups_fill_the_cache() {
    let fx = fixture();
    // No walking allowed: everything must come from the cache.
    let efs = open(&fx.root, Scheme::Inode).with_walk_limit(0);
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
    let efs = open(&fx.root, Scheme::Inode).with_walk_limit(0);
    let f = fs::File::open(fx.root.join("d/e/f/deep")).unwrap();
    let fh = efs.handle_for_fd(&f).unwrap();
    let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/e/f/deep")));
}

#[test]
fn stale_cache_entries_fall_back_to_the_walk() {
    let fx = fixture();
    let efs = open(&fx.root, Scheme::Inode);
    let fh = lookup(&efs, "d/e/f/deep");
    fs::rename(fx.root.join("d/e/f/deep"), fx.root.join("d/x")).unwrap();
    fs::write(fx.root.join("d/e/f/deep"), b"impostor").unwrap();
    let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
    assert_eq!(ino(&fd), ino_of(&fx.root.join("d/x")));
}

#[test]
fn walk_ignores_symlink_loops_and_outside_targets() {
    let fx = fixture();
    std::os::unix::fs::symlink(".", fx.root.join("d/loop")).unwrap();
    std::os::unix::fs::symlink("/", fx.root.join("d/slash")).unwrap();
    let fh = lookup(&open(&fx.root, Scheme::Inode), "d/e/f/deep");
    fs::remove_file(fx.root.join("d/e/f/deep")).unwrap();
    assert!(is_stale(
        open(&fx.root, Scheme::Inode).resolve(fh.as_bytes(), Access::Path)
    ));
}
