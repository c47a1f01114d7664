//! ozgsync: Lower Saxony's OZG service database.
//!
//! Data flows fetch → parse → store (history, the merge of versions) → export, driven
//! by the CLI or the scheduler; `diff` compares two states. See ARCHITECTURE.md for
//! the code map and the invariants.

#![forbid(unsafe_code)]

pub mod annotations;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod diff;
pub mod efa_nachnutzung;
pub mod error;
pub mod export;
pub mod fetch;
pub mod jobs;
pub mod logging;
pub mod model;
pub mod overview;
pub mod parse;
pub mod progress;
pub mod status;
pub mod stop;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
