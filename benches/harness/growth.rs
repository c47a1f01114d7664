//! The growth case (issue 15, "Scale"): the status matrix of the whole of Germany
//! at three sizes, each ten times the one before — every Gemeinde of the generated
//! national GV100AD directory (10,752) × 26, 260 and 2,600 LeiKa keys, i.e. 0.28 M,
//! 2.8 M and 28 M events — so BENCHMARKS.md shows how each cost grows with the
//! matrix. Per size, through the release binary: `status import` (and sqlite3
//! `.import` of the same file as the baseline), the database size, `query SELECT *
//! FROM v_municipality_coverage`, `status show KEY --as-of`, and `export dashboards
//! --land all` cold and unchanged.
//!
//! Everything the steps read is written through the binary (GV100AD, LeiKa, the
//! annotation sheet, the status report), not by SQL into the tables, so the case
//! does not depend on how the store lays its tables out.
//!
//! The top size takes minutes and a few GB of disk: `--growth-max EVENTS` leaves
//! out every size above EVENTS, and a size whose files would not fit the free disk
//! is skipped with a note. Every child runs under `--rss-limit-mib` (default 8 GiB):
//! a child that passes it is stopped and the size reported as not fitting, the
//! steps after it at that size are not run.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;

use super::measure::{measure_interleaved, measure_limited, Interleaved, Measurement};
use super::report::{fmt_duration, fmt_mib, rss_under, Aim, CaseReport, Comparison, Row};
use super::{
    bin_cmd, copy_db, db_size, gemeinden, generate, key, ozgsync, remove_db, row, run_ok, sql_err,
    sqlite3_script, status_baseline_script, write_status_report, BenchError, Ctx, SEED,
};

const CASE: &str = "status_growth";
/// LeiKa keys per size; the Gemeinden are always all of Germany's.
const KEYS: [usize; 3] = [26, 260, 2_600];
const STATUS_AS_OF: &str = "2025-06-30";
const EXPORT_AS_OF: &str = "2026-06-30";

fn millions(events: u64) -> String {
    format!("{:.2} M", events as f64 / 1e6)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> BenchError + '_ {
    move |e| BenchError::io(format!("write {}", path.display()), e)
}

/// A LeiKa CSV of `keys` current services (UTF-8, the download's header).
fn write_leika(path: &Path, keys: usize) -> Result<(), BenchError> {
    let mut out = BufWriter::new(fs::File::create(path).map_err(io_err(path))?);
    writeln!(out, "{}", super::gen::LEIKA_HEADER.join(";")).map_err(io_err(path))?;
    for i in 0..keys {
        writeln!(out, "{};;;;;Leistung {i};;1;01.01.2025 00:00;;", key(i)).map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))
}

/// The annotation sheet that makes every key executed by the municipalities.
fn write_annotations(path: &Path, keys: usize) -> Result<(), BenchError> {
    let mut out = BufWriter::new(fs::File::create(path).map_err(io_err(path))?);
    writeln!(out, "Leistungsschlüssel;Vollzug").map_err(io_err(path))?;
    for i in 0..keys {
        writeln!(out, "{};Kommune", key(i)).map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))
}

/// Free bytes on the file system of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

fn remove_dir(dir: &Path) -> Result<(), BenchError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BenchError::io(format!("remove {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

fn dir_bytes_files(dir: &Path) -> (u64, usize) {
    let mut stack = vec![dir.to_path_buf()];
    let (mut bytes, mut files) = (0, 0);
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => {
                    bytes += m.len();
                    files += 1;
                }
                Err(_) => {}
            }
        }
    }
    (bytes, files)
}

/// What one size measured; None where the step did not run.
#[derive(Default)]
struct Size {
    keys: usize,
    events: u64,
    import: Option<Measurement>,
    baseline: Option<Measurement>,
    db_bytes: Option<u64>,
    coverage: Option<Measurement>,
    as_of: Option<Measurement>,
    cold: Option<Measurement>,
    unchanged: Option<Measurement>,
    dashboards: Option<(usize, u64)>,
    /// Why the size (or its remaining steps) did not run.
    stopped: Option<String>,
    /// Not run because of `--growth-max`: the aims are not checked.
    left_out: bool,
}

pub fn status_growth(ctx: &Ctx) -> Result<CaseReport, BenchError> {
    let limit = Some(ctx.rss_limit_kib);
    let gv_file = ctx.dir.join("growth-GV100AD.txt");
    generate(ctx, &["gv100ad", "--seed", &SEED.to_string()], &gv_file)?;
    let national = ctx.dir.join("growth-national.db");
    remove_db(&national)?;
    eprintln!("{CASE}: national GV100AD");
    run_ok(
        ozgsync(ctx, &national, "gv100ad", &gv_file),
        "ozgsync import gv100ad",
    )?;
    let conn = rusqlite::Connection::open_with_flags(
        &national,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(sql_err("opening the national database"))?;
    let ars = gemeinden(&conn)?;
    let mut report = CaseReport::default();
    let mut sizes: Vec<Size> = Vec::new();
    // Disk the previous size took, per event, to judge whether the next one fits.
    let mut bytes_per_event: Option<f64> = None;

    for keys in KEYS {
        let events = (ars.len() * keys) as u64;
        let label = millions(events);
        let mut size = Size {
            keys,
            events,
            ..Size::default()
        };
        if events > ctx.growth_max {
            size.stopped = Some(format!("left out by --growth-max {}", ctx.growth_max));
            size.left_out = true;
            sizes.push(size);
            continue;
        }
        if let (Some(per_event), Some(free)) = (bytes_per_event, free_bytes(&ctx.dir)) {
            let need = (per_event * events as f64 * 1.25) as u64;
            if need > free {
                size.stopped = Some(format!(
                    "skipped: needs about {:.1} GB of disk, {:.1} GB free",
                    need as f64 / 1e9,
                    free as f64 / 1e9
                ));
                sizes.push(size);
                continue;
            }
        }
        eprintln!(
            "{CASE} {label}: base database ({} Gemeinden × {keys} keys)",
            ars.len()
        );
        let base = ctx.dir.join("growth-base.db");
        copy_db(&national, &base)?;
        let leika = ctx.dir.join("growth-leika.csv");
        write_leika(&leika, keys)?;
        run_ok(ozgsync(ctx, &base, "leika", &leika), "ozgsync import leika")?;
        let sheet = ctx.dir.join("growth-annotations.csv");
        write_annotations(&sheet, keys)?;
        let sheet_s = sheet.to_string_lossy().into_owned();
        run_ok(
            bin_cmd(
                ctx,
                &base,
                &["annotations", "import", &sheet_s, "--by", "bench"],
            ),
            "ozgsync annotations import",
        )?;
        let csv = ctx.dir.join(format!("growth-report-{keys}.csv"));
        let rows = write_status_report(&csv, &ars, keys)?;
        let csv_s = csv.to_string_lossy().into_owned();
        let csv_bytes = fs::metadata(&csv).map_or(0, |m| m.len());

        let db = ctx.dir.join(format!("growth-{keys}.db"));
        let result = run_size(ctx, &mut size, &base, &db, &csv_s, limit);
        let used = csv_bytes
            + size.db_bytes.unwrap_or(0) * 2
            + size
                .dashboards
                .map_or(0, |(_, b)| b * (ctx.reps as u64 + 1));
        bytes_per_event = Some(used as f64 / rows.max(1) as f64);
        // Only the report and the imported database of each size stay (for --keep).
        remove_db(&base)?;
        remove_db(&ctx.dir.join("growth-baseline.db"))?;
        match result {
            Ok(()) => {}
            Err(e @ BenchError::Limit { .. }) => {
                size.stopped = Some(e.to_string().replace('\n', " "));
            }
            Err(e) => {
                report.failed = true;
                size.stopped = Some(format!("FAILED: {}", e.to_string().replace('\n', " ")));
            }
        }
        sizes.push(size);
    }
    remove_db(&national)?;

    for s in &sizes {
        push_rows(&mut report, ars.len(), s);
        if let (Some(ours), Some(base)) = (&s.import, &s.baseline) {
            report.comparisons.push(Comparison {
                what: format!(
                    "status import, {} events, vs sqlite3 .import",
                    millions(s.events)
                ),
                ours: ours.clone(),
                base: base.clone(),
                threads: super::status::CSV_IMPORT_THREADS.into(),
            });
        }
    }
    report.tables.push(growth_table(ctx, ars.len(), &sizes));
    push_aims(&mut report, &sizes);
    Ok(report)
}

/// The steps of one size; each fills its part of `size` as it is measured, so a
/// step that fails leaves the earlier ones in the table.
fn run_size(
    ctx: &Ctx,
    size: &mut Size,
    base: &Path,
    db: &Path,
    csv: &str,
    limit: Option<u64>,
) -> Result<(), BenchError> {
    let label = millions(size.events);
    let import_cmd = || {
        Ok(bin_cmd(
            ctx,
            db,
            &["status", "import", csv, "--by", "bench"],
        ))
    };
    if ctx.sqlite3.is_some() {
        // Alternated, run i of ours then run i of sqlite3, so both see the same
        // minutes of the host; a side that fails leaves the other's runs measured.
        eprintln!("{CASE} {label}: status import, alternated with sqlite3 .import");
        let plain = ctx.dir.join("growth-baseline.db");
        let script_path = ctx.dir.join("growth-baseline.sql");
        fs::write(&script_path, status_baseline_script(csv)).map_err(io_err(&script_path))?;
        let Interleaved { ours, base } = measure_interleaved(
            ctx.reps,
            limit,
            || copy_db(base, db),
            import_cmd,
            || remove_db(&plain),
            || sqlite3_script(&plain, &script_path),
        );
        let base = match base {
            Ok(m) => {
                size.baseline = Some(m);
                Ok(())
            }
            Err(e) => Err(e),
        };
        size.import = Some(ours?);
        base?;
    } else {
        eprintln!("{CASE} {label}: status import");
        size.import = Some(measure_limited(
            ctx.reps,
            limit,
            || copy_db(base, db),
            import_cmd,
        )?);
    }
    size.db_bytes = Some(db_size(db));

    eprintln!("{CASE} {label}: v_municipality_coverage");
    size.coverage = Some(measure_limited(
        ctx.reps,
        limit,
        || Ok(()),
        || {
            Ok(bin_cmd(
                ctx,
                db,
                &[
                    "query",
                    "--format",
                    "csv",
                    "SELECT * FROM v_municipality_coverage",
                ],
            ))
        },
    )?);
    eprintln!("{CASE} {label}: status show --as-of");
    let one = key(size.keys / 2);
    size.as_of = Some(measure_limited(
        ctx.reps,
        limit,
        || Ok(()),
        || {
            Ok(bin_cmd(
                ctx,
                db,
                &["status", "show", &one, "--as-of", STATUS_AS_OF],
            ))
        },
    )?);

    // Each cold run writes into a new empty directory, removed after the step (see
    // the exports_matrix case for why not right before the next run).
    eprintln!("{CASE} {label}: dashboards --land all, empty DIR");
    let fresh_dir = |n: usize| ctx.dir.join(format!("growth-dashboards-{n}"));
    let runs = std::cell::Cell::new(0usize);
    let dashboards = |dir: &Path| {
        let dir = dir.to_string_lossy().into_owned();
        bin_cmd(
            ctx,
            db,
            &[
                "export",
                "dashboards",
                "--land",
                "all",
                "--as-of",
                EXPORT_AS_OF,
                "--out",
                &dir,
            ],
        )
    };
    let cold = measure_limited(
        ctx.reps,
        limit,
        || Ok(()),
        || {
            runs.set(runs.get() + 1);
            Ok(dashboards(&fresh_dir(runs.get())))
        },
    );
    let last = fresh_dir(runs.get());
    let cleanup = || -> Result<(), BenchError> {
        for n in 1..=runs.get() {
            remove_dir(&fresh_dir(n))?;
        }
        Ok(())
    };
    let cold = match cold {
        Ok(m) => m,
        Err(e) => {
            cleanup()?;
            return Err(e);
        }
    };
    size.cold = Some(cold);
    size.dashboards = Some({
        let (bytes, files) = dir_bytes_files(&last);
        (files, bytes)
    });
    eprintln!("{CASE} {label}: dashboards --land all, unchanged");
    let unchanged = measure_limited(ctx.reps, limit, || Ok(()), || Ok(dashboards(&last)));
    cleanup()?;
    size.unchanged = Some(unchanged?);
    Ok(())
}

fn push_rows(report: &mut CaseReport, gemeinden: usize, s: &Size) {
    let label = millions(s.events);
    let shape = format!("{gemeinden} Gemeinden × {} keys", s.keys);
    let mut push = |step: &str, records: u64, m: &Option<Measurement>, note: String| {
        if m.is_some() {
            report.rows.push(row(
                CASE,
                &format!("{label}: {step}"),
                records,
                m.clone(),
                note,
            ));
        }
    };
    push(
        "status import",
        s.events,
        &s.import,
        format!(
            "{shape}; database {}",
            s.db_bytes
                .map_or("–".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
        ),
    );
    push(
        "baseline: sqlite3 .import, plain 5-column table",
        s.events,
        &s.baseline,
        ratio(&s.import, &s.baseline).map_or(String::new(), |r| format!("ozgsync {r:.2}×")),
    );
    push(
        "query v_municipality_coverage",
        gemeinden as u64,
        &s.coverage,
        "all Gemeinden of Germany".into(),
    );
    push(
        &format!("status show KEY --as-of {STATUS_AS_OF}"),
        gemeinden as u64,
        &s.as_of,
        "one service in every Gemeinde".into(),
    );
    let dash_note = s.dashboards.map_or(String::new(), |(files, bytes)| {
        format!("{files} files, {:.1} MB", bytes as f64 / 1e6)
    });
    push(
        "dashboards --land all, empty DIR",
        s.events,
        &s.cold,
        dash_note,
    );
    push(
        "dashboards --land all, unchanged re-export",
        s.events,
        &s.unchanged,
        String::new(),
    );
    if let Some(why) = &s.stopped {
        report.rows.push(Row {
            case: CASE.into(),
            step: format!("{label}: not measured further"),
            records: Some(s.events),
            measurement: None,
            note: format!("{shape}: {why}"),
        });
    }
}

fn ratio(a: &Option<Measurement>, b: &Option<Measurement>) -> Option<f64> {
    let (a, b) = (a.as_ref()?, b.as_ref()?);
    Some(a.median().as_secs_f64() / b.median().as_secs_f64().max(1e-9))
}

fn cell(m: &Option<Measurement>) -> String {
    m.as_ref().map_or("–".into(), |m| fmt_duration(m.median()))
}

/// One row per size: how every cost grows with the matrix.
fn growth_table(ctx: &Ctx, gemeinden: usize, sizes: &[Size]) -> String {
    let mut out = format!(
        "Growth of the status matrix ({gemeinden} Gemeinden; medians of {} runs; peak RSS \
         the highest of the runs):\n\n",
        ctx.reps
    );
    out.push_str(
        "| events | keys | status import | µs/event | sqlite3 .import | ratio | import peak RSS | database | coverage | as-of | dashboards cold | unchanged | dashboards peak RSS | dashboard files |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for s in sizes {
        let per_event = s.import.as_ref().map_or("–".into(), |m| {
            format!("{:.2}", m.median().as_secs_f64() * 1e6 / s.events as f64)
        });
        let rss = |m: &Option<Measurement>| {
            m.as_ref().map_or("–".into(), |m| fmt_mib(m.peak_rss_kib()))
        };
        let dash_rss = match (&s.cold, &s.unchanged) {
            (Some(a), Some(b)) => fmt_mib(a.peak_rss_kib().max(b.peak_rss_kib())),
            (Some(a), None) => fmt_mib(a.peak_rss_kib()),
            _ => "–".into(),
        };
        let files = match (s.dashboards, &s.stopped) {
            (Some((files, bytes)), _) => format!("{files}, {:.0} MB", bytes as f64 / 1e6),
            (None, Some(why)) => why.clone(),
            (None, None) => "–".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {per_event} | {} | {} | {} | {} | {} | {} | {} | {} | {dash_rss} | {} |\n",
            millions(s.events),
            s.keys,
            cell(&s.import),
            cell(&s.baseline),
            ratio(&s.import, &s.baseline).map_or("–".into(), |r| format!("{r:.2}×")),
            rss(&s.import),
            s.db_bytes
                .map_or("–".into(), |b| format!("{:.0} MB", b as f64 / 1e6)),
            cell(&s.coverage),
            cell(&s.as_of),
            cell(&s.cold),
            cell(&s.unchanged),
            files.replace('|', "\\|"),
        ));
    }
    out
}

/// Close to linear: each tenfold step of the matrix may cost at most 12× the time.
fn push_aims(report: &mut CaseReport, sizes: &[Size]) {
    let growth = |pick: fn(&Size) -> &Option<Measurement>| -> (String, Option<bool>) {
        let steps: Vec<f64> = sizes
            .windows(2)
            .filter_map(|w| match (pick(&w[0]), pick(&w[1])) {
                (Some(a), Some(b)) => {
                    Some(b.median().as_secs_f64() / a.median().as_secs_f64().max(1e-9))
                }
                _ => None,
            })
            .collect();
        let shown = steps
            .iter()
            .map(|f| format!("×{f:.1}"))
            .collect::<Vec<_>>()
            .join(", ");
        let measured = sizes.iter().filter(|s| pick(s).is_some()).count();
        let met = if sizes.iter().any(|s| s.left_out) {
            None
        } else if measured < sizes.len() {
            Some(false)
        } else {
            Some(steps.iter().all(|&f| f <= 12.0))
        };
        (
            format!(
                "{} ({measured} of {} sizes measured)",
                if shown.is_empty() {
                    "–".into()
                } else {
                    shown
                },
                sizes.len()
            ),
            met,
        )
    };
    let (measured, met) = growth(|s| &s.import);
    report.aims.push(Aim {
        what: "Growth: status import time per tenfold matrix".into(),
        target: "≤ ×12 per step, every size".into(),
        measured,
        met,
    });
    let (measured, met) = growth(|s| &s.cold);
    report.aims.push(Aim {
        what: "Growth: dashboards (all Länder) cold per tenfold matrix".into(),
        target: "≤ ×12 per step, every size".into(),
        measured,
        met,
    });
    let peaks: Vec<String> = sizes
        .iter()
        .map(|s| {
            s.import
                .as_ref()
                .map_or("–".into(), |m| fmt_mib(m.peak_rss_kib()))
        })
        .collect();
    let all = sizes.iter().all(|s| s.import.is_some());
    report.aims.push(Aim {
        what: "Growth: status import peak RSS, every size".into(),
        target: "< 256 MB".into(),
        measured: peaks.join(" / "),
        met: if sizes.iter().any(|s| s.left_out) {
            None
        } else {
            Some(
                all && sizes.iter().all(|s| {
                    s.import
                        .as_ref()
                        .is_some_and(|m| rss_under(m.peak_rss_kib(), 256))
                }),
            )
        },
    });
}
