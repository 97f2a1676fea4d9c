//! The engine under surprises: a wrong alignment claim (the kernel answers
//! EINVAL: the IO is redone buffered) and random mixes of reads and writes
//! checked against an in-memory model.

mod common;

use std::sync::Arc;

use common::{create, direct_dir, pattern, pread};
use nfsl_io_engine::{DioAlignment, DirectPolicy, EngineConfig, IoEngine, IoFile, Read, Write};
use proptest::prelude::*;

fn open_pair(path: &std::path::Path) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |flags| -> std::os::fd::OwnedFd {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(path)
            .unwrap()
            .into()
    };
    (open(0), open(libc::O_DIRECT))
}

#[test]
fn direct_einval_is_redone_buffered() {
    let Some(dir) = direct_dir() else { return };
    let path = dir.path().join("einval");
    create(&path, &pattern(10, 100_000));
    let (buffered, direct) = open_pair(&path);
    // Claim byte alignment: every request looks aligned, the kernel disagrees.
    let lie = DioAlignment {
        mem_align: 1,
        offset_align: 1,
        read_offset_align: 0,
    };
    let file = Arc::new(IoFile::new(buffered, Some(direct), lie).unwrap());
    let engine = IoEngine::start(EngineConfig {
        direct: DirectPolicy::Always,
        ..EngineConfig::default()
    })
    .unwrap();
    let got = engine
        .submit_blocking(Read::new(file.clone(), 3, 5000))
        .wait()
        .unwrap();
    assert!(got[..] == pread(&path, 3, 5000)[..]);
    // The direct middle [4096, 8192) starts at data + 3095: odd, so misaligned
    // memory (no bounce buffer: mem_align 1 says any address is fine).
    let data = pattern(11, 9000);
    let n = engine
        .submit_blocking(Write::new(file.clone(), 1001, data.clone()))
        .wait()
        .unwrap();
    assert_eq!(n, 9000);
    assert!(pread(&path, 1001, 9000) == data);
    let s = engine.stats();
    assert!(s.direct_retries >= 2, "{s:?}");
    assert_eq!(s.errors, 0);
}

#[derive(Debug, Clone)]
struct Op {
    write: bool,
    offset: u64,
    len: usize,
    policy: DirectPolicy,
    stable: bool,
}

fn op() -> impl Strategy<Value = Op> {
    let policy = prop_oneof![
        Just(DirectPolicy::Always),
        Just(DirectPolicy::Auto),
        Just(DirectPolicy::Never)
    ];
    (
        any::<bool>(),
        0u64..300_000,
        1usize..140_000,
        policy,
        any::<bool>(),
    )
        .prop_map(|(write, offset, len, policy, stable)| Op {
            write,
            offset,
            len,
            policy,
            stable,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn random_ops_match_a_model(ops in proptest::collection::vec(op(), 1..24)) {
        let Some(dir) = direct_dir() else { return Ok(()) };
        let path = dir.path().join("model");
        let mut model = pattern(12, 200_000);
        create(&path, &model);
        let file = Arc::new(IoFile::open(&path, true).unwrap());
        let engine = IoEngine::start(EngineConfig { auto_direct_min: 8192, ..EngineConfig::default() }).unwrap();
        for (i, op) in ops.iter().enumerate() {
            if op.write {
                let data = pattern(1000 + i as u64, op.len);
                let req = Write::new(file.clone(), op.offset, data.clone()).direct(op.policy).stable(op.stable);
                prop_assert_eq!(engine.submit_blocking(req).wait().unwrap(), op.len);
                let end = op.offset as usize + op.len;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[op.offset as usize..end].copy_from_slice(&data);
            } else {
                let got = engine.submit_blocking(Read::new(file.clone(), op.offset, op.len).direct(op.policy)).wait().unwrap();
                let start = (op.offset as usize).min(model.len());
                let end = (op.offset as usize + op.len).min(model.len());
                prop_assert!(got[..] == model[start..end], "{:?}", op);
            }
        }
        prop_assert!(std::fs::read(&path).unwrap() == model);
        prop_assert_eq!(engine.stats().errors, 0);
    }
}
