//! Integration test modules, one per capability.

mod cli;
mod crash;
mod export;
mod fim_api;
mod gv100ad;
mod http;
mod release;
