//! Integration test modules, one per capability.

mod http;
mod release;
