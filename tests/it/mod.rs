//! Integration test modules, one per capability.
mod gv100ad;
mod fim_api;
