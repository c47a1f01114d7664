//! Every statement the exports' readers run is planned with an index wherever the
//! statement does not mean to read a large table whole. Session 18 found that schema
//! 0020 had dropped an index with the table it rebuilt, and every read of the
//! Ressort cells scanned the municipal ones (a 40 % slower XLSX report), while every
//! test passed. Here the statements are the ones the code runs, recorded as it runs
//! them (`store::statements`), not copies: each export of the report (every format,
//! with a Stichtag and a "since" date) and of the dashboards (with and without a
//! Stichtag) runs on a new database (the quick start's) and on one migrated from
//! schema 19 (`fixtures/migration/schema19.db`); each recorded `SELECT` is then
//! planned (`EXPLAIN QUERY PLAN`) on that database. A full `SCAN` of a large table
//! (one with a row per record version, status event or status cell) fails unless
//! the statement is listed in [`WHOLE`] with why it reads that table whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ozgsync::export::{self, ExportJob, ReportFormat};
use ozgsync::store;

use super::support::*;

/// Tables with a row per version, event or cell: a full scan of one grows with the
/// whole history or the whole matrix.
const LARGE: [&str; 3] = [
    "record_versions",
    "status_event_rows",
    "status_current_rows",
];

/// Statements that read a large table whole by design, each named by a part of its
/// text, with the table and why.
const WHOLE: [(&str, &str, &str); 1] = [(
    "SELECT ozgsync_fill_report_cells(scope_id, cell) FROM status_current_rows",
    "status_current_rows",
    "the report counts every municipal cell (a byte each, in table order)",
)];

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Runs every export against `db` and returns what its readers ran.
fn statements_of_the_exports(db: &Path, out: &Path) -> Vec<String> {
    let formats = [
        ReportFormat::Xlsx,
        ReportFormat::Html,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::Md,
    ];
    let mut jobs = Vec::new();
    for (i, format) in formats.into_iter().enumerate() {
        for (j, (as_of, since)) in [
            (None, None),
            (Some(date("2026-03-15")), Some(date("2026-02-15"))),
        ]
        .into_iter()
        .enumerate()
        {
            jobs.push(ExportJob::Report {
                land: Default::default(),
                format,
                part: None,
                as_of,
                since,
                out: out.join(format!("report-{i}-{j}")),
            });
        }
    }
    for (j, as_of) in [None, Some(date("2026-03-15"))].into_iter().enumerate() {
        jobs.push(ExportJob::Dashboards {
            land: Default::default(),
            out: out.join(format!("dashboards-{j}")),
            gzip: false,
            as_of,
            site: false,
        });
    }
    // One recording at a time in this process: the tests here run in parallel.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    store::statements::record(db);
    for job in &jobs {
        if let Err(e) = export::run_job(db, job) {
            let _ = store::statements::take();
            panic!("{job:?}: {e}");
        }
    }
    store::statements::take()
}

/// The plan of `sql` on `db`, one line per step (`detail` of `EXPLAIN QUERY PLAN`);
/// parameters left unbound (NULL), which does not change the plan's indexes.
fn plan(db: &Path, sql: &str) -> Vec<String> {
    let conn = store::open_reader(db).unwrap();
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    // A function an export registers on its own connection only (the report's
    // cell counter, say) is stood in for by one that returns NULL: the plan
    // depends on the tables and indexes, not on what the function does.
    for _ in 0..8 {
        match conn.prepare(&explain) {
            Err(e) => match e.to_string().split("no such function: ").nth(1) {
                Some(rest) => {
                    let name = rest.split_whitespace().next().unwrap().to_owned();
                    conn.create_scalar_function(
                        name.as_str(),
                        -1,
                        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
                        |_| Ok(rusqlite::types::Value::Null),
                    )
                    .unwrap();
                }
                None => panic!("planning {sql}: {e}"),
            },
            Ok(_) => break,
        }
    }
    let mut stmt = conn
        .prepare(&explain)
        .unwrap_or_else(|e| panic!("planning {sql}: {e}"));
    let mut rows = stmt.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        lines.push(row.get::<_, String>(3).unwrap());
    }
    lines
}

/// The large table a plan step scans whole, if any: `SCAN t` (SQLite ≥ 3.36 words
/// it so; older `SCAN TABLE t`), not `SCAN t USING … INDEX`.
fn full_scan(step: &str) -> Option<&'static str> {
    let rest = step.strip_prefix("SCAN ")?;
    let rest = rest.strip_prefix("TABLE ").unwrap_or(rest);
    if rest.contains(" USING ") {
        return None;
    }
    let table = rest.split_whitespace().next()?;
    LARGE.iter().copied().find(|t| *t == table)
}

/// Each `SELECT` the exports ran on `db` (its whitespace collapsed) and its plan.
fn plans_of(db: &Path) -> BTreeMap<String, Vec<String>> {
    let out = scratch();
    statements_of_the_exports(db, out.path())
        .iter()
        .filter(|s| {
            let head = s.trim_start().to_ascii_uppercase();
            head.starts_with("SELECT") || head.starts_with("WITH")
        })
        .map(|sql| {
            let text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            (text, plan(db, sql))
        })
        .collect()
}

/// The steps of `plans` that scan a large table whole where the statement is not
/// listed in [`WHOLE`].
fn full_scans(plans: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut faults = Vec::new();
    for (sql, steps) in plans {
        for step in steps {
            let Some(table) = full_scan(step) else {
                continue;
            };
            let allowed = WHOLE
                .iter()
                .any(|(part, t, _)| *t == table && sql.contains(part));
            if !allowed {
                faults.push(format!("{step}\n  in: {sql}\n  plan: {steps:?}"));
            }
        }
    }
    faults
}

fn migrated_schema19(dir: &Path) -> PathBuf {
    let db = dir.join("schema19.db");
    std::fs::copy(fixture("migration/schema19.db"), &db).unwrap();
    drop(store::open(&db).unwrap());
    db
}

fn text(plans: &BTreeMap<String, Vec<String>>) -> String {
    plans
        .iter()
        .map(|(sql, steps)| format!("{sql}\n    {}\n", steps.join("\n    ")))
        .collect()
}

/// A new database (the quick start's: every source, the demo's status, annotations
/// and EfA-Nachnutzung): no large table scanned whole but where [`WHOLE`] says why,
/// and every plan as the snapshot has it. A plan that changes (an index lost or no
/// longer chosen, a query rewritten) shows in the snapshot's diff for review, as a
/// slower report would not.
#[test]
fn the_exports_read_with_indexes_on_a_new_database() {
    let dir = scratch();
    let db = quick_start(dir.path());
    let plans = plans_of(&db);
    assert!(plans.len() >= 10, "only {} SELECTs recorded", plans.len());
    let faults = full_scans(&plans);
    assert!(
        faults.is_empty(),
        "full scans of large tables:\n{}",
        faults.join("\n")
    );
    insta::assert_snapshot!("export_plans", text(&plans));
}

/// A database migrated from schema 19 plans every statement it shares with a new
/// database the same way: a migration that loses or changes an index fails here.
#[test]
fn the_exports_plan_alike_on_a_migrated_database() {
    let dir = scratch();
    let migrated = plans_of(&migrated_schema19(dir.path()));
    let faults = full_scans(&migrated);
    assert!(
        faults.is_empty(),
        "full scans of large tables:\n{}",
        faults.join("\n")
    );
    let fresh_dir = scratch();
    let fresh = plans_of(&quick_start(fresh_dir.path()));
    let shared: Vec<&String> = migrated.keys().filter(|k| fresh.contains_key(*k)).collect();
    assert!(
        shared.len() >= 10,
        "only {} statements in common",
        shared.len()
    );
    for sql in shared {
        assert_eq!(
            migrated[sql], fresh[sql],
            "planned otherwise after migration: {sql}"
        );
    }
}

/// The check itself: with the index session 18 lost dropped by hand, the Ressort
/// cells' read plans otherwise (a range over every cell of its services).
#[test]
fn a_lost_index_changes_a_plan() {
    let dir = scratch();
    let db = quick_start(dir.path());
    let before = plans_of(&db);
    assert!(
        before
            .values()
            .flatten()
            .any(|s| s.contains("status_current_ressort")),
        "{}",
        text(&before)
    );
    let conn = store::open(&db).unwrap();
    conn.execute_batch("DROP INDEX status_current_ressort")
        .unwrap();
    drop(conn);
    let after = plans_of(&db);
    let changed: Vec<&String> = before
        .keys()
        .filter(|k| after.get(*k) != before.get(*k))
        .collect();
    assert!(!changed.is_empty(), "no plan changed:\n{}", text(&after));
}
