//! Fuzz target: the XZuFi 2.2.0 parser never panics on any bytes.
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use ozgsync::parse::{Drain, Format};

// The same entry `sync` dispatches to; `Drain` reads the items to the end or to
// the first error.
fuzz_target!(|data: &[u8]| {
    let _ = Format::Xzufi.parse(Cursor::new(data), Drain);
});
