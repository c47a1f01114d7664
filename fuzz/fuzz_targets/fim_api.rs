//! Fuzz target: the FIM Portal API page parser and the stored-pull stream parser
//! never panic.
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use ozgsync::parse::{Drain, Format};

fuzz_target!(|data: &[u8]| {
    let _ = ozgsync::parse::fim_api::parse_page(data);
    let _ = Format::FimApi.parse(Cursor::new(data), Drain);
});
