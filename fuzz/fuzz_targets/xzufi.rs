//! Fuzz target: the XZuFi 2.2.0 parser never panics on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in ozgsync::parse::xzufi::parse(data) {
        if item.is_err() {
            break;
        }
    }
});
