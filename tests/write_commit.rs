//! WRITE/COMMIT verifiers, exclusive CREATE retransmission semantics and
//! READDIR cookie paging over a raw RPC connection.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;

const OPTIONS: &str = "rw,insecure,no_root_squash";

fn serve(export: &tempfile::TempDir) -> (NfslServer, RpcClient, NfsFh3) {
    let server = NfslServer::start(export.path(), OPTIONS);
    let mut c = RpcClient::connect(server.port());
    let root = c.mount(server.export());
    (server, c, root)
}

/// CREATE UNCHECKED mode 0644; returns the new file's handle.
fn create_file(c: &mut RpcClient, dir: &NfsFh3, name: &str) -> NfsFh3 {
    let how = CreateHow3::Unchecked(Sattr3 {
        mode: Some(0o644),
        ..Sattr3::default()
    });
    match c.create(dir, name, how) {
        NfsResult::Ok(NewObject3ResOk { obj: Some(fh), .. }) => fh,
        NfsResult::Ok(_) => c.lookup_ok(dir, name).0,
        NfsResult::Err(s, _) => panic!("CREATE {name}: {s:?}"),
    }
}

fn write_ok(c: &mut RpcClient, fh: &NfsFh3, off: u64, data: &[u8], how: StableHow) -> Write3ResOk {
    match c.write(fh, off, data, how) {
        NfsResult::Ok(ok) => {
            assert_eq!(ok.count, data.len() as u32, "short WRITE");
            ok
        }
        NfsResult::Err(s, _) => panic!("WRITE {how:?} at {off}: {s:?}"),
    }
}

fn commit_verf(c: &mut RpcClient, fh: &NfsFh3) -> Writeverf3 {
    match c.commit(fh) {
        NfsResult::Ok(ok) => ok.verf,
        NfsResult::Err(s, _) => panic!("COMMIT: {s:?}"),
    }
}

#[test]
fn unstable_write_and_commit_share_a_verifier_that_changes_on_restart() {
    let export = tempdir();
    let (mut server, mut c, root) = serve(&export);
    let fh = create_file(&mut c, &root, "f");
    let data = pseudo_random_bytes(16384, 7);

    let first = write_ok(&mut c, &fh, 0, &data[..8192], StableHow::Unstable);
    let second = write_ok(&mut c, &fh, 8192, &data[8192..], StableHow::Unstable);
    assert_eq!(first.verf, second.verf, "verifier changed between writes");
    assert_eq!(commit_verf(&mut c, &fh), first.verf, "COMMIT verifier");
    match c.read(&fh, 0, 65536) {
        NfsResult::Ok(ok) => {
            assert_eq!(ok.data.0, data);
            assert!(ok.eof);
        }
        NfsResult::Err(s, _) => panic!("READ: {s:?}"),
    }
    assert_eq!(std::fs::read(export.path().join("f")).unwrap(), data);

    server.restart();
    let mut c = RpcClient::connect(server.port());
    let again = write_ok(&mut c, &fh, 0, b"after restart", StableHow::Unstable);
    assert_ne!(
        again.verf, first.verf,
        "the write verifier must change when the server restarts"
    );
    assert_eq!(commit_verf(&mut c, &fh), again.verf);
}

#[test]
fn stable_writes_report_their_durability() {
    let export = tempdir();
    let (_server, mut c, root) = serve(&export);
    let fh = create_file(&mut c, &root, "f");
    let data = pseudo_random_bytes(100_000, 8);

    let w = write_ok(&mut c, &fh, 0, &data, StableHow::FileSync);
    assert_eq!(w.committed, StableHow::FileSync);
    let after = w.file_wcc.after.expect("post-op attributes of WRITE");
    assert_eq!(after.size, data.len() as u64);
    assert_eq!(std::fs::read(export.path().join("f")).unwrap(), data);

    let w = write_ok(&mut c, &fh, 3, b"data-sync", StableHow::DataSync);
    assert!(
        matches!(w.committed, StableHow::DataSync | StableHow::FileSync),
        "DATA_SYNC write committed as {:?}",
        w.committed
    );
    let on_disk = std::fs::read(export.path().join("f")).unwrap();
    assert_eq!(&on_disk[3..12], b"data-sync");
    assert_eq!(on_disk.len(), data.len());
}

#[test]
fn exclusive_create_is_idempotent_for_the_same_verifier() {
    let export = tempdir();
    let (_server, mut c, root) = serve(&export);
    let verf = *b"verf-one";

    let fileid = |c: &mut RpcClient, res: Create3Res| -> u64 {
        match res {
            NfsResult::Ok(ok) => match (ok.obj_attributes, ok.obj) {
                (Some(a), _) => a.fileid,
                (None, Some(fh)) => c.attrs(&fh).fileid,
                (None, None) => c.lookup_ok(&root, "x").1.fileid,
            },
            NfsResult::Err(s, _) => panic!("exclusive CREATE: {s:?}"),
        }
    };
    let res = c.create(&root, "x", CreateHow3::Exclusive(verf));
    let first = fileid(&mut c, res);
    assert!(export.path().join("x").is_file());

    // A retransmission (new xid, same verifier) succeeds on the same file.
    let res = c.create(&root, "x", CreateHow3::Exclusive(verf));
    assert_eq!(
        fileid(&mut c, res),
        first,
        "retransmitted CREATE made a new file"
    );

    let res = c.create(&root, "x", CreateHow3::Exclusive(*b"verf-two"));
    assert_eq!(res.status(), Nfsstat3::Exist, "other verifier");
    let res = c.create(&root, "x", CreateHow3::Guarded(Sattr3::default()));
    assert_eq!(res.status(), Nfsstat3::Exist, "GUARDED on an existing name");

    // A file made by someone else is never "ours" whatever the verifier.
    std::fs::write(export.path().join("local"), b"local").unwrap();
    let res = c.create(&root, "local", CreateHow3::Exclusive(verf));
    assert_eq!(
        res.status(),
        Nfsstat3::Exist,
        "exclusive CREATE over a local file"
    );
    assert_eq!(
        std::fs::read(export.path().join("local")).unwrap(),
        b"local"
    );
}

/// One READDIR page: entries (name, fileid, cookie), verifier, eof.
fn readdir_page(
    c: &mut RpcClient,
    dir: &NfsFh3,
    cookie: u64,
    verf: Cookieverf3,
    count: u32,
) -> (Vec<(String, u64, u64)>, Cookieverf3, bool) {
    let reply = c.nfs_raw(
        Nfs3Procedure::Readdir,
        &nfsl_xdr::encode_to_vec(&Readdir3Args {
            dir: dir.clone(),
            cookie,
            cookieverf: verf,
            count,
        }),
    );
    let results = reply.results();
    // `count` bounds the whole READDIR3resok (everything after the status).
    assert!(
        results.len() - 4 <= count as usize,
        "READDIR reply of {} bytes for count {count}",
        results.len() - 4
    );
    match nfsl_xdr::decode_exact::<Readdir3Res>(results).unwrap() {
        NfsResult::Ok(ok) => {
            let entries = ok
                .reply
                .entries
                .into_iter()
                .map(|e| {
                    let name = String::from_utf8(e.name.0).expect("UTF-8 name");
                    (name, e.fileid, e.cookie)
                })
                .collect();
            (entries, ok.cookieverf, ok.reply.eof)
        }
        NfsResult::Err(s, _) => panic!("READDIR at cookie {cookie}: {s:?}"),
    }
}

/// Reads the whole directory in pages of `count` bytes, calling `between`
/// after each page with the page number; returns names with their counts.
fn readdir_all(
    c: &mut RpcClient,
    dir: &NfsFh3,
    count: u32,
    mut between: impl FnMut(usize),
) -> (HashMap<String, usize>, usize) {
    let mut seen = HashMap::new();
    let (mut cookie, mut verf) = (0u64, [0u8; 8]);
    for page in 0.. {
        assert!(page < 20_000, "READDIR does not terminate");
        let (entries, v, eof) = readdir_page(c, dir, cookie, verf, count);
        assert!(
            eof || !entries.is_empty(),
            "READDIR page {page} is empty but not eof"
        );
        for (name, _, ck) in entries {
            cookie = ck;
            if name != "." && name != ".." {
                *seen.entry(name).or_insert(0) += 1;
            }
        }
        verf = v;
        if eof {
            return (seen, page + 1);
        }
        between(page);
    }
    unreachable!()
}

#[test]
fn readdir_pages_list_10000_entries_exactly_once() {
    let export = tempdir();
    let names = create_files(export.path(), "file-", 10_000);
    let (_server, mut c, root) = serve(&export);
    let (seen, pages) = readdir_all(&mut c, &root, 4096, |_| {});
    assert!(
        pages > 10,
        "only {pages} pages for 10,000 entries with count 4096"
    );
    let dups: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(dups.is_empty(), "entries listed more than once: {dups:?}");
    let expected: HashSet<_> = names.iter().cloned().collect();
    let got: HashSet<_> = seen.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).take(10).collect();
    let extra: Vec<_> = got.difference(&expected).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );

    // READDIR's fileids are the ones LOOKUP reports.
    let (entries, _, _) = readdir_page(&mut c, &root, 0, [0; 8], 4096);
    for (name, fileid, _) in entries.iter().filter(|(n, ..)| !n.starts_with('.')).take(5) {
        assert_eq!(
            c.lookup_ok(&root, name).1.fileid,
            *fileid,
            "fileid of {name}"
        );
    }
}

#[test]
fn readdir_pages_stay_consistent_while_entries_are_added() {
    let export = tempdir();
    let names = create_files(export.path(), "old-", 10_000);
    let (_server, mut c, root) = serve(&export);
    let mut added = Vec::new();
    let (seen, _) = readdir_all(&mut c, &root, 4096, |page| {
        if page == 20 {
            added = create_files(export.path(), "new-", 500);
        }
    });
    assert_eq!(added.len(), 500, "the directory ended before page 20");
    for name in &names {
        assert_eq!(seen.get(name), Some(&1), "original entry {name}");
    }
    for name in &added {
        assert!(
            seen.get(name).copied().unwrap_or(0) <= 1,
            "new entry {name} twice"
        );
    }
    let unknown: Vec<_> = seen
        .keys()
        .filter(|n| !n.starts_with("old-") && !n.starts_with("new-"))
        .collect();
    assert!(unknown.is_empty(), "names that never existed: {unknown:?}");
}

#[test]
fn readdir_with_a_wrong_cookie_verifier_is_bad_cookie() {
    let export = tempdir();
    create_files(export.path(), "f-", 300);
    let (_server, mut c, root) = serve(&export);
    let (entries, verf, eof) = readdir_page(&mut c, &root, 0, [0; 8], 1024);
    assert!(!eof, "300 entries should not fit in one 1024-byte page");
    let cookie = entries.last().unwrap().2;
    assert_ne!(cookie, 0);

    let wrong = verf.map(|b| b ^ 0xa5);
    let res = c.readdir(&root, cookie, wrong, 1024);
    assert_eq!(
        res.status(),
        Nfsstat3::BadCookie,
        "cookie {cookie} with verifier {wrong:02x?}"
    );

    // The right verifier continues where the first page stopped.
    let (next, _, _) = readdir_page(&mut c, &root, cookie, verf, 1024);
    assert!(!next.is_empty());
    let first: HashSet<_> = entries.iter().map(|e| &e.0).collect();
    assert!(
        next.iter().all(|e| !first.contains(&e.0)),
        "second page repeats the first"
    );
}
