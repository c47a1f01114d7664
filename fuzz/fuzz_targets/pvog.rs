//! Fuzz target: the Dashboard Digitale Verwaltung (pvog) page parser never panics.
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use ozgsync::parse::{Drain, Format};

// The same entry `sync` dispatches to; `Drain` reads the items to the end or to
// the first error.
fuzz_target!(|data: &[u8]| {
    let _ = Format::Pvog.parse(Cursor::new(data), Drain);
});
