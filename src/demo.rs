//! The quick start's synthetic demo data ("Beispieldaten", `fixtures/demo/`):
//! `sync` with a `[demo]` section imports its annotation sheet, status report and
//! EfA-Nachnutzung sheet after the sources, so a fresh installation's dashboards
//! and report show something (the report's funnel every stage). Idempotent: the
//! annotation and Nachnutzung imports change nothing the second time, and the
//! status report is recorded once per content (its batch origin names the
//! file's SHA-256), because status events are append-only and a second import
//! would add every event again.

use crate::error::ShowPath;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::config::DemoConfig;
use crate::error::{Error, Result};
use crate::parse::ParseError;
use crate::store::sheet::ImportReport;

/// What every page or file that shows demo data says (report banner, XLSX sheet).
pub const NOTICE: &str =
    "Beispieldaten: Dieser Stand enthält synthetische Annotationen, Statusmeldungen und \
     Angaben zur EfA-Nachnutzung aus dem Schnellstart (fixtures/demo), keine amtlichen Angaben.";

/// Who the demo's annotations and events are recorded as.
pub const RECORDED_BY: &str = "Beispieldaten (ozgsync demo)";

/// What one application of the demo wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub annotations_changed: usize,
    pub status_events: u64,
    pub nachnutzung_changed: usize,
}

/// Imports the demo's sheet and report (paths relative to `base_dir`).
pub fn apply(conn: &mut Connection, demo: &DemoConfig, base_dir: &Path) -> Result<Applied> {
    let report = import_sheet(
        conn,
        &base_dir.join(&demo.annotations),
        crate::annotations::csv::read,
        crate::store::annotations::import,
    )?;

    let report_path = base_dir.join(&demo.status);
    let bytes = std::fs::read(&report_path).map_err(Error::io("reading", &report_path))?;
    let name = report_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let batch_origin = format!(
        "Beispieldaten {name} sha256:{}",
        &format!("{:x}", Sha256::digest(&bytes))[..16]
    );
    let recorded: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM status_batches WHERE origin = ?1",
            [&batch_origin],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db("looking up the demo status report"))?;
    let mut applied = Applied {
        annotations_changed: report.changed,
        ..Applied::default()
    };
    if recorded.is_none() {
        let catalog = crate::store::status::catalog(conn)?;
        let validated =
            crate::status::report::validate(&bytes, &catalog, crate::model::date::today())
                .map_err(|e| Error::Invalid(format!("{}: {e}", report_path.shown())))?;
        if !validated.errors.is_empty() {
            return Err(refused(
                &report_path.shown().to_string(),
                validated.errors.iter().map(ToString::to_string),
            ));
        }
        applied.status_events =
            crate::store::status::record(conn, &validated.rows, &batch_origin, RECORDED_BY)?;
    }
    // After the status report: a stage reads both, and neither refers to the other.
    if let Some(nachnutzung) = &demo.nachnutzung {
        applied.nachnutzung_changed = import_sheet(
            conn,
            &base_dir.join(nachnutzung),
            crate::efa_nachnutzung::read,
            crate::store::sheet::import::<crate::efa_nachnutzung::State>,
        )?
        .changed;
    }
    Ok(applied)
}

/// Reads a coordinators' sheet of the demo with `read` and applies it whole with
/// `import`, as [`RECORDED_BY`]; a refused row refuses the file.
fn import_sheet<S>(
    conn: &mut Connection,
    path: &Path,
    read: impl FnOnce(std::io::BufReader<std::fs::File>) -> std::result::Result<S, ParseError>,
    import: impl FnOnce(&mut Connection, &S, &str, &str, bool) -> Result<ImportReport>,
) -> Result<ImportReport> {
    let origin = path.shown().to_string();
    let input = std::fs::File::open(path).map_err(Error::io("opening", path))?;
    let sheet = read(std::io::BufReader::new(input)).map_err(|source| Error::Parse {
        location: origin.clone(),
        source,
    })?;
    let report = import(conn, &sheet, RECORDED_BY, &origin, false)?;
    if report.refused > 0 {
        return Err(refused(
            &origin,
            report.errors.iter().map(ToString::to_string),
        ));
    }
    Ok(report)
}

/// Whether the database holds demo data: an annotation or status batch recorded
/// as [`RECORDED_BY`]. The one test of "show the Beispieldaten marker".
pub fn present(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM status_batches WHERE recorded_by = ?1)
             OR EXISTS (SELECT 1 FROM annotations WHERE updated_by = ?1)
             OR EXISTS (SELECT 1 FROM efa_nachnutzung_versions WHERE recorded_by = ?1)",
        [RECORDED_BY],
        |r| r.get(0),
    )
}

/// The demo files do not fit this database (e.g. the config lacks the LeiKa or
/// GV100AD source they refer to): nothing of that file is applied.
fn refused(file: &str, errors: impl Iterator<Item = String>) -> Error {
    let errors: Vec<String> = errors.collect();
    Error::Invalid(format!(
        "demo data {file}: {} row(s) refused, nothing applied (first: {}); the demo refers to the bundled LeiKa sample and GV100AD extract, so keep those sources in the config or remove [demo]",
        errors.len(),
        errors.first().map_or("", String::as_str)
    ))
}
