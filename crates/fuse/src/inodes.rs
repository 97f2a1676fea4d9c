//! The inode table: FUSE node ids for NFS file handles, with the kernel's
//! lookup counts, so a node is forgotten when the kernel forgets it.

use std::collections::HashMap;

use nfsl_client::FileHandle;

/// The FUSE node id of the export's root.
pub const ROOT_INO: u64 = 1;

struct Node {
    handle: FileHandle,
    /// Lookups the kernel holds (each reply with an entry adds one).
    lookups: u64,
}

/// Node ids <-> file handles. The same handle always gets the same id
/// while the kernel knows it (hard links share an inode, as locally).
pub struct InodeTable {
    nodes: HashMap<u64, Node>,
    by_handle: HashMap<FileHandle, u64>,
    next: u64,
}

impl InodeTable {
    /// A table holding the root (never forgotten).
    pub fn new(root: FileHandle) -> InodeTable {
        let mut t = InodeTable {
            nodes: HashMap::new(),
            by_handle: HashMap::new(),
            next: ROOT_INO + 1,
        };
        t.by_handle.insert(root.clone(), ROOT_INO);
        t.nodes.insert(
            ROOT_INO,
            Node {
                handle: root,
                lookups: 1,
            },
        );
        t
    }

    /// The handle of node `ino`, if the kernel still knows it.
    pub fn handle(&self, ino: u64) -> Option<FileHandle> {
        self.nodes.get(&ino).map(|n| n.handle.clone())
    }

    /// The node id for `handle`, counting one more kernel lookup.
    pub fn lookup(&mut self, handle: &FileHandle) -> u64 {
        if let Some(&ino) = self.by_handle.get(handle) {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.lookups += 1;
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_handle.insert(handle.clone(), ino);
        self.nodes.insert(
            ino,
            Node {
                handle: handle.clone(),
                lookups: 1,
            },
        );
        ino
    }

    /// The node id `handle` has, without counting a lookup.
    pub fn peek(&self, handle: &FileHandle) -> Option<u64> {
        self.by_handle.get(handle).copied()
    }

    /// The kernel dropped `n` lookups of `ino`.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let gone = match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.lookups = node.lookups.saturating_sub(n);
                node.lookups == 0
            }
            None => false,
        };
        if gone {
            if let Some(node) = self.nodes.remove(&ino) {
                self.by_handle.remove(&node.handle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_handle_same_inode_until_forgotten() {
        let mut t = InodeTable::new(FileHandle::from_bytes(b"root"));
        let a = FileHandle::from_bytes(b"a");
        let ino = t.lookup(&a);
        assert_eq!(t.lookup(&a), ino);
        assert_ne!(t.lookup(&FileHandle::from_bytes(b"b")), ino);
        t.forget(ino, 1);
        assert_eq!(t.handle(ino), Some(a.clone()));
        t.forget(ino, 1);
        assert_eq!(t.handle(ino), None);
        assert_ne!(t.lookup(&a), ino, "a forgotten id is not reused");
        t.forget(ROOT_INO, 100);
        assert!(t.handle(ROOT_INO).is_some());
    }
}
