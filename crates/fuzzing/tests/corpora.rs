//! Replays every target over every file of its seed corpus
//! (`fuzz/corpus/TARGET/`), so `cargo test` keeps the targets building
//! and the corpora passing; a crash the fuzzer found is added there (with
//! its fix) and stays fixed.

use std::path::Path;

use nfsl_fuzzing::TARGETS;

fn corpus_dir(target: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_target_has_a_corpus_and_passes_it() {
    for (name, target) in TARGETS {
        let dir = corpus_dir(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus of {name} ({}): {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name} has no seeds");
        for file in files {
            let data = std::fs::read(&file).expect("read seed");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} failed on {}", file.display());
        }
    }
}

#[test]
fn every_target_has_a_cargo_fuzz_wrapper() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let manifest = std::fs::read_to_string(dir.join("../Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        let wrapper = std::fs::read_to_string(dir.join(format!("{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{name}.rs: {e}"));
        assert!(
            wrapper.contains(&format!("nfsl_fuzzing::{name}(")),
            "{name}"
        );
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}");
    }
}

#[test]
fn short_and_empty_inputs_are_harmless() {
    for (_, target) in TARGETS {
        for data in [&[][..], &[0], &[0xff; 3], &[0; 9], &[0x80, 0, 0, 0]] {
            target(data);
        }
    }
}
