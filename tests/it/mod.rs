//! Integration test modules, one per capability.
