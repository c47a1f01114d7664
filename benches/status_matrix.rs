//! Benchmark: the Onlinedienst status matrix of 939 municipalities × 3,000 services
//! (2,817,000 events) imported as a CSV status report through `ozgsync status
//! import`, then `v_municipality_coverage` for all municipalities and `--as-of`
//! queries; baseline in the same run: the same rows through `sqlite3 .import`.
//! Also the cost of keeping the FTS index in sync on a 100k-row service release.
//!
//! Standalone (`cargo bench --bench status_matrix`) until the shared harness
//! (benches/ozgsync.rs) lands; [`status_matrix`] and [`fts_sync_cost`] are ready to
//! be registered there. Prints one line per measurement; targets: import < 15 s,
//! coverage < 1 s, as-of < 1 s.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ozgsync::fetch::{Payload, Validators};
use ozgsync::model::{Entity, Level, MunicipalityRecord, Record, ServiceRecord};
use ozgsync::parse::{Change, Item};
use ozgsync::status::Subject;
use ozgsync::store::{self, release};

const GEMEINDEN: usize = 939;
const SERVICES: usize = 3_000;
const STATUSES: [&str; 8] = [
    "nicht_begonnen",
    "geplant",
    "beauftragt",
    "in_umsetzung",
    "pilot",
    "produktiv",
    "eingestellt",
    "abgelehnt",
];

fn key(i: usize) -> String {
    format!("99{:03}{:03}{:03}000", 100 + i / 1000, i % 1000, 1 + i % 7)
}

fn ars(i: usize) -> String {
    // Land 03, region and Kreis spread, Verband and Gemeinde numbered.
    format!("03{:03}{:04}{:03}", 101 + i % 400, i / 10, i % 1000)
}

fn payload() -> Payload {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"bench").unwrap();
    Payload {
        file,
        sha256: format!("{:064x}", rand::random::<u64>()),
        size: 5,
        validators: Validators::default(),
        origin: "bench".into(),
    }
}

fn apply<T: Record + 'static>(conn: &mut rusqlite::Connection, entity: Entity, records: Vec<T>) {
    let meta = release::ReleaseMeta {
        source: entity.as_str().into(),
        kind: entity.as_str().into(),
        entity,
        mode: release::Mode::Full,
        location: "bench".into(),
        fetched_at: store::now_utc(),
    };
    let items = Box::new(records.into_iter().map(|r| {
        Ok(Item::Record {
            position: "bench".into(),
            change: Change::Upsert(r),
        })
    }));
    release::apply(conn, &meta, &mut payload(), items).unwrap();
}

fn services(n: usize, tag: &str) -> Vec<ServiceRecord> {
    (0..n)
        .map(|i| ServiceRecord {
            leistungsschluessel: key(i),
            bezeichnung: format!("Leistung {i} Straßenverkehr Ausweis {tag}"),
            leistungstyp: "lov".into(),
            typisierung: vec!["5".into()],
            synonyme: vec![format!("Synonym {i}"), "Führerschein".into()],
            ..Default::default()
        })
        .collect()
}

fn report(name: &str, secs: Duration, target: Option<f64>) {
    let s = secs.as_secs_f64();
    match target {
        Some(t) => println!(
            "{name:<58} {s:>8.3} s  (target < {t} s: {})",
            if s < t { "ok" } else { "MISSED" }
        ),
        None => println!("{name:<58} {s:>8.3} s"),
    }
}

/// The status-matrix case. Returns (import, coverage, as-of one service, as-of
/// whole matrix, sqlite3 baseline) durations.
pub fn status_matrix(dir: &Path) {
    let db = dir.join("matrix.db");
    let mut conn = store::open(&db).unwrap();
    apply(&mut conn, Entity::Service, services(SERVICES, ""));
    apply(
        &mut conn,
        Entity::Municipality,
        (0..GEMEINDEN)
            .map(|i| MunicipalityRecord {
                level: Level::Gemeinde,
                ars: ars(i),
                ags: None,
                name: format!("Gemeinde {i}"),
                textkennzeichen: Some("64".into()),
                kreis_ars: None,
                verband_ars: None,
                gebietsstand: "2025-11-30".into(),
                sitz: None,
            })
            .collect(),
    );
    // A third of the services annotated as municipal.
    {
        let tx = conn.transaction().unwrap();
        for i in (0..SERVICES).step_by(3) {
            tx.execute(
                "INSERT INTO annotations (leistungsschluessel, ressort_id, vollzug, umsetzungsweg, updated_at, updated_by)
                 VALUES (?1, 2, 'kommune', 'eigenloesung', ?2, 'bench')",
                rusqlite::params![key(i), store::now_utc()],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    drop(conn);

    // The report: one row per cell, dates spread over 2023–2024.
    let csv = dir.join("matrix.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(w, "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung").unwrap();
        let keys: Vec<String> = (0..SERVICES).map(key).collect();
        for g in 0..GEMEINDEN {
            let a = ars(g);
            for (s, k) in keys.iter().enumerate() {
                let n = g * SERVICES + s;
                let day = 1 + n % 28;
                let month = 1 + (n / 28) % 12;
                let year = 2023 + n % 2;
                writeln!(
                    w,
                    "{k};{a};{};{year}-{month:02}-{day:02};",
                    STATUSES[n % STATUSES.len()]
                )
                .unwrap();
            }
        }
    }
    let rows = GEMEINDEN * SERVICES;
    let size = std::fs::metadata(&csv).unwrap().len();
    println!(
        "status matrix: {rows} rows, {:.1} MB CSV",
        size as f64 / 1e6
    );

    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ozgsync"))
        .arg("--db")
        .arg(&db)
        .args(["status", "import"])
        .arg(&csv)
        .args(["--by", "bench"])
        .output()
        .unwrap();
    let import = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report("ozgsync status import (2.8 M rows)", import, Some(15.0));

    let conn = store::open_read_only(&db).unwrap();
    let start = Instant::now();
    let mut stmt = conn
        .prepare("SELECT ars, name, relevant, produktiv, share FROM v_municipality_coverage")
        .unwrap();
    let n = stmt.query_map([], |r| r.get::<_, i64>(2)).unwrap().count();
    drop(stmt);
    report(
        &format!("v_municipality_coverage, all {n} municipalities"),
        start.elapsed(),
        Some(1.0),
    );

    let date = chrono::NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
    let start = Instant::now();
    let cells = store::status::show(&conn, &Subject::Leika(key(1234)), Some(date)).unwrap();
    report(
        &format!("status show KEY --as-of 2023-12-31 ({} cells)", cells.len()),
        start.elapsed(),
        Some(1.0),
    );
    let start = Instant::now();
    let cells = store::status::show(&conn, &Subject::Leika(key(1234)), None).unwrap();
    report(
        &format!("status show KEY, current ({} cells)", cells.len()),
        start.elapsed(),
        Some(1.0),
    );
    let start = Instant::now();
    let produktiv: i64 = conn
        .query_row(
            "SELECT count(*) FROM status_current WHERE scope_kind = 'ars' AND scope = ?1 AND status = 'produktiv'",
            [ars(500)],
            |r| r.get(0),
        )
        .unwrap();
    report(
        &format!("current status of one municipality ({produktiv} produktiv)"),
        start.elapsed(),
        Some(1.0),
    );
    let start = Instant::now();
    let matrix = store::status::matrix_as_of(&conn, date).unwrap();
    report(
        &format!("whole matrix as of 2023-12-31 ({} cells)", matrix.len()),
        start.elapsed(),
        None,
    );
    drop(conn);

    // Baseline: the same rows through the sqlite3 shell into a plain table, and into
    // a table with the same as-of index.
    let sqlite3 = Command::new("sqlite3").arg("-version").output();
    if sqlite3.map(|o| o.status.success()).unwrap_or(false) {
        for (name, ddl) in [
            (
                "sqlite3 .import, plain table",
                "CREATE TABLE raw (key TEXT, ars TEXT, status TEXT, on_ TEXT, note TEXT);",
            ),
            (
                "sqlite3 .import, table with the as-of index",
                "CREATE TABLE raw (key TEXT, ars TEXT, status TEXT, on_ TEXT, note TEXT);
                 CREATE INDEX raw_asof ON raw(key, ars, on_);",
            ),
        ] {
            let base = dir.join("baseline.db");
            let _ = std::fs::remove_file(&base);
            let script = format!(
                "PRAGMA journal_mode = WAL;\n{ddl}\n.mode csv\n.separator ;\n.import --skip 1 {} raw\n",
                csv.display()
            );
            let start = Instant::now();
            let mut child = Command::new("sqlite3")
                .arg(&base)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success());
            report(name, start.elapsed(), None);
        }
    } else {
        println!("sqlite3 shell not installed: baseline skipped");
    }
}

/// The cost of the FTS triggers on a 100k-row service release: the same release
/// into a fresh database with and without the triggers.
pub fn fts_sync_cost(dir: &Path) {
    for with_triggers in [true, false] {
        let db = dir.join(format!("fts-{with_triggers}.db"));
        let mut conn = store::open(&db).unwrap();
        if !with_triggers {
            conn.execute_batch(
                "DROP TRIGGER search_version_added; DROP TRIGGER search_version_closed;",
            )
            .unwrap();
        }
        let start = Instant::now();
        apply(&mut conn, Entity::Service, services(100_000, "a"));
        let first = start.elapsed();
        let start = Instant::now();
        apply(&mut conn, Entity::Service, services(100_000, "b"));
        let changed = start.elapsed();
        let label = if with_triggers {
            "with FTS triggers"
        } else {
            "without FTS triggers"
        };
        report(
            &format!("100k services, first release, {label}"),
            first,
            None,
        );
        report(
            &format!("100k services, all changed, {label}"),
            changed,
            None,
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects a case.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let dir = tempfile::tempdir().unwrap();
    if wants("status_matrix") {
        status_matrix(dir.path());
    }
    if wants("fts_sync_cost") {
        fts_sync_cost(dir.path());
    }
}
