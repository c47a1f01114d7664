//! The one integration-test binary (links once). Each module under `tests/it/` tests
//! one capability against real files, a real SQLite database, the real binary or a
//! local HTTP server on 127.0.0.1.

mod it;
