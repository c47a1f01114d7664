//! `cargo bench --bench ozgsync`: runs every benchmark case against the release binary
//! and prints a markdown results table. `-- gen ...` writes the generated inputs to
//! files instead, so people can look at them or feed them to other tools.
//!
//! ```text
//! cargo bench --bench ozgsync                       # all cases, 5 runs per step
//! cargo bench --bench ozgsync -- leika --reps 3     # cases whose name contains "leika"
//! cargo bench --bench ozgsync -- status --keep      # keep inputs and databases for profiling
//! cargo bench --bench ozgsync -- growth --growth-max 3000000   # growth up to 2.8 M events only
//! cargo bench --bench ozgsync -- gen leika --rows 100000 --seed 1 --out leika.csv [--utf8]
//! cargo bench --bench ozgsync -- gen leika-next --rows 100000 --seed 1 --share 0.05 --out next.csv
//! cargo bench --bench ozgsync -- gen gv100ad --seed 1 [--stand 20251130] --out GV100AD.txt
//! cargo bench --bench ozgsync -- gen status-xlsx --keys 107 --ars-file ars.txt --out status.xlsx
//! ```
//!
//! Missed aims are shown, not fatal; a step that fails (the binary exits non-zero)
//! makes the run exit 1, because that is a bug rather than a slow result.

// A harness, not shipped: a panic here is a failed run, not a user's crash, and
// measuring a child (waitid, wait4 with rusage, kill) needs libc calls that have no
// safe wrapper.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod harness;

use std::path::PathBuf;
use std::process::ExitCode;

use harness::cases::CASES;
use harness::report::{render, CaseReport, Row};
use harness::{gen, BenchError, Ctx};

const USAGE: &str = "usage: cargo bench --bench ozgsync -- [FILTER...] [--reps N] [--keep]
           [--growth-max EVENTS] [--rss-limit-mib MIB]
       cargo bench --bench ozgsync -- gen leika --rows N [--seed S] [--utf8] --out FILE
       cargo bench --bench ozgsync -- gen leika-next --rows N [--seed S] [--share F] [--utf8] --out FILE
       cargo bench --bench ozgsync -- gen gv100ad [--seed S] [--stand YYYYMMDD] --out FILE
       cargo bench --bench ozgsync -- gen status-xlsx --keys N --ars-file FILE --out FILE";

fn main() -> ExitCode {
    // cargo passes `--bench` to harness=false targets; it means nothing here.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen_mode(args.get(1..).unwrap_or(&[])).map(|()| true),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => run_mode(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Value of `--name VALUE`, if given.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

fn parsed<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, BenchError> {
    match flag(args, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| BenchError::Usage(format!("{name}: cannot parse {v:?}\n{USAGE}"))),
    }
}

fn gen_mode(args: &[String]) -> Result<(), BenchError> {
    let out = flag(args, "--out")
        .map(PathBuf::from)
        .ok_or_else(|| BenchError::Usage(format!("--out FILE is required\n{USAGE}")))?;
    let seed: u64 = parsed(args, "--seed", 1)?;
    let utf8 = args.iter().any(|a| a == "--utf8");
    // The summary goes to stdout: the benchmark quotes it in its notes.
    let (bytes, summary) = match args.first().map(String::as_str) {
        Some(kind @ ("leika" | "leika-next")) => {
            let rows: usize = parsed(args, "--rows", 100_000)?;
            if rows > gen::MAX_LEIKA_ROWS {
                return Err(BenchError::Usage(format!(
                    "--rows: at most {} rows",
                    gen::MAX_LEIKA_ROWS
                )));
            }
            let mut release = gen::leika_release(rows, seed);
            let mut summary = format!("{rows} rows");
            if kind == "leika-next" {
                let share: f64 = parsed(args, "--share", 0.05)?;
                let (next, c) = gen::leika_next_release(&release, share, seed);
                summary = format!(
                    "{} renamed, {} retyped, {} removed, {} added",
                    c.renamed, c.retyped, c.removed, c.added
                );
                release = next;
            }
            let bytes = if utf8 {
                release.to_csv_utf8().into_bytes()
            } else {
                release.to_csv_windows1252()
            };
            (bytes, summary)
        }
        Some("gv100ad") => {
            let stand = flag(args, "--stand").unwrap_or("20251130");
            if stand.len() != 8 || !stand.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BenchError::Usage("--stand: YYYYMMDD".into()));
            }
            let directory = gen::gv100ad_directory(seed, stand);
            let summary = format!(
                "{} records, {} Gemeinden",
                directory.records.len(),
                directory.gemeinden()
            );
            (directory.to_text().into_bytes(), summary)
        }
        Some("status-xlsx") => {
            let keys: usize = parsed(args, "--keys", 107)?;
            let ars_file = flag(args, "--ars-file").ok_or_else(|| {
                BenchError::Usage(format!("--ars-file FILE is required\n{USAGE}"))
            })?;
            let ars: Vec<String> = std::fs::read_to_string(ars_file)
                .map_err(|e| BenchError::io(format!("read {ars_file}"), e))?
                .lines()
                .map(str::to_owned)
                .collect();
            let (bytes, rows) = harness::status::status_workbook(&ars, keys)?;
            (bytes, format!("{rows} rows"))
        }
        _ => return Err(BenchError::Usage(USAGE.into())),
    };
    std::fs::write(&out, &bytes)
        .map_err(|e| BenchError::io(format!("write {}", out.display()), e))?;
    println!("{summary}");
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

/// Runs the selected cases; Ok(false) when a case failed.
fn run_mode(args: &[String]) -> Result<bool, BenchError> {
    let reps: usize = parsed(args, "--reps", 5)?;
    let growth_max: u64 = parsed(args, "--growth-max", u64::MAX)?;
    let rss_limit_mib: u64 = parsed(args, "--rss-limit-mib", 8192)?;
    let mut filters = Vec::new();
    let mut skip_next = false;
    // --keep leaves the scratch directory (inputs, databases) for profiling.
    let mut keep = false;
    for arg in args {
        if skip_next {
            skip_next = false;
        } else if ["--reps", "--growth-max", "--rss-limit-mib"].contains(&arg.as_str()) {
            skip_next = true;
        } else if arg == "--keep" {
            keep = true;
        } else if !arg.starts_with('-') {
            filters.push(arg.as_str());
        }
    }
    let scratch = tempfile::Builder::new()
        .prefix("ozgsync-bench-")
        // On the target's disk, not a RAM-backed /tmp, so the database I/O is real.
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .map_err(|e| BenchError::io("create scratch directory", e))?;
    let scratch = if keep {
        let kept = scratch.keep();
        eprintln!("keeping the scratch directory {}", kept.display());
        ScratchDir::Kept(kept)
    } else {
        ScratchDir::Temp(scratch)
    };
    let gen_exe =
        std::env::current_exe().map_err(|e| BenchError::io("locate the bench binary", e))?;
    let ctx = Ctx {
        gen_exe,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_ozgsync")),
        dir: scratch.path().to_path_buf(),
        reps: reps.max(1),
        sqlite3: std::process::Command::new("sqlite3")
            .arg("-version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
        growth_max,
        rss_limit_kib: rss_limit_mib.saturating_mul(1024),
    };

    let mut reports = Vec::new();
    let mut ok = true;
    for case in CASES {
        if !filters.is_empty() && !filters.iter().any(|f| case.name.contains(f)) {
            continue;
        }
        eprintln!("case {}: {}", case.name, case.about);
        match (case.run)(&ctx) {
            Ok(report) => {
                ok &= !report.failed;
                reports.push(report);
            }
            Err(e) => {
                ok = false;
                eprintln!("case {} failed: {e}", case.name);
                reports.push(CaseReport {
                    rows: vec![Row {
                        case: case.name.into(),
                        step: "FAILED".into(),
                        records: None,
                        measurement: None,
                        note: e.to_string().replace('\n', " "),
                    }],
                    failed: true,
                    ..CaseReport::default()
                });
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "ozgsync benchmarks: `cargo bench --bench ozgsync`, release build, {cores} cores, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    // Children are forked from this process, and Linux counts the forked copy's
    // resident pages toward the child's peak RSS (see cases::generate): this
    // process's resident set is a floor under the peak RSS column.
    let own_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or("unknown".to_string(), |kib| {
            format!("{:.1} MiB", kib / 1024.0)
        });
    println!("harness process resident set: {own_rss} (a floor under the peak RSS column)");
    println!(
        "baseline: {}",
        ctx.sqlite3
            .as_deref()
            .map_or("sqlite3 CLI not installed".to_string(), |v| format!(
                "sqlite3 {v}"
            ))
    );
    println!();
    print!("{}", render(&reports, ctx.reps));
    Ok(ok)
}

/// The scratch directory: removed when dropped, unless `--keep` was given.
enum ScratchDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl ScratchDir {
    fn path(&self) -> &std::path::Path {
        match self {
            ScratchDir::Temp(t) => t.path(),
            ScratchDir::Kept(p) => p,
        }
    }
}
