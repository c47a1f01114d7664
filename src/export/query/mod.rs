//! Fills the export model from the database, read-only: all SQL of the exports
//! lives below this module, read in the one snapshot `export::run_job` holds.
//!
//! - `catalog`: the catalogue readers (releases used, annotations, EfA services,
//!   OZG-Leistungen, observed availability, municipalities, LeiKa names, Ressorts).
//! - `matrix`: the in-memory status matrix (interned subjects and ARS, latest
//!   event per cell); no SQL.
//! - `status`: the status readers that fill it (`status_current`, lookups, the
//!   change window, the fold over every event).
//! - `cells`: the report's own read of the municipal cells, a byte per cell
//!   (status only; dates and events only where two subjects meet in a row).
//! - `changes`: the report's change section (new services, status changes,
//!   retired keys, Nachnutzung changes).
//! - `dashboard` and `report`: assembly of `DashboardData` and `Report` from those
//!   reads; the one place that decides which services are relevant where.

mod catalog;
mod cells;
mod changes;
mod dashboard;
mod matrix;
mod report;
mod status;

use rusqlite::Connection;

use super::ExportError;
use crate::error::Error;

pub use catalog::{sources, stamp};
pub use dashboard::{dashboards, GemeindeRows};
pub use report::report;

/// Days of status changes a dashboard file lists.
pub const CHANGE_WINDOW_DAYS: i64 = 30;

fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> ExportError {
    move |e| ExportError::Store(Error::db(context)(e))
}

/// Lets SQLite read the database through a memory map: the exports scan millions
/// of rows, and reading each page with a system call and a copy costs a sixth of
/// that. Best effort: without it the reads are only slower.
fn map_for_scans(conn: &Connection) {
    let _ = conn.pragma_update(None, "mmap_size", 1i64 << 32);
}
