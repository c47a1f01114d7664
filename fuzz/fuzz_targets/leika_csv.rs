//! Fuzz target: the LeiKa CSV parser never panics; it yields records, rejects or
//! one "not the format" error, and stops after that error.
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use ozgsync::parse::{Drain, Format};

// The same entry `sync` dispatches to; `Drain` reads the items to the end or to
// the first error.
fuzz_target!(|data: &[u8]| {
    let _ = Format::LeikaCsv.parse(Cursor::new(data), Drain);
});
