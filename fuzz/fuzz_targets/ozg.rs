//! Fuzz target: the OZG-Leistungen and LeiKa→OZG map CSV parsers never panic.
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use ozgsync::parse::{Drain, Format};

// The same entry `sync` dispatches to; `Drain` reads the items to the end or to
// the first error.
fuzz_target!(|data: &[u8]| {
    let _ = Format::OzgLeistungen.parse(Cursor::new(data), Drain);
    let _ = Format::OzgMap.parse(Cursor::new(data), Drain);
});
