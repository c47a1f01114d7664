//! Integration test modules, one per capability.

mod bench_gen;
mod cli;
mod crash;
mod fim_api;
mod gv100ad;
mod http;
mod release;
