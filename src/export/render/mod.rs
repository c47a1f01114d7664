//! Renderers: pure functions from the report model to the bytes of one format.
//! None of them reads a clock, the environment or the database.

pub mod csv;
pub mod html;
pub mod markdown;
pub mod xlsx;
