use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::{decode_exact, encode_to_vec};

use crate::testkit::{auth_sys, Kit};

fn kit(files: usize) -> Kit {
    Kit::new("rw,no_root_squash", |p| {
        for i in 0..files {
            std::fs::write(p.join(format!("file-{i:05}")), b"").unwrap();
        }
        std::fs::create_dir(p.join("sub")).unwrap();
    })
}

/// One READDIR page: the status, the encoded size of what follows it, and
/// the result.
fn readdir(
    k: &Kit,
    dir: &NfsFh3,
    cookie: u64,
    verf: Cookieverf3,
    count: u32,
) -> (usize, Readdir3Res) {
    let args = Readdir3Args {
        dir: dir.clone(),
        cookie,
        cookieverf: verf,
        count,
    };
    let (_, out) = k.raw(
        NFS_PROGRAM,
        Nfs3Procedure::Readdir as u32,
        &encode_to_vec(&args),
    );
    (out.len() - 4, decode_exact(&out).unwrap())
}

fn readdirplus(
    k: &Kit,
    dir: &NfsFh3,
    cookie: u64,
    verf: Cookieverf3,
    dircount: u32,
    maxcount: u32,
) -> (usize, Readdirplus3Res) {
    let args = Readdirplus3Args {
        dir: dir.clone(),
        cookie,
        cookieverf: verf,
        dircount,
        maxcount,
    };
    let (_, out) = k.raw(
        NFS_PROGRAM,
        Nfs3Procedure::Readdirplus as u32,
        &encode_to_vec(&args),
    );
    (out.len() - 4, decode_exact(&out).unwrap())
}

/// Every name of the directory with how often it was listed, READDIR
/// pages of `count` bytes; `between` runs after each page.
fn list_all(
    k: &Kit,
    dir: &NfsFh3,
    count: u32,
    mut between: impl FnMut(usize),
) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let (mut cookie, mut verf) = (0, [0; 8]);
    for page in 0..100_000 {
        let (size, res) = readdir(k, dir, cookie, verf, count);
        assert!(
            size <= count as usize,
            "page of {size} bytes for count {count}"
        );
        let NfsResult::Ok(ok) = res else {
            panic!("READDIR: {:?}", res.status())
        };
        assert!(ok.dir_attributes.is_some());
        assert!(ok.reply.eof || !ok.reply.entries.is_empty());
        for e in ok.reply.entries {
            cookie = e.cookie;
            *seen
                .entry(String::from_utf8(e.name.0).unwrap())
                .or_insert(0) += 1;
        }
        verf = ok.cookieverf;
        if ok.reply.eof {
            return seen;
        }
        between(page);
    }
    panic!("READDIR does not end");
}

#[test]
fn pages_list_every_entry_once_even_while_entries_are_added() {
    let k = kit(3000);
    let root = k.root();
    for count in [4096, 600, 32 << 10] {
        let seen = list_all(&k, &root, count, |_| {});
        assert_eq!(seen.len(), 3000 + 3, "count {count}");
        assert!(seen.values().all(|&n| n == 1), "count {count}");
        assert!(seen.contains_key(".") && seen.contains_key(".."));
    }
    let mut added = 0;
    let seen = list_all(&k, &root, 4096, |page| {
        if page == 5 {
            for i in 0..500 {
                std::fs::write(k.path().join(format!("new-{i}")), b"").unwrap();
            }
            added = 500;
        }
    });
    assert_eq!(added, 500);
    assert!(seen.values().all(|&n| n == 1));
    assert!((0..3000).all(|i| seen.contains_key(&format!("file-{i:05}"))));
}

#[test]
fn dotdot_of_the_root_is_the_root_and_fileids_match_lookup() {
    let k = kit(3);
    let root = k.root();
    let (_, res) = readdir(&k, &root, 0, [0; 8], 4096);
    let NfsResult::Ok(ok) = res else { panic!() };
    let root_id = ok.dir_attributes.unwrap().fileid;
    let ids: HashMap<_, _> = ok
        .reply
        .entries
        .iter()
        .map(|e| (e.name.0.clone(), e.fileid))
        .collect();
    assert_eq!(ids[&b"..".to_vec()], root_id);
    assert_eq!(ids[&b".".to_vec()], root_id);
    assert_eq!(ids[&b"sub".to_vec()], k.lookup(&root, "sub").1.fileid);
}

#[test]
fn size_limits_toosmall_and_cookie_verifiers() {
    let k = kit(300);
    let root = k.root();
    assert_eq!(
        readdir(&k, &root, 0, [0; 8], 100).1.status(),
        Nfsstat3::Toosmall
    );
    assert_eq!(
        readdir(&k, &root, 0, [0; 8], 104 + 23).1.status(),
        Nfsstat3::Toosmall
    );
    // Exactly the fixed part and "." (24 + 4 bytes).
    let (size, res) = readdir(&k, &root, 0, [0; 8], 104 + 28);
    let NfsResult::Ok(ok) = res else {
        panic!("{:?}", res.status())
    };
    assert_eq!(
        (size, ok.reply.entries.len(), ok.reply.eof),
        (104 + 28, 1, false)
    );

    let (_, res) = readdir(&k, &root, 0, [0; 8], 1024);
    let NfsResult::Ok(ok) = res else { panic!() };
    let cookie = ok.reply.entries.last().unwrap().cookie;
    assert_ne!(ok.cookieverf, [0; 8]);
    let wrong = ok.cookieverf.map(|b| b ^ 0x5a);
    assert_eq!(
        readdir(&k, &root, cookie, wrong, 1024).1.status(),
        Nfsstat3::BadCookie
    );
    assert_eq!(
        readdir(&k, &root, cookie, [0; 8], 1024).1.status(),
        Nfsstat3::Ok
    );
    assert_eq!(
        readdir(&k, &root, u64::MAX, ok.cookieverf, 1024).1.status(),
        Nfsstat3::BadCookie
    );
    // Another directory has another verifier.
    let (sub, _) = k.lookup(&root, "sub");
    let NfsResult::Ok(s) = readdir(&k, &sub, 0, [0; 8], 1024).1 else {
        panic!()
    };
    assert_ne!(s.cookieverf, ok.cookieverf);
    assert!(s.reply.eof);
    assert_eq!(s.reply.entries.len(), 2);

    let (file, _) = k.lookup(&root, "file-00000");
    let NfsResult::Err(st, attrs) = readdir(&k, &file, 0, [0; 8], 1024).1 else {
        panic!()
    };
    assert_eq!(st, Nfsstat3::Notdir);
    assert!(attrs.is_some());
}

#[test]
fn readdir_needs_read_permission() {
    let mut k = kit(1);
    let root = k.root();
    let (sub, _) = k.lookup(&root, "sub");
    let p = k.path().join("sub");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711)).unwrap();
    k.auth = auth_sys(4321, 4321);
    assert_eq!(
        readdir(&k, &sub, 0, [0; 8], 1024).1.status(),
        Nfsstat3::Acces
    );
    assert_eq!(
        readdirplus(&k, &sub, 0, [0; 8], 1024, 8192).1.status(),
        Nfsstat3::Acces
    );
}

#[test]
fn readdirplus_gives_attributes_and_working_handles_within_limits() {
    let k = kit(500);
    let root = k.root();
    let (mut cookie, mut verf) = (0, [0; 8]);
    let mut seen = HashMap::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let (size, res) = readdirplus(&k, &root, cookie, verf, 512, 8192);
        assert!(size <= 8192);
        let NfsResult::Ok(ok) = res else {
            panic!("{:?}", res.status())
        };
        let dir_bytes: usize = ok
            .reply
            .entries
            .iter()
            .map(|e| 4 + 8 + 4 + e.name.0.len().next_multiple_of(4) + 8)
            .sum();
        assert!(dir_bytes <= 512, "dircount exceeded: {dir_bytes}");
        for e in &ok.reply.entries {
            let attrs = e.name_attributes.as_ref().expect("attributes");
            assert_eq!(attrs.fileid, e.fileid);
            let fh = e.name_handle.clone().expect("handle");
            let res: Getattr3Res = k.nfs(Nfs3Procedure::Getattr, &Getattr3Args { object: fh });
            let NfsResult::Ok(g) = res else { panic!() };
            assert_eq!(g.obj_attributes.fileid, e.fileid);
            cookie = e.cookie;
            *seen.entry(e.name.0.clone()).or_insert(0) += 1;
        }
        verf = ok.cookieverf;
        if ok.reply.eof {
            break;
        }
    }
    assert!(pages > 10, "{pages} pages: dircount was not applied");
    assert_eq!(seen.len(), 503);
    assert!(seen.values().all(|&n| n == 1));
    // ".." of the root is the root, with the root's handle.
    assert_eq!(
        readdirplus(&k, &root, 0, [0; 8], 0, 8192).1.status(),
        Nfsstat3::Ok
    );
    let NfsResult::Ok(ok) = readdirplus(&k, &root, 0, [0; 8], 0, 65536).1 else {
        panic!()
    };
    let dotdot = ok.reply.entries.iter().find(|e| e.name.0 == b"..").unwrap();
    assert_eq!(dotdot.name_handle.as_ref(), Some(&root));
    assert_eq!(
        readdirplus(&k, &root, 0, [0; 8], 8192, 150).1.status(),
        Nfsstat3::Toosmall
    );
}

/// Issue 11, item 4: a client asking for 4 GiB pages gets pages within
/// the server's largest reply (MAX_IO), and paging with such counts still
/// lists every entry exactly once; a count too small for one entry is
/// TOOSMALL.
#[test]
fn huge_counts_are_clamped_to_the_servers_limit() {
    let k = kit(30_000);
    let root = k.root();
    let limit = crate::testkit::MAX_IO as usize;
    let mut names = HashMap::new();
    let (mut cookie, mut verf, mut pages) = (0, [0; 8], 0);
    loop {
        let (size, res) = readdirplus(&k, &root, cookie, verf, u32::MAX, u32::MAX);
        assert!(size <= limit, "READDIRPLUS page of {size} bytes");
        let NfsResult::Ok(ok) = res else {
            panic!("READDIRPLUS: {:?}", res.status())
        };
        pages += 1;
        for e in ok.reply.entries {
            assert!(e.name_handle.is_some());
            cookie = e.cookie;
            *names.entry(e.name.0).or_insert(0) += 1;
        }
        verf = ok.cookieverf;
        if ok.reply.eof {
            break;
        }
    }
    assert!(pages > 1, "30000 entries with handles fit no 1 MiB page");
    assert_eq!(names.len(), 30_000 + 3);
    assert!(names.values().all(|&n| n == 1));
    let (size, res) = readdir(&k, &root, 0, [0; 8], u32::MAX);
    assert!(size <= limit, "READDIR page of {size} bytes");
    let NfsResult::Ok(ok) = res else {
        panic!("READDIR: {:?}", res.status())
    };
    assert!(!ok.reply.eof, "30000 entries fit no 1 MiB READDIR page");
    let seen = list_all(&k, &root, u32::MAX, |_| {});
    assert_eq!(seen.len(), 30_000 + 3);
    for tiny in [0, 8, 100] {
        assert_eq!(
            readdir(&k, &root, 0, [0; 8], tiny).1.status(),
            Nfsstat3::Toosmall
        );
        let (_, res) = readdirplus(&k, &root, 0, [0; 8], tiny, tiny);
        assert_eq!(res.status(), Nfsstat3::Toosmall);
    }
}
