//! Integration test modules, one per capability.

mod annotations;
mod bench_gen;
mod boundaries;
mod cli;
mod concurrency;
mod crash;
mod daemon;
mod disk;
mod efa;
mod export;
mod fim_api;
mod gv100ad;
mod hostile;
mod http;
mod install;
mod pvog;
mod query;
mod release;
mod status;
pub mod support;
