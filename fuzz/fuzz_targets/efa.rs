//! Fuzz target: the EfA release parser (JSON and CSV forms) never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = ozgsync::parse::efa::parse(std::io::Cursor::new(data)) {
        for item in items {
            if item.is_err() {
                break;
            }
        }
    }
});
