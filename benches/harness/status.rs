//! The status-matrix case (issue 3): a CSV status report of 939 Lower Saxony
//! Gemeinden × 3,000 LeiKa keys (2,817,000 rows, one event per cell) imported
//! through `ozgsync status import` into a database that knows the keys and the
//! Gemeinden; then `v_municipality_coverage` for every Gemeinde and `status show
//! --as-of` through `ozgsync query` / `ozgsync status`. Baseline in the same run:
//! the same report through `sqlite3 .import` into a plain table.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::measure::measure;
use super::report::{fmt_duration, Aim, CaseReport};
use super::{
    copy_db, file_mb, gemeinden, import_lower_saxony, key, remove_db, row, sql_err,
    write_status_report, BenchError, Ctx,
};

const SERVICES: usize = 3_000;
const KOMMUNAL: usize = 1_000;

/// The base database: the real Lower Saxony GV100AD fixture through the binary,
/// then (in SQL) the 3,000 LeiKa keys as current services and 1,000 of them
/// annotated as executed by the municipalities. Returns the Gemeinden's ARS.
fn base_db(ctx: &Ctx, db: &Path) -> Result<Vec<String>, BenchError> {
    import_lower_saxony(ctx, db)?;
    let conn = rusqlite::Connection::open(db).map_err(sql_err("opening the base database"))?;
    conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO sources (name, kind, location, updated_at) VALUES ('leika-bench', 'leika', 'bench', '2026-01-01T00:00:00Z');
         INSERT INTO releases (source, kind, entity, mode, location, fetched_at, status)
             VALUES ('leika-bench', 'leika', 'service', 'full', 'bench', '2026-01-01T00:00:00Z', 'applied');
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
         INSERT INTO record_versions (entity, key, valid_from, valid_to, hash, data)
             SELECT 'service', printf('99%012d', i * 7 + 1), (SELECT max(release_id) FROM releases), NULL, 'h' || i,
                    json_object('leistungsschluessel', printf('99%012d', i * 7 + 1),
                                'bezeichnung', 'Leistung ' || i, 'leistungstyp', 'lovd')
             FROM n;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {kommunal_last})
         INSERT INTO annotations (leistungsschluessel, vollzug, updated_at, updated_by)
             SELECT printf('99%012d', i * 7 + 1), 'kommune', '2026-01-01T00:00:00Z', 'bench' FROM n;
         COMMIT;",
        last = SERVICES - 1,
        kommunal_last = KOMMUNAL - 1,
    ))
    .map_err(sql_err("filling the base database"))?;
    gemeinden(&conn)
}

fn query(ctx: &Ctx, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(&ctx.bin);
    cmd.current_dir(&ctx.dir)
        .env_remove("OZGSYNC_DB")
        .arg("--db")
        .arg(db)
        .arg("--quiet")
        .args(args);
    cmd
}

pub fn status_matrix(ctx: &Ctx) -> Result<CaseReport, BenchError> {
    const CASE: &str = "status_matrix";
    let base = ctx.dir.join("status-base.db");
    let db = ctx.dir.join("status.db");
    remove_db(&base)?;
    eprintln!("{CASE}: base database");
    let ars = base_db(ctx, &base)?;
    let csv = ctx.dir.join("status-report.csv");
    let rows = write_status_report(&csv, &ars, SERVICES)?;
    let csv_s = csv.to_string_lossy().into_owned();
    let mut report = CaseReport::default();

    eprintln!("{CASE}: status import of {rows} rows");
    let import = measure(
        ctx.reps,
        || copy_db(&base, &db),
        || {
            Ok(query(
                ctx,
                &db,
                &["status", "import", &csv_s, "--by", "bench"],
            ))
        },
    )?;
    report.rows.push(row(
        CASE,
        "status import (one event per cell)",
        rows,
        Some(import.clone()),
        format!(
            "{} Gemeinden × {SERVICES} keys, {:.1} MB CSV",
            ars.len(),
            file_mb(&csv)
        ),
    ));

    let baseline = match &ctx.sqlite3 {
        Some(_) => {
            let plain = ctx.dir.join("status-baseline.db");
            let script = format!(
                "PRAGMA journal_mode = WAL;\nCREATE TABLE raw (key TEXT, ars TEXT, status TEXT, on_ TEXT, note TEXT);\n\
                 .mode csv\n.separator ;\n.import --skip 1 {csv_s} raw\n"
            );
            let script_path = ctx.dir.join("status-baseline.sql");
            fs::write(&script_path, script)
                .map_err(|e| BenchError::io(format!("write {}", script_path.display()), e))?;
            eprintln!("{CASE}: sqlite3 .import baseline");
            let m = measure(
                ctx.reps,
                || remove_db(&plain),
                || {
                    let mut cmd = Command::new("sqlite3");
                    cmd.arg(&plain).stdin(
                        fs::File::open(&script_path)
                            .map_err(|e| BenchError::io("open baseline script", e))?,
                    );
                    Ok(cmd)
                },
            )?;
            let counted: i64 = rusqlite::Connection::open(&plain)
                .and_then(|c| c.query_row("SELECT count(*) FROM raw", [], |r| r.get(0)))
                .map_err(sql_err("counting the baseline rows"))?;
            report.rows.push(row(
                CASE,
                "baseline: sqlite3 .import, plain 5-column table",
                rows,
                Some(m.clone()),
                format!("{counted} rows"),
            ));
            Some(m)
        }
        None => None,
    };

    eprintln!("{CASE}: coverage of every Gemeinde");
    let coverage = measure(
        ctx.reps,
        || Ok(()),
        || {
            Ok(query(
                ctx,
                &db,
                &[
                    "query",
                    "--format",
                    "csv",
                    "SELECT * FROM v_municipality_coverage",
                ],
            ))
        },
    )?;
    report.rows.push(row(
        CASE,
        "query v_municipality_coverage, all Gemeinden",
        ars.len() as u64,
        Some(coverage.clone()),
        "through `ozgsync query`, process start included".into(),
    ));
    let one = key(1234);
    eprintln!("{CASE}: status show --as-of");
    let as_of = measure(
        ctx.reps,
        || Ok(()),
        || {
            Ok(query(
                ctx,
                &db,
                &["status", "show", &one, "--as-of", "2025-06-30"],
            ))
        },
    )?;
    report.rows.push(row(
        CASE,
        "status show KEY --as-of 2025-06-30",
        ars.len() as u64,
        Some(as_of.clone()),
        "one service in every Gemeinde".into(),
    ));

    report.aims.push(Aim {
        what: "Status matrix import, 2.8 M rows".into(),
        target: "< 15 s".into(),
        measured: format!(
            "{} median{}",
            fmt_duration(import.median()),
            baseline
                .as_ref()
                .map(|b| format!(
                    " (sqlite3 .import {}, {:.1}×)",
                    fmt_duration(b.median()),
                    import.median().as_secs_f64() / b.median().as_secs_f64().max(1e-9)
                ))
                .unwrap_or_default()
        ),
        met: Some(import.median().as_secs_f64() < 15.0),
    });
    report.aims.push(Aim {
        what: "v_municipality_coverage, all Gemeinden".into(),
        target: "< 1 s".into(),
        measured: format!("{} median", fmt_duration(coverage.median())),
        met: Some(coverage.median().as_secs_f64() < 1.0),
    });
    report.aims.push(Aim {
        what: "status --as-of for one service".into(),
        target: "< 1 s".into(),
        measured: format!("{} median", fmt_duration(as_of.median())),
        met: Some(as_of.median().as_secs_f64() < 1.0),
    });
    Ok(report)
}
