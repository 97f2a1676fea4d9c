//! The unstable-write journal of one file, without IO: which bytes were
//! written UNSTABLE under which write verifier and are not yet known to
//! be committed, so they can be re-sent if the server loses them.
//!
//! Entries never overlap: a newer write of the same bytes replaces the
//! older data (splitting entries as needed), so re-sending the journal in
//! any order reproduces the latest data. Each entry remembers the
//! verifier its WRITE reply carried and a sequence number: a COMMIT only
//! retires entries whose WRITE was answered before the COMMIT was sent
//! and whose verifier equals the COMMIT's.

use std::collections::BTreeMap;

use nfsl_proto::nfs3::Writeverf3;

use nfsl_transport::client::Payload;

#[derive(Debug, Clone)]
struct Entry {
    data: Payload,
    verf: Writeverf3,
    seq: u64,
}

/// Unstable data of one file, keyed by offset.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: BTreeMap<u64, Entry>,
    bytes: u64,
    /// Of `bytes`, those held in memory (not ranges of a local file).
    memory_bytes: u64,
    next_seq: u64,
    latest_verf: Option<Writeverf3>,
}

impl Journal {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes held in memory (file ranges excluded).
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    fn count_in(&mut self, data: &Payload) {
        self.bytes += data.len() as u64;
        if let Payload::Bytes(b) = data {
            self.memory_bytes += b.len() as u64;
        }
    }

    fn count_out(&mut self, data: &Payload) {
        self.bytes -= data.len() as u64;
        if let Payload::Bytes(b) = data {
            self.memory_bytes -= b.len() as u64;
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The sequence number the next entry will get: entries below it were
    /// recorded before this moment.
    pub fn seq(&self) -> u64 {
        self.next_seq
    }

    /// The most recent verifier seen in a WRITE or COMMIT reply.
    pub fn latest_verifier(&self) -> Option<Writeverf3> {
        self.latest_verf
    }

    /// Notes a verifier from a reply; true if it differs from the previous
    /// one (the server restarted, or otherwise lost unstable data).
    pub fn observe(&mut self, verf: Writeverf3) -> bool {
        let changed = self.latest_verf.is_some_and(|v| v != verf);
        self.latest_verf = Some(verf);
        changed
    }

    /// Records `data` at `offset`, written UNSTABLE under `verf`.
    pub fn insert(&mut self, offset: u64, data: Payload, verf: Writeverf3) {
        if data.is_empty() {
            return;
        }
        let end = offset.saturating_add(data.len() as u64);
        self.cut(offset, end);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.count_in(&data);
        self.entries.insert(offset, Entry { data, verf, seq });
    }

    /// Forgets `len` bytes at `offset`: newer data was written there by
    /// other means (LOCALIO), so the older data must never be re-sent.
    pub fn forget(&mut self, offset: u64, len: usize) {
        if len > 0 {
            self.cut(offset, offset.saturating_add(len as u64));
        }
    }

    /// Removes the bytes in `[start, end)` from every entry.
    fn cut(&mut self, start: u64, end: u64) {
        let overlapping: Vec<u64> = self
            .entries
            .range(..end)
            .rev()
            .take_while(|(off, e)| **off + e.data.len() as u64 > start)
            .map(|(off, _)| *off)
            .collect();
        for off in overlapping {
            let Some(e) = self.entries.remove(&off) else {
                continue;
            };
            self.count_out(&e.data);
            let e_end = off + e.data.len() as u64;
            if off < start {
                let left = e.data.slice(..(start - off) as usize);
                self.count_in(&left);
                self.entries.insert(
                    off,
                    Entry {
                        data: left,
                        ..e.clone()
                    },
                );
            }
            if e_end > end {
                let right = e.data.slice((end - off) as usize..);
                self.count_in(&right);
                self.entries.insert(end, Entry { data: right, ..e });
            }
        }
    }

    /// Entries written under a verifier other than `verf`: their data may
    /// be lost and must be written again.
    pub fn stale(&self, verf: Writeverf3) -> Vec<(u64, Payload)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.verf != verf)
            .map(|(off, e)| (*off, e.data.clone()))
            .collect()
    }

    /// A COMMIT sent when [`Journal::seq`] was `before` returned `verf`:
    /// retires the entries it covers. Returns how many entries from before
    /// the COMMIT remain (written under another verifier).
    pub fn committed(&mut self, before: u64, verf: Writeverf3) -> usize {
        let retired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.seq < before && e.verf == verf)
            .map(|(off, _)| *off)
            .collect();
        for off in retired {
            if let Some(e) = self.entries.remove(&off) {
                self.count_out(&e.data);
            }
        }
        self.entries.values().filter(|e| e.seq < before).count()
    }

    /// Forgets data at or beyond `len` (the file was truncated).
    pub fn truncate(&mut self, len: u64) {
        self.cut(len, u64::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const A: Writeverf3 = [1; 8];
    const B: Writeverf3 = [2; 8];

    fn contents(j: &Journal) -> Vec<(u64, Vec<u8>)> {
        j.entries
            .iter()
            .map(|(o, e)| (*o, e.data.to_bytes().unwrap().to_vec()))
            .collect()
    }

    #[test]
    fn newer_writes_replace_overlapped_bytes() {
        let mut j = Journal::default();
        j.insert(0, Bytes::from_static(b"aaaaaaaaaa").into(), A);
        j.insert(3, Bytes::from_static(b"bbb").into(), A);
        j.insert(8, Bytes::from_static(b"cccc").into(), A);
        assert_eq!(
            contents(&j),
            vec![
                (0, b"aaa".to_vec()),
                (3, b"bbb".to_vec()),
                (6, b"aa".to_vec()),
                (8, b"cccc".to_vec())
            ]
        );
        assert_eq!(j.bytes(), 12);
        j.insert(0, Bytes::from_static(b"dddddddddddd").into(), A);
        assert_eq!(contents(&j), vec![(0, b"dddddddddddd".to_vec())]);
        assert_eq!(j.bytes(), 12);
        j.truncate(5);
        assert_eq!(contents(&j), vec![(0, b"ddddd".to_vec())]);
        assert_eq!(j.bytes(), 5);
        assert_eq!(j.memory_bytes(), 5);
    }

    #[test]
    fn file_ranges_count_as_held_but_not_in_memory() {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let range = crate::FileRange::new(std::sync::Arc::new(f), 0, 10).unwrap();
        let mut j = Journal::default();
        j.insert(0, range.into(), A);
        j.insert(4, Bytes::from_static(b"mm").into(), A);
        assert_eq!((j.bytes(), j.memory_bytes()), (10, 2));
        assert_eq!(
            contents(&j),
            vec![
                (0, b"0123".to_vec()),
                (4, b"mm".to_vec()),
                (6, b"6789".to_vec())
            ]
        );
        let before = j.seq();
        assert_eq!(j.committed(before, A), 0);
        assert_eq!((j.bytes(), j.memory_bytes()), (0, 0));
    }

    #[test]
    fn commit_retires_only_matching_earlier_entries() {
        let mut j = Journal::default();
        assert!(!j.observe(A));
        j.insert(0, Bytes::from_static(b"1111").into(), A);
        j.insert(4, Bytes::from_static(b"2222").into(), A);
        let before = j.seq();
        j.insert(8, Bytes::from_static(b"3333").into(), A); // written after COMMIT was sent
                                                            // The server restarted: COMMIT answers with B.
        assert!(j.observe(B));
        assert_eq!(j.committed(before, B), 2);
        assert_eq!(j.stale(B).len(), 3);
        // Re-sent under B, committed again.
        for (off, data) in j.stale(B) {
            j.insert(off, data, B);
        }
        let before = j.seq();
        assert_eq!(j.committed(before, B), 0);
        assert!(j.is_empty());
        assert_eq!(j.bytes(), 0);
    }
}
