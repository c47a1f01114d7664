//! Integration test modules, one per capability.
mod annotations;
mod efa;
mod release;
