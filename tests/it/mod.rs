//! Integration test modules, one per capability.
mod bench_gen;
mod release;
