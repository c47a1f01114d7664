//! Fuzz target: reading and validating a CSV status report never panics, against an
//! empty catalogue and against one that knows a few keys, ARS and Ressorts.
#![no_main]
use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use ozgsync::status::report::{validate, Catalog};

fuzz_target!(|data: &[u8]| {
    let today = NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date");
    let _ = validate(data, &Catalog::default(), today);
    let mut catalog = Catalog::default();
    catalog.leika.insert("99001001002000".into());
    catalog.efa.insert("EFA-0001".into());
    catalog.ars.insert("031010000000".into());
    catalog.ressorts.insert("mi".into(), 1);
    let _ = validate(data, &catalog, today);
});
