//! ozgsync: Lower Saxony's OZG service database.
//!
//! Data flows fetch → parse → store (merge + history) → export, driven by the CLI or
//! the scheduler. See ARCHITECTURE.md for the code map and the invariants.

pub mod error;
pub mod fetch;
pub mod model;
pub mod parse;

pub use error::{Error, Result};
