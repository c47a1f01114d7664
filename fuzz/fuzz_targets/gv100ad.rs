//! Fuzz target: the GV100AD fixed-width parser never panics (columns count
//! characters, so non-ASCII input is the interesting part).
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use ozgsync::parse::{Drain, Format};

// The same entry `sync` dispatches to; `Drain` reads the items to the end or to
// the first error.
fuzz_target!(|data: &[u8]| {
    let _ = Format::Gv100ad.parse(Cursor::new(data), Drain);
});
