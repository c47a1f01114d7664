//! The benchmark cases. Each case is a named function that generates its input,
//! drives the release binary (and any baseline) through `measure`, and returns rows
//! for the results table plus the aims it checks. To add a case, write a
//! `fn(&Ctx) -> Result<CaseReport, BenchError>` and list it in [`CASES`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::gen;
use super::measure::{measure, measure_interleaved, Interleaved, Measurement};
use super::report::{fmt_duration, fmt_rss, rss_under, Aim, CaseReport, Comparison};
use super::{
    copy_db, db_size, file_mb, generate, import_lower_saxony, imported, ozgsync, remove_db, row,
    sql_err, sqlite3_script, write, BenchError, Ctx, SEED,
};

pub struct Case {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&Ctx) -> Result<CaseReport, BenchError>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "leika_100k",
        about: "LeiKa CSV, 100,000 rows: cold import, unchanged re-import, next release (5 % changed), sqlite3 .import baseline",
        run: leika_100k,
    },
    Case {
        name: "exports_matrix",
        about: "Exports from a 939 Gemeinden × 3,000 services status matrix (2.8 million events, 1,500 EfA services): dashboards cold, unchanged re-export, XLSX report, dashboards cold with observed availability",
        run: exports_matrix,
    },
    Case {
        name: "status_matrix",
        about: "Status report of 939 Gemeinden × 3,000 services (2.8 million rows): status import, sqlite3 .import baseline, v_municipality_coverage, status --as-of",
        run: super::status::status_matrix,
    },
    Case {
        name: "status_xlsx",
        about: "Status report as an Excel workbook, ~100,000 and ~1,000,000 rows (939 Gemeinden × 107 and 1,065 keys): status import as XLSX and as CSV of the same events, sqlite3 .import baseline; peak RSS",
        run: super::status::status_xlsx,
    },
    Case {
        name: "status_growth",
        about: "Status matrix of all 10,752 Gemeinden of Germany × 26, 260, 2,600 keys (0.28 M, 2.8 M, 28 M events): status import, sqlite3 .import baseline, database size, v_municipality_coverage, status --as-of, dashboards --land all cold and unchanged (--growth-max EVENTS leaves out larger sizes)",
        run: super::growth::status_growth,
    },
    Case {
        name: "gv100ad_national",
        about: "GV100AD-like national directory (16 Länder, ~10,750 Gemeinden): cold import, unchanged re-import",
        run: gv100ad_national,
    },
];

/// Pairs of the LeiKa cold import and its baseline at least, whatever `--reps`
/// says: one pair takes ~0.5 s, and the ratio's aim (≤ 1.5×) is close enough to
/// the host's run-to-run spread (benches/HISTORY.md, sessions 24 and 25) that the
/// median of five pairs decided it by chance in some runs.
const LEIKA_COLD_PAIRS: usize = 11;

fn leika_100k(ctx: &Ctx) -> Result<CaseReport, BenchError> {
    const CASE: &str = "leika_100k";
    const ROWS: usize = 100_000;
    let rows_arg = ROWS.to_string();
    let seed_arg = SEED.to_string();
    let leika = ["leika", "--rows", &rows_arg, "--seed", &seed_arg];
    let csv = ctx.dir.join("leika_100k.csv");
    generate(ctx, &leika, &csv)?;
    let utf8 = ctx.dir.join("leika_100k.utf8.csv");
    generate(ctx, &[&leika[..], &["--utf8"]].concat(), &utf8)?;
    let next_csv = ctx.dir.join("leika_100k_next.csv");
    let next = [
        "leika-next",
        "--rows",
        &rows_arg,
        "--seed",
        &seed_arg,
        "--share",
        "0.05",
    ];
    let changes = generate(ctx, &next, &next_csv)?;
    let records = ROWS as u64;
    let mut report = CaseReport::default();

    // The cold import and the baseline are measured alternately (run i of ours, then
    // run i of sqlite3), so both see the same minutes of the host. A failing ozgsync
    // still leaves the baseline in the table; the later ozgsync steps need the cold
    // import.
    let db = ctx.dir.join("leika.db");
    let base_db = ctx.dir.join("baseline.db");
    let script = ctx.dir.join("baseline.sql");
    let ours_cmd = || Ok(ozgsync(ctx, &db, "leika", &csv));
    let (cold, base) = match &ctx.sqlite3 {
        None => {
            eprintln!("{CASE}: cold import");
            (
                measure(ctx.reps.max(LEIKA_COLD_PAIRS), || remove_db(&db), ours_cmd),
                None,
            )
        }
        Some(_) => {
            eprintln!("{CASE}: cold import, alternated with the sqlite3 baseline");
            write(&script, sqlite_import_script(&utf8).as_bytes())?;
            let Interleaved { ours, base } = measure_interleaved(
                ctx.reps.max(LEIKA_COLD_PAIRS),
                None,
                || remove_db(&db),
                ours_cmd,
                || remove_db(&base_db),
                || sqlite3_script(&base_db, &script),
            );
            (ours, Some(base?))
        }
    };
    let baseline = match base {
        Some(m) => Some((m, sqlite_count(&base_db)?)),
        None => None,
    };

    let ozgsync_steps = || -> Result<[Measurement; 3], BenchError> {
        let cold = cold?;
        let db_note = imported(&db)?;
        let snapshot = ctx.dir.join("leika_base.db");
        copy_db(&db, &snapshot)?;
        eprintln!("{CASE}: unchanged re-import");
        let again = measure(ctx.reps, || Ok(()), || Ok(ozgsync(ctx, &db, "leika", &csv)))?;
        eprintln!("{CASE}: next release");
        let next_db = ctx.dir.join("leika_next.db");
        let next_run = measure(
            ctx.reps,
            || copy_db(&snapshot, &next_db),
            || Ok(ozgsync(ctx, &next_db, "leika", &next_csv)),
        )?;
        eprintln!("{CASE}: {db_note}");
        Ok([cold, again, next_run])
    };
    let steps = ozgsync_steps();
    let comparison = match (&steps, &baseline) {
        (Ok([cold, ..]), Some((base, _))) => Some(Comparison {
            what: "LeiKa 100k cold import vs sqlite3 .import".into(),
            ours: cold.clone(),
            base: base.clone(),
            threads: "2 busy (CSV parser, SQLite writer), plus payload gzip and early \
                      writeback; sqlite3: 1"
                .into(),
        }),
        _ => None,
    };
    let ratio = comparison.as_ref().map(|c| c.pair().wall_ratio());
    let beside = comparison
        .as_ref()
        .map_or(String::new(), |c| format!(", {}", c.summary()));

    match &steps {
        Ok([cold, again, next_run]) => {
            let vs = ratio.map_or(String::new(), |r| {
                format!("; {r:.2}× sqlite3 .import by wall medians{beside}")
            });
            let db_size = db_size(&ctx.dir.join("leika.db"));
            report.rows.push(row(
                CASE,
                "cold import (fresh db)",
                records,
                Some(cold.clone()),
                format!(
                    "Windows-1252 file {:.1} MB, database {:.1} MB{vs}",
                    file_mb(&csv),
                    db_size as f64 / 1e6
                ),
            ));
            report.rows.push(row(
                CASE,
                "unchanged re-import",
                records,
                Some(again.clone()),
                "same file into the imported db".into(),
            ));
            report.rows.push(row(
                CASE,
                "next release (5 % changed)",
                records,
                Some(next_run.clone()),
                changes.clone(),
            ));
        }
        Err(e) => {
            report.failed = true;
            report.rows.push(row(
                CASE,
                "FAILED: ozgsync import",
                records,
                None,
                e.to_string().replace('\n', " "),
            ));
        }
    }
    report.rows.push(match (&baseline, &ctx.sqlite3) {
        (Some((m, count)), Some(version)) => row(
            CASE,
            "baseline: sqlite3 .import",
            records,
            Some(m.clone()),
            format!(
                "UTF-8 copy, 11 TEXT columns, {count} rows loaded; sqlite3 {}",
                version.split_whitespace().next().unwrap_or("")
            ),
        ),
        _ => row(
            CASE,
            "baseline: sqlite3 .import",
            records,
            None,
            "sqlite3 CLI not installed (apt-get install sqlite3)".into(),
        ),
    });

    let (cold, again, peak) = match &steps {
        Ok([cold, again, next_run]) => (
            Some(cold),
            Some(again),
            [cold, again, next_run]
                .iter()
                .map(|m| m.peak_rss_kib())
                .max(),
        ),
        Err(_) => (None, None, None),
    };
    report.comparisons.extend(comparison);
    report.aims.push(Aim {
        what: "LeiKa 100k cold import vs sqlite3 .import".into(),
        target: "≤ 1.5× baseline (issue 15)".into(),
        measured: match (ratio, cold, &baseline) {
            (Some(r), Some(cold), Some((base, _))) => format!(
                "{r:.2}× ({} vs {}){}",
                fmt_duration(cold.median()),
                fmt_duration(base.median()),
                beside.replacen(',', ";", 1)
            ),
            (_, None, _) => "ozgsync import failed".into(),
            _ => "baseline missing".into(),
        },
        met: ratio.map(|r| r <= 1.5),
    });
    report.aims.push(Aim {
        what: "LeiKa 100k unchanged re-import".into(),
        target: "< 50 ms".into(),
        measured: again.map_or("ozgsync import failed".into(), |m| {
            format!("{} median", fmt_duration(m.median()))
        }),
        met: again.map(|m| m.median().as_millis() < 50),
    });
    report.aims.push(Aim {
        what: "LeiKa 100k peak RSS of ozgsync (all steps)".into(),
        target: "< 100 MB".into(),
        measured: peak.map_or("ozgsync import failed".into(), fmt_rss),
        met: peak.map(|p| rss_under(p, 100)),
    });
    Ok(report)
}

/// The baseline: the sqlite3 shell's own CSV import into a table of the 11 columns.
fn sqlite_import_script(utf8_csv: &Path) -> String {
    let columns: Vec<String> = gen::LEIKA_HEADER
        .iter()
        .map(|c| format!("\"{c}\" TEXT"))
        .collect();
    format!(
        "CREATE TABLE leika({});\n.mode csv\n.separator ;\n.import --skip 1 \"{}\" leika\n",
        columns.join(", "),
        utf8_csv.display()
    )
}

fn sqlite_count(db: &Path) -> Result<String, BenchError> {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("SELECT count(*) FROM leika;")
        .output()
        .map_err(|source| BenchError::Spawn {
            what: "sqlite3".into(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn gv100ad_national(ctx: &Ctx) -> Result<CaseReport, BenchError> {
    const CASE: &str = "gv100ad_national";
    let file = ctx.dir.join("GV100AD_national.txt");
    let summary = generate(ctx, &["gv100ad", "--seed", &SEED.to_string()], &file)?;
    // One record per line; counting newlines keeps this process small.
    let text =
        fs::read(&file).map_err(|e| BenchError::io(format!("read {}", file.display()), e))?;
    let records = text.iter().filter(|&&b| b == b'\n').count() as u64;
    drop(text);
    let mut report = CaseReport::default();

    let db = ctx.dir.join("gv100ad.db");
    eprintln!("{CASE}: cold import");
    let cold = measure(
        ctx.reps,
        || remove_db(&db),
        || Ok(ozgsync(ctx, &db, "gv100ad", &file)),
    )?;
    let db_note = imported(&db)?;
    report.rows.push(row(
        CASE,
        "cold import (fresh db)",
        records,
        Some(cold),
        format!("{summary}, {:.1} MB; {db_note}", file_mb(&file)),
    ));
    eprintln!("{CASE}: unchanged re-import");
    let again = measure(
        ctx.reps,
        || Ok(()),
        || Ok(ozgsync(ctx, &db, "gv100ad", &file)),
    )?;
    report.rows.push(row(
        CASE,
        "unchanged re-import",
        records,
        Some(again),
        "same file into the imported db".into(),
    ));
    Ok(report)
}

/// Fills a database for the export case: the real Lower Saxony GV100AD fixture
/// through the binary, then (in SQL, so this process holds no rows) 3,000 LeiKa keys
/// executed by the municipalities, 1,500 EfA services covering half of them, and one
/// status event per Gemeinde × key (2,817,000 events).
fn exports_db(ctx: &Ctx, db: &Path) -> Result<(), BenchError> {
    import_lower_saxony(ctx, db)?;
    let sql_err = |e: rusqlite::Error| BenchError::Child {
        what: "filling the export database".into(),
        detail: e.to_string(),
    };
    let conn = rusqlite::Connection::open(db).map_err(sql_err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
         BEGIN;
         INSERT INTO sources (name, kind, location, updated_at) VALUES ('efa-bench', 'efa', 'bench', '2026-01-01T00:00:00Z');
         INSERT INTO releases (source, kind, entity, mode, location, fetched_at, status)
             VALUES ('efa-bench', 'efa', 'efa_service', 'full', 'bench', '2026-01-01T00:00:00Z', 'applied');
         CREATE TEMP TABLE n(i INTEGER PRIMARY KEY);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO n SELECT i FROM c;
         INSERT INTO record_versions (entity, key, valid_from, valid_to, hash, data)
             SELECT 'efa_service', printf('EFA-%04d', i), (SELECT max(release_id) FROM releases), NULL, 'h' || i,
                    json_object('name', 'EfA-Onlinedienst ' || i, 'ozg_ids', json_array(printf('%05d', 10000 + i % 575)),
                                'leistungsschluessel', json_array(printf('99%012d', i * 2)),
                                'themenfeld', 'bauen_wohnen', 'federfuehrendes_land', 'NW',
                                'reifegrad', json_object('modell', '1.1', 'stufe', i % 5),
                                'url', 'https://example.org/efa/' || i)
             FROM n WHERE i <= 1500;
         INSERT INTO annotations (leistungsschluessel, ressort_id, vollzug, umsetzungsweg, efa_id, updated_at, updated_by)
             SELECT printf('99%012d', i), 1 + i % 11, 'kommune',
                    CASE WHEN i % 2 = 0 THEN 'efa' ELSE 'eigenloesung' END,
                    CASE WHEN i % 2 = 0 THEN printf('EFA-%04d', i / 2) END,
                    '2026-01-01T00:00:00Z', 'bench'
             FROM n;
         CREATE TEMP TABLE g(i INTEGER PRIMARY KEY, ars TEXT NOT NULL);
         INSERT INTO g (ars) SELECT ars FROM v_municipalities WHERE is_gemeinde ORDER BY ars;
         -- One report with one event per cell, written the way store::status::record
         -- writes: into the integer tables under the status_events view (ids, YYYYMMDD
         -- dates, status ordinals; schema/0013), the derived tables filled set-wise.
         INSERT INTO status_batches (batch_id, origin, recorded_at, recorded_by, last_event_id)
             VALUES (1, 'bench', '2026-01-01T00:00:00Z', 'bench', (SELECT count(*) FROM g) * (SELECT count(*) FROM n));
         INSERT INTO status_subjects (subject_id, subject_kind, subject)
             SELECT i, 'leika', printf('99%012d', i) FROM n;
         INSERT INTO status_scopes (scope_id, scope_kind, scope) SELECT i, 'ars', ars FROM g;
         INSERT INTO status_event_rows (subject_id, scope_id, effective_on, event_id, status, batch_id)
             SELECT n.i, g.i,
                    CAST(strftime('%Y%m%d', '2025-01-01', '+' || ((n.i + g.i) % 540) || ' days') AS INTEGER),
                    row_number() OVER (ORDER BY n.i, g.i),
                    (SELECT code FROM status_codes WHERE status =
                        CASE (n.i * 7 + g.i) % 8 WHEN 0 THEN 'nicht_begonnen' WHEN 1 THEN 'geplant' WHEN 2 THEN 'beauftragt'
                             WHEN 3 THEN 'in_umsetzung' WHEN 4 THEN 'pilot' WHEN 7 THEN 'eingestellt' ELSE 'produktiv' END),
                    1
             FROM g, n ORDER BY n.i, g.i;
         INSERT INTO status_current_rows (subject_id, scope_id, status, effective_on, event_id, cell)
             SELECT subject_id, scope_id, status, effective_on, event_id,
                    (effective_on * 16 + status) << 31
             FROM status_event_rows;
         INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
             SELECT p.scope_kind, p.scope, 'leika', k.status, 1, count(*)
             FROM status_current_rows c
             JOIN status_scopes p ON p.scope_id = c.scope_id
             JOIN status_codes k ON k.code = c.status
             GROUP BY 1, 2, 3, 4;
         COMMIT;",
    )
    .map_err(sql_err)?;
    Ok(())
}

fn exports_matrix(ctx: &Ctx) -> Result<CaseReport, BenchError> {
    const CASE: &str = "exports_matrix";
    const AS_OF: &str = "2026-06-30";
    let db = ctx.dir.join("exports.db");
    remove_db(&db)?;
    eprintln!("{CASE}: building the status matrix");
    exports_db(ctx, &db)?;
    let events: u64 = rusqlite::Connection::open(&db)
        .and_then(|c| c.query_row("SELECT count(*) FROM status_events", [], |r| r.get(0)))
        .map_err(|e| BenchError::Child {
            what: "counting events".into(),
            detail: e.to_string(),
        })?;
    let out = ctx.dir.join("dashboards");
    let export = |args: &[&str]| {
        let mut cmd = Command::new(&ctx.bin);
        cmd.current_dir(&ctx.dir)
            .env_remove("OZGSYNC_DB")
            .arg("--db")
            .arg(&db)
            .arg("export")
            .args(args);
        cmd
    };
    let out_s = out.to_string_lossy().into_owned();
    let dash_args = ["dashboards", "--as-of", AS_OF, "--out", out_s.as_str()];
    let mut report = CaseReport::default();

    let remove = |dir: &Path| {
        fs::remove_dir_all(dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| BenchError::io(format!("remove {}", dir.display()), e))
    };
    // Each run writes into a new empty directory; the runs' outputs are removed
    // after the step. Removing the last output right before the next run would
    // make this kernel's journal-less ext4 check every just-freed inode of the
    // directory's group for each new file (`recently_deleted`, a 30 s window) unless
    // the set's directories land in another group, which `publish` sees to since
    // session 11; the row below measures that case separately (exports of a real
    // deployment are hours apart).
    eprintln!("{CASE}: dashboards into an empty directory");
    let fresh = std::cell::Cell::new(0usize);
    let fresh_dir = |n: usize| ctx.dir.join(format!("dashboards-cold-{n}"));
    let cold = measure(
        ctx.reps,
        || Ok(()),
        || {
            let n = fresh.get() + 1;
            fresh.set(n);
            let dir = fresh_dir(n).to_string_lossy().into_owned();
            Ok(export(&["dashboards", "--as-of", AS_OF, "--out", &dir]))
        },
    )?;
    for n in 1..=fresh.get() {
        remove(&fresh_dir(n))?;
    }
    eprintln!("{CASE}: dashboards into a directory just emptied");
    let emptied = measure(ctx.reps, || remove(&out), || Ok(export(&dash_args)))?;
    let files = count_files(&out);
    let bytes = dir_bytes(&out);
    let before = snapshot(&out);
    eprintln!("{CASE}: unchanged re-export");
    let again = measure(ctx.reps, || Ok(()), || Ok(export(&dash_args)))?;
    let rewritten = before
        .iter()
        .filter(|(p, id)| snapshot_one(p) != Some(*id))
        .count();
    report.rows.push(row(
        CASE,
        "dashboards, empty DIR",
        events,
        Some(cold.clone()),
        format!(
            "{files} files, {:.1} MB; 939 Gemeinden, Verbände, 45 Kreise",
            bytes as f64 / 1e6
        ),
    ));
    report.rows.push(row(
        CASE,
        "dashboards, DIR removed right before (not an aim; see note)",
        events,
        Some(emptied),
        "previous set deleted just before; publish makes the set's directories where ext4 has no just-freed inodes"
            .into(),
    ));
    report.rows.push(row(
        CASE,
        "dashboards, unchanged re-export",
        events,
        Some(again.clone()),
        format!("{rewritten} of {files} files rewritten (inode or mtime changed)"),
    ));

    let xlsx = ctx.dir.join("report.xlsx");
    let xlsx_s = xlsx.to_string_lossy().into_owned();
    eprintln!("{CASE}: XLSX report");
    let rep = measure(
        ctx.reps,
        || Ok(()),
        || {
            Ok(export(&[
                "report",
                "--format",
                "xlsx",
                "--as-of",
                AS_OF,
                "--out",
                xlsx_s.as_str(),
            ]))
        },
    )?;
    report.rows.push(row(
        CASE,
        "report --format xlsx (1,500 EfA services)",
        1500,
        Some(rep.clone()),
        format!(
            "{:.2} MB; includes reading every municipal cell (a byte each) for the counts",
            file_mb(&xlsx)
        ),
    ));

    // Last, as it changes the database: observed availability (PVOG) for one
    // service in a hundred in every Gemeinde, so the cost of the rows' look-ups of
    // what was observed (made for every Gemeinde × service once anything was
    // observed) shows. A new release of entity `availability`, as a sync writes it.
    let observed = with_availability(&db)?;
    eprintln!("{CASE}: dashboards with observed availability into an empty directory");
    let seen_dir = |n: usize| ctx.dir.join(format!("dashboards-seen-{n}"));
    let seen_runs = std::cell::Cell::new(0usize);
    let seen = measure(
        ctx.reps,
        || Ok(()),
        || {
            let n = seen_runs.get() + 1;
            seen_runs.set(n);
            let dir = seen_dir(n).to_string_lossy().into_owned();
            Ok(export(&["dashboards", "--as-of", AS_OF, "--out", &dir]))
        },
    )?;
    let seen_bytes = dir_bytes(&seen_dir(1));
    for n in 1..=seen_runs.get() {
        remove(&seen_dir(n))?;
    }
    report.rows.push(row(
        CASE,
        "dashboards, empty DIR, with observed availability",
        events,
        Some(seen),
        format!(
            "{observed} observations (1 service in 100 per Gemeinde); {:.1} MB",
            seen_bytes as f64 / 1e6
        ),
    ));

    // Aims of issue 15 (the earlier ones were < 2 s, and < 1 s for the report).
    report.aims.push(Aim {
        what: "Dashboards from the 2.8M-event matrix, cold".into(),
        target: "< 0.5 s".into(),
        measured: format!("{} median", fmt_duration(cold.median())),
        met: Some(cold.median().as_secs_f64() < 0.5),
    });
    report.aims.push(Aim {
        what: "Unchanged dashboard re-export".into(),
        target: "< 50 ms".into(),
        measured: format!("{} median", fmt_duration(again.median())),
        met: Some(again.median().as_secs_f64() < 0.05),
    });
    report.aims.push(Aim {
        what: "Unchanged dashboard re-export rewrites no file".into(),
        target: "0 files".into(),
        measured: format!("{rewritten} files"),
        met: Some(rewritten == 0),
    });
    report.aims.push(Aim {
        what: "XLSX report, 1,500 EfA services".into(),
        target: "< 0.3 s".into(),
        measured: format!("{} median", fmt_duration(rep.median())),
        met: Some(rep.median().as_secs_f64() < 0.3),
    });
    Ok(report)
}

/// Adds a release of observed availability to the export database: every
/// hundredth service of [`exports_db`] in every Gemeinde, a quarter of them seen
/// but not ok. Returns the number of observations.
fn with_availability(db: &Path) -> Result<u64, BenchError> {
    let what = "adding observed availability";
    let conn = rusqlite::Connection::open(db).map_err(sql_err(what))?;
    conn.execute_batch(
        "BEGIN;
         INSERT INTO sources (name, kind, location, updated_at)
             VALUES ('availability-bench', 'availability', 'bench', '2026-01-01T00:00:00Z');
         INSERT INTO releases (source, kind, entity, mode, location, fetched_at, status)
             VALUES ('availability-bench', 'availability', 'availability', 'full', 'bench',
                     '2026-01-01T00:00:00Z', 'applied');
         CREATE TEMP TABLE seen_g(i INTEGER PRIMARY KEY, ars TEXT NOT NULL);
         INSERT INTO seen_g (ars) SELECT ars FROM v_municipalities WHERE is_gemeinde ORDER BY ars;
         INSERT INTO record_versions (entity, key, valid_from, valid_to, hash, data)
             WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 100 FROM n WHERE i < 3000)
             SELECT 'availability', g.ars || ':' || printf('99%012d', n.i),
                    (SELECT max(release_id) FROM releases), NULL, 'h' || g.i || ':' || n.i,
                    json_object('ars', g.ars, 'leistungsschluessel', printf('99%012d', n.i),
                                'online_status', CASE WHEN (g.i + n.i / 100) % 4 = 0 THEN 'nicht ok' ELSE 'ok' END,
                                'url', 'https://example.org/' || g.ars || '/' || n.i)
             FROM seen_g g, n;
         COMMIT;",
    )
    .map_err(sql_err(what))?;
    conn.query_row(
        "SELECT count(*) FROM record_versions WHERE entity = 'availability'",
        [],
        |r| r.get(0),
    )
    .map_err(sql_err(what))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
}

fn count_files(dir: &Path) -> usize {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.len()
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// (inode, mtime in ns) of a file.
fn snapshot_one(p: &Path) -> Option<(u64, i128)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(p).ok()?;
    Some((
        m.ino(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    ))
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, (u64, i128))> {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.into_iter()
        .filter_map(|p| snapshot_one(&p).map(|s| (p, s)))
        .collect()
}
