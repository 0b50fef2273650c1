#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    discotag_fuzz::check_qdpx(data);
});
