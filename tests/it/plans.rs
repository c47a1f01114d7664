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
//!
//! The CLI's reading commands (`service`, `municipality`, `status show`, `search`,
//! `diff`, ...) are checked the same way through the real binary: each runs with
//! `RUST_LOG=ozgsync::sql=trace`, which logs every statement a read connection
//! starts (`store::statements::TARGET`), and what it logged is planned.

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

/// The indexes of the large tables, with their table and the constraint that, alone,
/// still selects a whole part of it: every version of one entity, every municipal
/// cell. A `SCAN` of one of them reads its table whole, a `SEARCH` with only that
/// constraint the part whole.
const LARGE_INDEXES: [(&str, &str, &str); 3] = [
    ("record_versions_key", "record_versions", "entity=?"),
    ("record_versions_to", "record_versions", "entity=?"),
    (
        "status_current_by_scope",
        "status_current_rows",
        "scope_id>?",
    ),
];

/// The large table a plan step reads whole, or a whole part of (through one of
/// [`LARGE_INDEXES`]), if any.
fn whole_read(step: &str) -> Option<&'static str> {
    if let Some(table) = full_scan(step) {
        return Some(table);
    }
    let (verb, rest) = step.split_once(' ')?;
    let after = rest.split(" INDEX ").nth(1)?;
    let (index, constraint) = after.split_once(' ').unwrap_or((after, ""));
    let (_, table, part) = LARGE_INDEXES.iter().find(|(i, _, _)| *i == index)?;
    match verb {
        "SCAN" => Some(table),
        "SEARCH" if constraint == format!("({part})") => Some(table),
        _ => None,
    }
}

/// Each `SELECT` the exports ran on `db` (its whitespace collapsed) and its plan.
fn plans_of(db: &Path) -> BTreeMap<String, Vec<String>> {
    let out = scratch();
    statements_of_the_exports(db, out.path())
        .iter()
        .filter(|s| is_select(s))
        .map(|sql| {
            let text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            (text, plan(db, sql))
        })
        .collect()
}

/// The steps of `plans` that scan a large table whole where the statement is not
/// listed in [`WHOLE`].
fn full_scans(plans: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    faults(plans, full_scan, &WHOLE)
}

/// The steps of `plans` that read a large table, or one entity's versions or every
/// municipal cell, whole, where the statement is not listed in `allowed`: a
/// reading command asks about one thing, an export about all of them.
fn whole_reads(plans: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    faults(plans, whole_read, &READER_WHOLE)
}

fn faults(
    plans: &BTreeMap<String, Vec<String>>,
    rule: fn(&str) -> Option<&'static str>,
    allowed: &[(&str, &str, &str)],
) -> Vec<String> {
    let mut faults = Vec::new();
    for (sql, steps) in plans {
        for step in steps {
            let Some(table) = rule(step) else {
                continue;
            };
            let listed = allowed
                .iter()
                .any(|(part, t, _)| *t == table && sql.contains(part));
            if !listed {
                faults.push(format!("{step}\n  in: {sql}\n  plan: {steps:?}"));
            }
        }
    }
    faults
}

/// The reading commands' statements that read one entity's versions whole by
/// design, each named by a part of its text, with the table and why.
const READER_WHOLE: [(&str, &str, &str); 1] = [(
    "instr(fold(json_extract(v.data, '$.name')), ?2)",
    "record_versions",
    "`municipality NAME` matches a fragment against every municipality's current and \
     earlier names, folded (about 16,000 records for all of Germany)",
)];

/// The reading commands run through the binary, each with the arguments that reach
/// its queries on the quick start's database (a second LeiKa release imported, so
/// that `diff` has two to compare): a key, an ARS, an AGS, a name, an EfA id, a
/// Stichtag.
const READERS: &[&[&str]] = &[
    &["releases"],
    &["releases", "--source", "leika"],
    &["rejects", "1"],
    &["diff", "leika"],
    &["diff", "leika", "1", "7"],
    &["service", "99001001002000"],
    &["municipality", "031010000000"],
    &["municipality", "03101000"],
    &["municipality", "braunschweig"],
    &["status"],
    &["status", "show", "EFA-0001"],
    &["status", "show", "EFA-0001", "--as-of", "2025-06-01"],
    &["status", "show", "EFA-0001", "--history"],
    &["status", "show", "EFA-0001", "--ars", "031010000000"],
    &["status", "show", "99001001002000"],
    &["search", "parken"],
    &["search", "Straße Anmeldung"],
    &["efa-nachnutzung", "show", "EFA-0001"],
    &["annotations", "show", "99001035000000"],
    &["annotations", "orphans"],
    &["ressort", "list"],
];

/// The statements the binary logged as `store::statements::TARGET` (its JSON log
/// lines on stderr), in the order first logged, each once.
fn logged_statements(stderr: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in stderr.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["target"] != store::statements::TARGET {
            continue;
        }
        if let Some(sql) = event["fields"]["message"].as_str() {
            if !seen.iter().any(|s| s == sql) {
                seen.push(sql.to_owned());
            }
        }
    }
    seen
}

/// Each `SELECT` the reading commands ran on `db` and its plan; panics when a
/// command fails or logs no statement (the log target not honoured).
fn plans_of_the_readers(db: &Path) -> BTreeMap<String, Vec<String>> {
    let mut plans = BTreeMap::new();
    for args in READERS {
        let run = collect(
            command(root())
                .env("RUST_LOG", "ozgsync::sql=trace")
                .args(["--log-format", "json", "--db"])
                .arg(db)
                .args(*args),
        );
        run.assert_ok();
        let statements = logged_statements(&run.stderr);
        assert!(
            !statements.is_empty(),
            "{args:?} logged no statement:\n{}",
            run.stderr
        );
        for sql in statements.iter().filter(|s| is_select(s)) {
            let text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            plans.entry(text).or_insert_with(|| plan(db, sql));
        }
    }
    plans
}

fn is_select(sql: &str) -> bool {
    let head = sql.trim_start().to_ascii_uppercase();
    head.starts_with("SELECT") || head.starts_with("WITH")
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

/// The CLI's reading commands on the quick start's database with a second LeiKa
/// release: no large table, entity or municipal matrix read whole but where
/// [`READER_WHOLE`] says why, every plan as the snapshot has it, and none of them
/// writes (the file's bytes unchanged).
#[test]
fn the_reading_commands_read_with_indexes() {
    let dir = scratch();
    let db = quick_start(dir.path());
    run_db(
        &db,
        &["import", "leika", "fixtures/leika/leika_release2.csv"],
    )
    .assert_ok();
    let before = std::fs::read(&db).unwrap();
    let plans = plans_of_the_readers(&db);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a reading command wrote"
    );
    assert!(plans.len() >= 20, "only {} SELECTs logged", plans.len());
    let faults = whole_reads(&plans);
    assert!(
        faults.is_empty(),
        "full scans of large tables:\n{}",
        faults.join("\n")
    );
    insta::assert_snapshot!("reader_plans", text(&plans));
}

/// What a coordinator filters by in Datasette or `query`: one service's status in
/// the status views, or one municipality's in `status_current`. Each reads that
/// service's or municipality's cells and events by an index, not the matrix (before
/// schema 0022 a subject alone matched no index: 8.1 s for `status_current` of one
/// service on the bench's 2.8 M cells).
#[test]
fn the_status_views_filtered_by_a_service_read_its_cells_only() {
    let dir = scratch();
    let db = quick_start(dir.path());
    let statements = [
        "SELECT * FROM status_current WHERE subject = ?1",
        "SELECT * FROM status_current WHERE scope = ?1",
        "SELECT * FROM v_status_current WHERE subject = ?1",
        "SELECT * FROM v_status_history WHERE subject = ?1",
        "SELECT * FROM status_events WHERE subject = ?1",
        "SELECT efa_id, stage, kommunen_produktiv FROM v_efa_nachnutzung WHERE efa_id = ?1",
    ];
    let plans: BTreeMap<String, Vec<String>> = statements
        .iter()
        .map(|sql| (sql.to_string(), plan(&db, sql)))
        .collect();
    let faults = whole_reads(&plans);
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    for (sql, steps) in &plans {
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN ")
                && !s.contains(" USING ")
                && !s.contains("VIRTUAL")),
            "{sql} scans a table:\n{steps:#?}"
        );
    }
}
