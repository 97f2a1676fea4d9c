#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfsl_fuzzing::nfs3_results(data));
