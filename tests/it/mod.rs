//! Integration test modules, one per capability.

mod annotations;
mod bench_gen;
mod cli;
mod crash;
mod daemon;
mod efa;
mod export;
mod fim_api;
mod gv100ad;
mod http;
mod pvog;
mod query;
mod release;
mod status;
