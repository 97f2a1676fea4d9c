//! Round-trip and robustness properties for every message type.

use nfsl_xdr::{decode_exact, encode_to_vec, Xdr};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::localio::LocalioProcedure;
use crate::mount3::*;
use crate::nfs3::*;
use crate::NfsResult;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}
fn fh() -> impl Strategy<Value = NfsFh3> {
    bytes(64).prop_map(NfsFh3)
}
fn name() -> impl Strategy<Value = Filename3> {
    bytes(40).prop_map(Filename3)
}
fn time() -> impl Strategy<Value = Nfstime3> {
    (any::<u32>(), any::<u32>()).prop_map(|(seconds, nseconds)| Nfstime3 { seconds, nseconds })
}
fn ftype() -> impl Strategy<Value = Ftype3> {
    proptest::sample::select(Ftype3::ALL)
}
fn stable() -> impl Strategy<Value = StableHow> {
    proptest::sample::select(StableHow::ALL)
}
fn status_err() -> impl Strategy<Value = Nfsstat3> {
    proptest::sample::select(&Nfsstat3::ALL[1..])
}
fn fattr() -> impl Strategy<Value = Fattr3> {
    (
        (
            ftype(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            any::<u64>(),
            any::<u64>(),
            any::<(u32, u32)>(),
            any::<u64>(),
            any::<u64>(),
        ),
        (time(), time(), time()),
    )
        .prop_map(
            |(
                (ftype, mode, nlink, uid, gid),
                (size, used, rdev, fsid, fileid),
                (atime, mtime, ctime),
            )| Fattr3 {
                ftype,
                mode,
                nlink,
                uid,
                gid,
                size,
                used,
                rdev: Specdata3 {
                    specdata1: rdev.0,
                    specdata2: rdev.1,
                },
                fsid,
                fileid,
                atime,
                mtime,
                ctime,
            },
        )
}
fn set_time() -> impl Strategy<Value = SetTime> {
    prop_oneof![
        Just(SetTime::DontChange),
        Just(SetTime::ServerTime),
        time().prop_map(SetTime::ClientTime)
    ]
}
fn sattr() -> impl Strategy<Value = Sattr3> {
    (
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<Option<u64>>(),
        set_time(),
        set_time(),
    )
        .prop_map(|(mode, uid, gid, size, atime, mtime)| Sattr3 {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        })
}
fn wcc() -> impl Strategy<Value = WccData> {
    (
        proptest::option::of(
            (any::<u64>(), time(), time()).prop_map(|(size, mtime, ctime)| WccAttr {
                size,
                mtime,
                ctime,
            }),
        ),
        proptest::option::of(fattr()),
    )
        .prop_map(|(before, after)| WccData { before, after })
}
fn diropargs() -> impl Strategy<Value = DirOpArgs3> {
    (fh(), name()).prop_map(|(dir, name)| DirOpArgs3 { dir, name })
}
fn round_trips<T: Xdr + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let enc = encode_to_vec(v);
    prop_assert_eq!(enc.len() % 4, 0);
    prop_assert_eq!(&decode_exact::<T>(&enc).unwrap(), v);
    Ok(())
}

proptest! {
    #[test]
    fn args_round_trip(
        object in fh(), what in diropargs(), to in diropargs(), sa in sattr(), guard in proptest::option::of(time()),
        off in any::<u64>(), count in any::<u32>(), st in stable(), data in bytes(300), verf in any::<[u8; 8]>(),
        path in bytes(100), spec in any::<(u32, u32)>(), t in ftype(),
    ) {
        round_trips(&Getattr3Args { object: object.clone() })?;
        round_trips(&Setattr3Args { object: object.clone(), new_attributes: sa.clone(), guard })?;
        round_trips(&Lookup3Args { what: what.clone() })?;
        round_trips(&Access3Args { object: object.clone(), access: count })?;
        round_trips(&Readlink3Args { symlink: object.clone() })?;
        round_trips(&Read3Args { file: object.clone(), offset: off, count })?;
        round_trips(&Write3Args { file: object.clone(), offset: off, count, stable: st, data: Data(data) })?;
        for how in [CreateHow3::Unchecked(sa.clone()), CreateHow3::Guarded(sa.clone()), CreateHow3::Exclusive(verf)] {
            round_trips(&Create3Args { location: what.clone(), how })?;
        }
        round_trips(&Mkdir3Args { location: what.clone(), attributes: sa.clone() })?;
        round_trips(&Symlink3Args { location: what.clone(), symlink: Symlinkdata3 { symlink_attributes: sa.clone(), symlink_data: Nfspath3(path) } })?;
        let dev = Devicedata3 { dev_attributes: sa.clone(), spec: Specdata3 { specdata1: spec.0, specdata2: spec.1 } };
        let node = match t {
            Ftype3::Chr => Mknoddata3::Chr(dev),
            Ftype3::Blk => Mknoddata3::Blk(dev),
            Ftype3::Sock => Mknoddata3::Sock(sa.clone()),
            Ftype3::Fifo => Mknoddata3::Fifo(sa.clone()),
            other => Mknoddata3::Other(other),
        };
        round_trips(&Mknod3Args { location: what.clone(), what: node })?;
        round_trips(&Remove3Args { object: what.clone() })?;
        round_trips(&Rmdir3Args { object: what.clone() })?;
        round_trips(&Rename3Args { from: what.clone(), to: to.clone() })?;
        round_trips(&Link3Args { file: object.clone(), link: to })?;
        round_trips(&Readdir3Args { dir: object.clone(), cookie: off, cookieverf: verf, count })?;
        round_trips(&Readdirplus3Args { dir: object.clone(), cookie: off, cookieverf: verf, dircount: count, maxcount: count })?;
        round_trips(&Fsstat3Args { fsroot: object.clone() })?;
        round_trips(&Fsinfo3Args { fsroot: object.clone() })?;
        round_trips(&Pathconf3Args { object: object.clone() })?;
        round_trips(&Commit3Args { file: object, offset: off, count })?;
    }

    #[test]
    fn results_round_trip(
        a in fattr(), pa in proptest::option::of(fattr()), w in wcc(), w2 in wcc(), object in fh(),
        count in any::<u32>(), eof in any::<bool>(), data in bytes(300), st in stable(), verf in any::<[u8; 8]>(),
        names in vec((any::<u64>(), name(), any::<u64>(), proptest::option::of(fattr()), proptest::option::of(fh())), 0..5),
        status in status_err(),
    ) {
        round_trips(&Getattr3Res::Ok(Getattr3ResOk { obj_attributes: a.clone() }))?;
        round_trips(&Getattr3Res::Err(status, ()))?;
        round_trips(&Setattr3Res::Ok(Setattr3ResOk { obj_wcc: w.clone() }))?;
        round_trips(&Lookup3Res::Ok(Lookup3ResOk { object: object.clone(), obj_attributes: pa.clone(), dir_attributes: Some(a.clone()) }))?;
        round_trips(&Lookup3Res::Err(status, pa.clone()))?;
        round_trips(&Access3Res::Ok(Access3ResOk { obj_attributes: pa.clone(), access: count }))?;
        round_trips(&Readlink3Res::Ok(Readlink3ResOk { symlink_attributes: pa.clone(), data: Nfspath3(data.clone()) }))?;
        round_trips(&Read3Res::Ok(Read3ResOk { file_attributes: pa.clone(), count, eof, data: Data(data) }))?;
        round_trips(&Write3Res::Ok(Write3ResOk { file_wcc: w.clone(), count, committed: st, verf }))?;
        round_trips(&Write3Res::Err(status, w.clone()))?;
        round_trips(&Create3Res::Ok(NewObject3ResOk { obj: Some(object.clone()), obj_attributes: pa.clone(), dir_wcc: w.clone() }))?;
        round_trips(&Remove3Res::Ok(Remove3ResOk { dir_wcc: w.clone() }))?;
        round_trips(&Rename3Res::Err(status, Rename3Wcc { fromdir_wcc: w.clone(), todir_wcc: w2.clone() }))?;
        round_trips(&Link3Res::Ok(Link3Wcc { file_attributes: pa.clone(), linkdir_wcc: w2 }))?;
        let entries: Vec<Entry3> = names.iter().map(|(fileid, name, cookie, _, _)| Entry3 { fileid: *fileid, name: name.clone(), cookie: *cookie }).collect();
        round_trips(&Readdir3Res::Ok(Readdir3ResOk { dir_attributes: pa.clone(), cookieverf: verf, reply: DirList { entries, eof } }))?;
        let entries: Vec<Entryplus3> = names.into_iter().map(|(fileid, name, cookie, name_attributes, name_handle)| Entryplus3 { fileid, name, cookie, name_attributes, name_handle }).collect();
        round_trips(&Readdirplus3Res::Ok(Readdirplus3ResOk { dir_attributes: pa.clone(), cookieverf: verf, reply: DirList { entries, eof } }))?;
        round_trips(&Fsstat3Res::Ok(Fsstat3ResOk { obj_attributes: pa.clone(), tbytes: 1, fbytes: 2, abytes: 3, tfiles: 4, ffiles: 5, afiles: 6, invarsec: count }))?;
        round_trips(&Fsinfo3Res::Ok(Fsinfo3ResOk { obj_attributes: pa.clone(), rtmax: count, rtpref: 1, rtmult: 2, wtmax: 3, wtpref: 4, wtmult: 5, dtpref: 6, maxfilesize: 7, time_delta: Nfstime3 { seconds: 0, nseconds: 1 }, properties: 0x1b }))?;
        round_trips(&Pathconf3Res::Ok(Pathconf3ResOk { obj_attributes: pa.clone(), linkmax: 1, name_max: 255, no_trunc: true, chown_restricted: true, case_insensitive: false, case_preserving: true }))?;
        round_trips(&Commit3Res::Ok(Commit3ResOk { file_wcc: w, verf }))?;
        round_trips(&Commit3Res::Err(status, WccData::default()))?;
    }

    #[test]
    fn mount_round_trips(object in fh(), flavors in vec(any::<u32>(), 0..4), host in bytes(255), dir in bytes(1024), groups in vec(bytes(20), 0..4)) {
        round_trips(&Mountres3::Ok(Mountres3Ok { fhandle: object, auth_flavors: flavors }))?;
        round_trips(&Mountres3::Err(Mountstat3::Acces))?;
        round_trips(&MountList(vec![MountBody { hostname: MountName(host), directory: Dirpath(dir.clone()) }]))?;
        round_trips(&ExportList(vec![ExportNode { dir: Dirpath(dir), groups: groups.into_iter().map(MountName).collect() }]))?;
    }

    #[test]
    fn decoding_garbage_never_panics(b in bytes(512)) {
        let _ = decode_exact::<Setattr3Args>(&b);
        let _ = decode_exact::<Write3Args>(&b);
        let _ = decode_exact::<Create3Args>(&b);
        let _ = decode_exact::<Mknod3Args>(&b);
        let _ = decode_exact::<Symlink3Args>(&b);
        let _ = decode_exact::<Rename3Args>(&b);
        let _ = decode_exact::<Readdirplus3Args>(&b);
        let _ = decode_exact::<Lookup3Res>(&b);
        let _ = decode_exact::<Read3Res>(&b);
        let _ = decode_exact::<Readdirplus3Res>(&b);
        let _ = decode_exact::<Fsinfo3Res>(&b);
        let _ = decode_exact::<Mountres3>(&b);
        let _ = decode_exact::<ExportList>(&b);
        let _ = decode_exact::<MountList>(&b);
        let _ = decode_exact::<LocalioProcedure>(&b);
    }
}

#[test]
fn oversized_handle_is_rejected() {
    let mut enc = Vec::new();
    nfsl_xdr::Encoder::put_opaque(&mut enc, &[0u8; 65]);
    assert!(decode_exact::<Getattr3Args>(&enc).is_err());
}

#[test]
fn known_wire_form_of_getattr_failure() {
    let r: Getattr3Res = NfsResult::Err(Nfsstat3::Stale, ());
    assert_eq!(encode_to_vec(&r), [0, 0, 0, 70]);
}

#[test]
fn non_idempotent_procedures_are_exactly_the_state_changing_ones() {
    let changing: Vec<_> = Nfs3Procedure::ALL
        .iter()
        .filter(|p| p.is_non_idempotent())
        .collect();
    assert_eq!(changing.len(), 10);
    assert!(!Nfs3Procedure::Commit.is_non_idempotent());
    assert!(!Nfs3Procedure::Read.is_non_idempotent());
}

/// The borrowed READ/WRITE views speak exactly the owned types' wire form,
/// and reject what those reject plus what a bounded reader must.
mod bulk_views {
    use super::*;

    proptest! {
        #[test]
        fn write_view_matches_the_owned_args(
            file in fh(), offset in any::<u64>(), count in any::<u32>(), st in stable(), data in bytes(300),
        ) {
            let owned = Write3Args { file: file.clone(), offset, count, stable: st, data: Data(data.clone()) };
            let wire = encode_to_vec(&owned);
            let view = Write3ArgsRef::decode(&wire).unwrap();
            prop_assert_eq!(&view, &Write3ArgsRef { file: file.clone(), offset, count, stable: st, data: &data });
            let mut again = Vec::new();
            view.encode(&mut again);
            prop_assert_eq!(&again, &wire);
            // The head plus data and padding a sender places itself.
            let mut split = Vec::new();
            Write3Head { file: &file, offset, count, stable: st, data_len: data.len() as u32 }.encode(&mut split);
            split.extend_from_slice(&data);
            split.extend_from_slice(pad_for(data.len()));
            prop_assert_eq!(&split, &wire);
        }

        #[test]
        fn write_view_rejects_truncated_and_trailing_input(
            file in fh(), data in bytes(64), cut in 1usize..400, extra in 1usize..8,
        ) {
            let wire = encode_to_vec(&Write3Args { file, offset: 1, count: data.len() as u32, stable: StableHow::Unstable, data: Data(data) });
            let cut = cut.min(wire.len());
            prop_assert!(Write3ArgsRef::decode(&wire[..wire.len() - cut]).is_err());
            let mut long = wire.clone();
            long.extend(std::iter::repeat_n(0u8, extra));
            prop_assert!(Write3ArgsRef::decode(&long).is_err());
        }

        #[test]
        fn read_view_matches_the_owned_results(
            attrs in proptest::option::of(fattr()), eof in any::<bool>(), data in bytes(300), status in status_err(),
        ) {
            let count = data.len() as u32;
            let wire = encode_to_vec(&Read3Res::Ok(Read3ResOk { file_attributes: attrs.clone(), count, eof, data: Data(data.clone()) }));
            match decode_read3_res(&wire, data.len()).unwrap() {
                NfsResult::Ok(r) => {
                    prop_assert_eq!(&r.file_attributes, &attrs);
                    prop_assert_eq!((r.count, r.eof, r.data), (count, eof, &data[..]));
                    prop_assert_eq!(&wire[r.data_at..r.data_at + r.data.len()], &data[..]);
                }
                NfsResult::Err(..) => prop_assert!(false, "decoded as a failure"),
            }
            // The head a sendfile path encodes, then the data and padding.
            let mut split = Vec::new();
            Read3ResOkHead { file_attributes: attrs.clone(), count, eof }.encode(&mut split);
            split.extend_from_slice(&data);
            split.extend_from_slice(pad_for(data.len()));
            prop_assert_eq!(&split, &wire);
            let err = encode_to_vec(&Read3Res::Err(status, attrs.clone()));
            prop_assert_eq!(decode_read3_res(&err, 0).unwrap(), NfsResult::Err(status, attrs));
        }

        #[test]
        fn read_view_rejects_truncated_oversized_and_inconsistent_input(
            attrs in proptest::option::of(fattr()), data in bytes(64), cut in 1usize..400, extra in 1usize..8,
        ) {
            let count = data.len() as u32;
            let wire = encode_to_vec(&Read3Res::Ok(Read3ResOk { file_attributes: attrs.clone(), count, eof: false, data: Data(data.clone()) }));
            let cut = cut.min(wire.len());
            prop_assert!(decode_read3_res(&wire[..wire.len() - cut], usize::MAX).is_err());
            let mut long = wire.clone();
            long.extend(std::iter::repeat_n(0u8, extra));
            prop_assert!(decode_read3_res(&long, usize::MAX).is_err());
            if !data.is_empty() {
                // More data than was asked for.
                prop_assert!(decode_read3_res(&wire, data.len() - 1).is_err());
            }
            // A count that disagrees with the data's length.
            let lying = encode_to_vec(&Read3Res::Ok(Read3ResOk { file_attributes: attrs, count: count + 1, eof: false, data: Data(data) }));
            prop_assert!(decode_read3_res(&lying, usize::MAX).is_err());
        }

        #[test]
        fn views_never_panic_on_garbage(b in bytes(512), max in 0usize..600) {
            let _ = Write3ArgsRef::decode(&b);
            let _ = decode_read3_res(&b, max);
        }
    }
}
