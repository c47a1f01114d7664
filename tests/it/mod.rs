//! Integration test modules, one per capability.

mod crash;
mod fim_api;
mod gv100ad;
mod http;
mod pvog;
mod query;
mod release;
mod status;
