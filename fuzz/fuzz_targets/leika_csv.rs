//! Fuzz target: the LeiKa CSV parser never panics; it yields records, rejects or
//! one "not the format" error, and stops after that error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = ozgsync::parse::leika_csv::parse(std::io::Cursor::new(data)) {
        for item in items {
            if item.is_err() {
                break;
            }
        }
    }
});
