//! Fuzz target: the Dashboard Digitale Verwaltung (pvog) page parser never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in ozgsync::parse::pvog::parse(std::io::Cursor::new(data)) {
        if item.is_err() {
            break;
        }
    }
});
