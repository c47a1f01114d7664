//! Fuzz target: the GV100AD fixed-width parser never panics (columns count
//! characters, so non-ASCII input is the interesting part).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in ozgsync::parse::gv100ad::parse(std::io::Cursor::new(data)) {
        if item.is_err() {
            break;
        }
    }
});
