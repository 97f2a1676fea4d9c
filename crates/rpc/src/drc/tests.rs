use super::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

type Cache = DuplicateRequestCache<u32, &'static str>;

#[test]
fn lifecycle() {
    let mut c = Cache::new(4);
    assert!(c.is_empty());
    assert_eq!(c.begin(&1), DrcLookup::New);
    assert_eq!(c.begin(&1), DrcLookup::InProgress);
    assert!(c.complete(&1, "r1"));
    assert_eq!(c.begin(&1), DrcLookup::Done("r1"));
    assert!(
        !c.complete(&1, "other"),
        "completed entries are not overwritten"
    );
    assert_eq!(c.begin(&1), DrcLookup::Done("r1"));
    assert!(!c.complete(&2, "never begun"));
    assert_eq!(c.len(), 1);
    assert_eq!(c.capacity(), 4);
}

#[test]
fn abandon_forgets_only_in_progress() {
    let mut c = Cache::new(4);
    assert_eq!(c.begin(&1), DrcLookup::New);
    c.abandon(&1);
    assert_eq!(c.begin(&1), DrcLookup::New);
    c.complete(&1, "r");
    c.abandon(&1);
    assert_eq!(c.begin(&1), DrcLookup::Done("r"));
    c.abandon(&99);
}

#[test]
fn fifo_eviction_spares_in_progress() {
    let mut c = Cache::new(2);
    c.begin(&100); // stays in progress throughout
    for k in 0..5 {
        assert_eq!(c.begin(&k), DrcLookup::New);
        c.complete(&k, "r");
    }
    assert_eq!(c.begin(&100), DrcLookup::InProgress);
    assert_eq!(c.begin(&3), DrcLookup::Done("r"));
    assert_eq!(c.begin(&4), DrcLookup::Done("r"));
    assert_eq!(c.begin(&2), DrcLookup::New);
    assert_eq!(c.done_order.len(), 2);
}

#[test]
fn zero_capacity_tracks_in_progress_only() {
    let mut c = Cache::new(0);
    assert_eq!(c.begin(&1), DrcLookup::New);
    assert_eq!(c.begin(&1), DrcLookup::InProgress);
    assert!(c.complete(&1, "r"));
    assert_eq!(c.begin(&1), DrcLookup::New);
}

#[test]
fn checksum_distinguishes_args() {
    assert_ne!(args_checksum(b"a"), args_checksum(b"b"));
    assert_ne!(args_checksum(b""), args_checksum(&[0]));
    let mut long = vec![7u8; 1000];
    let base = args_checksum(&long);
    long[999] = 8; // beyond the prefix, same length: same checksum
    assert_eq!(args_checksum(&long), base);
    long.push(0); // different length
    assert_ne!(args_checksum(&long), base);
}

#[test]
fn key_from_header() {
    let h = CallHeader {
        xid: 5,
        rpc_version: 2,
        program: 100003,
        version: 3,
        procedure: 8,
        credential: crate::OpaqueAuth::NONE,
        verifier: crate::OpaqueAuth::NONE,
    };
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let client = SocketAddr::new(ip, 700);
    let k1 = DrcKey::new(client, &h, b"args");
    assert_eq!(k1, DrcKey::new(client, &h, b"args"));
    assert_ne!(k1, DrcKey::new(client, &h, b"argz"));
    // Another port is another client (knfsd keys by address and port).
    assert_ne!(k1, DrcKey::new(SocketAddr::new(ip, 701), &h, b"args"));
    assert_eq!(
        (k1.xid, k1.program, k1.version, k1.procedure),
        (5, 100003, 3, 8)
    );
    let mut c: DuplicateRequestCache<DrcKey> = DuplicateRequestCache::new(8);
    assert_eq!(c.begin(&k1), DrcLookup::New);
    c.complete(&k1, Arc::from(&b"reply"[..]));
    assert_eq!(c.begin(&k1), DrcLookup::Done(Arc::from(&b"reply"[..])));
}
