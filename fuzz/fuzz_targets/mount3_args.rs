#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfsl_fuzzing::mount3_args(data));
