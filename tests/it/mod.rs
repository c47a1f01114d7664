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
mod nothing_lost_bounds;
mod nothing_lost_due;
mod nothing_lost_open;
mod nothing_lost_publish;
mod nothing_lost_rejects;
mod pvog;
mod query;
mod release;
mod silently_wrong_land;
mod silently_wrong_text;
mod status;
pub mod support;
