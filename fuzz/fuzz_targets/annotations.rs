//! Fuzz target: reading an annotation sheet and validating its rows never panics,
//! against an empty catalogue and against one that knows a few keys.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ozgsync::annotations::{csv, validate, Known};

fuzz_target!(|data: &[u8]| {
    let Ok(sheet) = csv::read(std::io::Cursor::new(data)) else {
        return;
    };
    validate(&sheet.rows, &Known::default());
    let mut known = Known::default();
    known.current_keys.insert("99001001002000".into());
    known.retired_keys.insert("99012034095000".into());
    known.ressorts.push(("MI".into(), 1));
    known.efa_ids.insert("EFA-0001".into());
    validate(&sheet.rows, &known);
});
