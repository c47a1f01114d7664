//! The one integration-test binary (links once). Each module under `tests/it/` tests
//! one capability against real files, a real SQLite database, the real binary or a
//! local HTTP server on 127.0.0.1.

// A test's unwrap is its assertion; clippy.toml allows these inside `#[test]`
// functions, this also in the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod it;
