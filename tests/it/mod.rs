//! Integration test modules, one per capability.

mod crash;
mod daemon;
mod fim_api;
mod gv100ad;
mod http;
mod release;
