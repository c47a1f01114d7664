//! Fuzz target: the FIM Portal API page parser and the stored-pull stream parser
//! never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ozgsync::parse::fim_api::parse_page(data);
    for item in ozgsync::parse::fim_api::parse(data) {
        if item.is_err() {
            break;
        }
    }
});
