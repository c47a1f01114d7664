//! Fuzz target: the OZG-Leistungen and LeiKa→OZG map CSV parsers never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = ozgsync::parse::ozg::parse_leistungen(std::io::Cursor::new(data)) {
        for item in items {
            if item.is_err() {
                break;
            }
        }
    }
    if let Ok(items) = ozgsync::parse::ozg::parse_map(std::io::Cursor::new(data)) {
        for item in items {
            if item.is_err() {
                break;
            }
        }
    }
});
