//! The status-matrix case (issue 3): a CSV status report of 939 Lower Saxony
//! Gemeinden × 3,000 LeiKa keys (2,817,000 rows, one event per cell) imported
//! through `ozgsync status import` into a database that knows the keys and the
//! Gemeinden; then `v_municipality_coverage` for every Gemeinde and `status show
//! --as-of` through `ozgsync query` / `ozgsync status`. Baseline in the same run:
//! the same report through `sqlite3 .import` into a plain table.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::measure::{measure, measure_interleaved, Interleaved};
use super::report::{fmt_duration, fmt_rss, rss_under, Aim, CaseReport, Comparison};
use super::{
    copy_db, file_mb, gemeinden, generate, import_lower_saxony, key, remove_db, row, sql_err,
    sqlite3_script, status_baseline_script, write_status_report, BenchError, Ctx, STATUSES,
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

/// How the status import of a CSV report uses the cores, for the comparison tables
/// of this case and `status_growth` (one CSV thread since session 13).
pub const CSV_IMPORT_THREADS: &str = "2 while reading (CSV reader, checks), 1 writing";

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

    let import_cmd = || {
        Ok(query(
            ctx,
            &db,
            &["status", "import", &csv_s, "--by", "bench"],
        ))
    };
    // The import and the baseline are measured alternately (run i of ours, then run
    // i of sqlite3), so both see the same minutes of the host.
    let plain = ctx.dir.join("status-baseline.db");
    let (import, baseline) = match &ctx.sqlite3 {
        None => {
            eprintln!("{CASE}: status import of {rows} rows");
            (measure(ctx.reps, || copy_db(&base, &db), import_cmd)?, None)
        }
        Some(_) => {
            let script_path = ctx.dir.join("status-baseline.sql");
            fs::write(&script_path, status_baseline_script(&csv_s))
                .map_err(|e| BenchError::io(format!("write {}", script_path.display()), e))?;
            eprintln!("{CASE}: status import of {rows} rows, alternated with sqlite3 .import");
            let Interleaved { ours, base: m } = measure_interleaved(
                ctx.reps,
                None,
                || copy_db(&base, &db),
                import_cmd,
                || remove_db(&plain),
                || sqlite3_script(&plain, &script_path),
            );
            (ours?, Some(m?))
        }
    };
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
    let comparison = baseline.as_ref().map(|m| Comparison {
        what: format!("status import, {rows} rows, vs sqlite3 .import"),
        ours: import.clone(),
        base: m.clone(),
        threads: CSV_IMPORT_THREADS.into(),
    });
    if let Some(m) = &baseline {
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
    }

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
            comparison
                .as_ref()
                .map(|c| format!(
                    " (sqlite3 .import {}, {:.1}×; {})",
                    fmt_duration(c.base.median()),
                    c.pair().wall_ratio(),
                    c.summary()
                ))
                .unwrap_or_default()
        ),
        met: Some(import.median().as_secs_f64() < 15.0),
    });
    // Issue 15's aims beside issue 3's: the ratio of the wall medians, as for
    // LeiKa, and a peak resident set bounded whatever the report's size.
    report.aims.push(Aim {
        what: "Status matrix import vs sqlite3 .import".into(),
        target: "≤ 1.5× baseline (issue 15)".into(),
        measured: comparison.as_ref().map_or("baseline missing".into(), |c| {
            format!("{:.2}×; {}", c.pair().wall_ratio(), c.summary())
        }),
        met: comparison.as_ref().map(|c| c.pair().wall_ratio() <= 1.5),
    });
    let peak = import.peak_rss_kib();
    report.aims.push(Aim {
        what: "Status matrix import peak RSS".into(),
        target: "< 256 MB (issue 15)".into(),
        measured: fmt_rss(peak),
        met: Some(rss_under(peak, 256)),
    });
    report.comparisons.extend(comparison);
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

/// The status report of [`write_status_report`] for `keys` keys per Gemeinde, as
/// an Excel workbook the way a ministry's export looks: the same header and
/// events, keys and ARS as text (shared strings), the date as a date cell. Run in
/// the `gen status-xlsx` child (see [`super::generate`]: rust_xlsxwriter holds
/// every cell until it saves).
pub fn status_workbook(ars: &[String], keys: usize) -> Result<(Vec<u8>, u64), BenchError> {
    let xlsx = |e: rust_xlsxwriter::XlsxError| BenchError::Usage(format!("status workbook: {e}"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
    let sheet = book.add_worksheet();
    for (c, h) in (0u16..).zip([
        "Leistungsschlüssel",
        "ARS",
        "Status",
        "Gültig ab",
        "Bemerkung",
    ]) {
        sheet.write_string(0, c, h).map_err(xlsx)?;
    }
    let mut row = 0u32;
    for (g, a) in ars.iter().enumerate() {
        for s in 0..keys {
            row += 1;
            let day = 1 + (s + g) % 28;
            let month = 1 + (s * 7 + g) % 12;
            let status = STATUSES
                .get((s * 3 + g) % STATUSES.len())
                .unwrap_or(&"geplant");
            sheet.write_string(row, 0, key(s)).map_err(xlsx)?;
            sheet.write_string(row, 1, a).map_err(xlsx)?;
            sheet.write_string(row, 2, *status).map_err(xlsx)?;
            let on = rust_xlsxwriter::ExcelDateTime::from_ymd(2025, month as u8, day as u8)
                .map_err(xlsx)?;
            sheet
                .write_datetime_with_format(row, 3, &on, &date)
                .map_err(xlsx)?;
            if (s + g) % 97 == 0 {
                sheet
                    .write_string(row, 4, "Rückmeldung Kommune")
                    .map_err(xlsx)?;
            }
        }
    }
    Ok((book.save_to_buffer().map_err(xlsx)?, u64::from(row)))
}

/// The status import of a workbook against the same events as CSV (issue 15:
/// peak RSS < 256 MB whatever the file size): ~100,000 and ~1,000,000 rows (Excel
/// holds 1,048,575 below its header), each imported as XLSX and as CSV into the
/// same base database, and the CSV through `sqlite3 .import` as the baseline.
pub fn status_xlsx(ctx: &Ctx) -> Result<CaseReport, BenchError> {
    const CASE: &str = "status_xlsx";
    let base = ctx.dir.join("status-xlsx-base.db");
    let db = ctx.dir.join("status-xlsx.db");
    remove_db(&base)?;
    eprintln!("{CASE}: base database");
    let ars = base_db(ctx, &base)?;
    let mut report = CaseReport::default();
    for target in [100_000usize, 1_000_000] {
        let keys = target.div_ceil(ars.len());
        let csv = ctx.dir.join(format!("status-{target}.csv"));
        let xlsx = ctx.dir.join(format!("status-{target}.xlsx"));
        let rows = write_status_report(&csv, &ars, keys)?;
        eprintln!("{CASE}: writing a workbook of {rows} rows");
        let ars_file = ctx.dir.join("status-xlsx-ars.txt");
        fs::write(&ars_file, ars.join("\n"))
            .map_err(|e| BenchError::io(format!("write {}", ars_file.display()), e))?;
        let started = std::time::Instant::now();
        let summary = generate(
            ctx,
            &[
                "status-xlsx",
                "--keys",
                &keys.to_string(),
                "--ars-file",
                &ars_file.to_string_lossy(),
            ],
            &xlsx,
        )?;
        let took = started.elapsed();
        assert_eq!(summary, format!("{rows} rows"));
        // The CSV import and the baseline (sqlite3 .import of the CSV) are measured
        // alternately, so both see the same minutes of the host.
        let plain = ctx.dir.join("status-xlsx-baseline.db");
        let script_path = ctx.dir.join("status-xlsx-baseline.sql");
        if ctx.sqlite3.is_some() {
            fs::write(&script_path, status_baseline_script(&csv.to_string_lossy()))
                .map_err(|e| BenchError::io(format!("write {}", script_path.display()), e))?;
        }
        let mut sizes = Vec::new();
        let mut baseline = None;
        for (what, file) in [("XLSX", &xlsx), ("CSV", &csv)] {
            let name = file.to_string_lossy().into_owned();
            let import_cmd = || {
                Ok(query(
                    ctx,
                    &db,
                    &["status", "import", &name, "--by", "bench"],
                ))
            };
            let m = if what == "CSV" && ctx.sqlite3.is_some() {
                eprintln!("{CASE}: status import of {rows} rows as {what}, alternated with sqlite3 .import");
                let Interleaved {
                    ours,
                    base: sqlite3,
                } = measure_interleaved(
                    ctx.reps,
                    None,
                    || copy_db(&base, &db),
                    import_cmd,
                    || remove_db(&plain),
                    || sqlite3_script(&plain, &script_path),
                );
                baseline = Some(sqlite3?);
                ours?
            } else {
                eprintln!("{CASE}: status import of {rows} rows as {what}");
                measure(ctx.reps, || copy_db(&base, &db), import_cmd)?
            };
            let events: i64 = rusqlite::Connection::open(&db)
                .and_then(|c| {
                    c.query_row("SELECT count(*) FROM status_event_rows", [], |r| r.get(0))
                })
                .map_err(sql_err("counting the imported events"))?;
            if u64::try_from(events).ok() != Some(rows) {
                return Err(BenchError::Usage(format!(
                    "{CASE}: {what} import recorded {events} events, expected {rows}"
                )));
            }
            let note = match what {
                "XLSX" => format!(
                    "{:.1} MB workbook, written by rust_xlsxwriter in {} (not measured)",
                    file_mb(file),
                    fmt_duration(took)
                ),
                _ => format!("{:.1} MB CSV, the same events", file_mb(file)),
            };
            report.rows.push(row(
                CASE,
                &format!("status import, {what}"),
                rows,
                Some(m.clone()),
                note,
            ));
            sizes.push(m);
        }
        if let (Some(m), [_, from_csv]) = (baseline, sizes.as_slice()) {
            report.rows.push(row(
                CASE,
                "baseline: sqlite3 .import of the CSV",
                rows,
                Some(m.clone()),
                "plain 5-column table".into(),
            ));
            report.comparisons.push(Comparison {
                what: format!("status import of the CSV, {rows} rows, vs sqlite3 .import"),
                ours: from_csv.clone(),
                base: m,
                threads: CSV_IMPORT_THREADS.into(),
            });
        }
        if let [from_xlsx, from_csv] = sizes.as_slice() {
            let peak = from_xlsx.peak_rss_kib();
            report.aims.push(Aim {
                what: format!("XLSX status import, {rows} rows: peak RSS"),
                target: "< 256 MB".into(),
                measured: format!(
                    "{:.1} MiB (CSV {:.1} MiB); {} median, {:.2}× the CSV import",
                    peak as f64 / 1024.0,
                    from_csv.peak_rss_kib() as f64 / 1024.0,
                    fmt_duration(from_xlsx.median()),
                    from_xlsx.median().as_secs_f64() / from_csv.median().as_secs_f64().max(1e-9)
                ),
                met: Some(rss_under(peak, 256)),
            });
        }
    }
    Ok(report)
}
