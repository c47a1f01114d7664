//! The benchmark harness behind `cargo bench --bench ozgsync`: data generation
//! (`gen`), child-process measurement (`measure`), the list of cases (`cases`, with
//! the cases that need more room in files of their own: `status`, `growth`) and the
//! markdown report (`report`). What several cases use — the context, running the
//! binary, copying databases, generating inputs — lives here, so case files import
//! from this module only and never from each other.

pub mod cases;
pub mod gen;
pub mod growth;
pub mod measure;
pub mod report;
pub mod status;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use measure::Measurement;
use report::Row;

/// Why a benchmark step could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {detail}")]
    Child { what: String, detail: String },
    /// The child was stopped for passing the resident-set limit: a result (this size
    /// does not fit the machine), not a bug.
    #[error("{what}: {detail}")]
    Limit { what: String, detail: String },
    #[error("{0}")]
    Usage(String),
}

impl BenchError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Maps an SQLite error of the harness's own set-up SQL to a [`BenchError`].
pub fn sql_err(what: &str) -> impl Fn(rusqlite::Error) -> BenchError + '_ {
    move |e| BenchError::Child {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

/// What every case gets.
pub struct Ctx {
    /// The release binary under test.
    pub bin: PathBuf,
    /// A scratch directory, removed after the run.
    pub dir: PathBuf,
    /// Repetitions per step.
    pub reps: usize,
    /// `sqlite3 -version` output, None when the CLI is not installed.
    pub sqlite3: Option<String>,
    /// This bench binary, run as `gen ...` to write inputs (see [`generate`]).
    pub gen_exe: PathBuf,
    /// `--growth-max N`: the largest status matrix (events) the growth case builds;
    /// the default takes every size, up to the whole of Germany (28 M events).
    pub growth_max: u64,
    /// `--rss-limit-mib N`: the growth case stops a child whose resident set passes
    /// this (so a size that does not fit the machine is reported, not swapped).
    pub rss_limit_kib: u64,
}

/// The seed of all generated inputs: fixed so every run measures the same bytes.
pub const SEED: u64 = 1;

/// Writes a generated input file by running this binary's `gen` mode as a child and
/// returns the summary line it prints.
///
/// Why a child: measured children are started by fork + exec, and Linux counts the
/// resident pages of the forked copy of this process (its RSS at spawn time) toward
/// the child's `ru_maxrss`. Holding 100,000 generated rows here made every measured
/// child report 160 MiB, sqlite3 included. So this process stays small and never
/// generates.
pub fn generate(ctx: &Ctx, args: &[&str], out: &Path) -> Result<String, BenchError> {
    let mut cmd = Command::new(&ctx.gen_exe);
    cmd.arg("gen").args(args).arg("--out").arg(out);
    let what = format!("{cmd:?}");
    let output = cmd.output().map_err(|source| BenchError::Spawn {
        what: what.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(BenchError::Child {
            what,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The ARS of every Gemeinde in the database, in ARS order.
pub fn gemeinden(conn: &rusqlite::Connection) -> Result<Vec<String>, BenchError> {
    let mut stmt = conn
        .prepare("SELECT ars FROM v_municipalities WHERE is_gemeinde ORDER BY ars")
        .map_err(sql_err("reading Gemeinden"))?;
    stmt.query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(sql_err("reading Gemeinden"))
}

/// The status vocabulary in the order the generated reports cycle through it.
pub const STATUSES: [&str; 8] = [
    "nicht_begonnen",
    "geplant",
    "beauftragt",
    "in_umsetzung",
    "pilot",
    "produktiv",
    "eingestellt",
    "abgelehnt",
];

/// The `i`-th generated LeiKa key (14 digits, in the unassigned `99` range).
pub fn key(i: usize) -> String {
    format!("99{:012}", i * 7 + 1)
}

/// Writes a status report the way a rollout list is delivered: one event per
/// Gemeinde × key, grouped by Gemeinde, `;`-separated, German header, the same
/// spread of statuses and dates for every case. Streamed, so this process stays small.
pub fn write_status_report(path: &Path, ars: &[String], keys: usize) -> Result<u64, BenchError> {
    use std::io::{BufWriter, Write};
    let io = |e| BenchError::io(format!("write {}", path.display()), e);
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path).map_err(io)?);
    writeln!(out, "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung").map_err(io)?;
    let mut rows = 0;
    for (g, a) in ars.iter().enumerate() {
        for s in 0..keys {
            let day = 1 + (s + g) % 28;
            let month = 1 + (s * 7 + g) % 12;
            let note = if (s + g) % 97 == 0 {
                "Rückmeldung Kommune"
            } else {
                ""
            };
            let status = STATUSES
                .get((s * 3 + g) % STATUSES.len())
                .unwrap_or(&"geplant");
            writeln!(
                out,
                "{};{a};{status};2025-{month:02}-{day:02};{note}",
                key(s)
            )
            .map_err(io)?;
            rows += 1;
        }
    }
    out.flush().map_err(io)?;
    Ok(rows)
}

pub fn file_mb(path: &Path) -> f64 {
    fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    fs::write(path, bytes).map_err(|e| BenchError::io(format!("write {}", path.display()), e))
}

/// The database and its SQLite side files (WAL, shared memory, rollback journal).
pub fn db_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// The baseline's command: `sqlite3 DB` reading `script` (the `.import` lines) on
/// its standard input.
pub fn sqlite3_script(db: &Path, script: &Path) -> Result<std::process::Command, BenchError> {
    let input = fs::File::open(script)
        .map_err(|e| BenchError::io(format!("open {}", script.display()), e))?;
    let mut cmd = std::process::Command::new("sqlite3");
    cmd.arg(db).stdin(input);
    Ok(cmd)
}

/// The status cases' baseline: the `sqlite3` shell's CSV import of the same report
/// into a plain table of its 5 columns (WAL, like ozgsync's database).
pub fn status_baseline_script(csv: &str) -> String {
    format!(
        "PRAGMA journal_mode = WAL;\nCREATE TABLE raw (key TEXT, ars TEXT, status TEXT, on_ TEXT, note TEXT);\n\
         .mode csv\n.separator ;\n.import --skip 1 {csv} raw\n"
    )
}

pub fn remove_db(db: &Path) -> Result<(), BenchError> {
    for file in db_files(db) {
        match fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(BenchError::io(format!("remove {}", file.display()), e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Copies a database with its side files, so a step can start from a known state.
pub fn copy_db(from: &Path, to: &Path) -> Result<(), BenchError> {
    remove_db(to)?;
    for (src, dst) in db_files(from).into_iter().zip(db_files(to)) {
        if src.exists() {
            fs::copy(&src, &dst)
                .map_err(|e| BenchError::io(format!("copy {}", src.display()), e))?;
        }
    }
    Ok(())
}

pub fn db_size(db: &Path) -> u64 {
    db_files(db)
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

pub fn ozgsync(ctx: &Ctx, db: &Path, kind: &str, file: &Path) -> Command {
    let mut cmd = Command::new(&ctx.bin);
    // Run in the scratch directory so no config file of the caller's is picked up.
    cmd.current_dir(&ctx.dir)
        .env_remove("OZGSYNC_DB")
        .arg("--db")
        .arg(db)
        .args(["import", kind])
        .arg(file);
    cmd
}

/// The binary with `--db DB --quiet ARGS...`, run in the scratch directory so no
/// config file of the caller's is picked up.
pub fn bin_cmd(ctx: &Ctx, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(&ctx.bin);
    cmd.current_dir(&ctx.dir)
        .env_remove("OZGSYNC_DB")
        .env_remove("OZGSYNC_CONFIG")
        .arg("--db")
        .arg(db)
        .arg("--quiet")
        .args(args);
    cmd
}

/// Runs a set-up command (not measured) to completion; its stderr is the error.
pub fn run_ok(mut cmd: Command, what: &str) -> Result<(), BenchError> {
    let out = cmd.output().map_err(|source| BenchError::Spawn {
        what: format!("{cmd:?}"),
        source,
    })?;
    if !out.status.success() {
        return Err(BenchError::Child {
            what: what.into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Guards against a binary that exits 0 without doing anything.
pub fn imported(db: &Path) -> Result<String, BenchError> {
    if !db.exists() {
        return Err(BenchError::Child {
            what: "ozgsync import".into(),
            detail: format!("exited 0 but wrote no database at {}", db.display()),
        });
    }
    Ok(format!("database {:.1} MB", db_size(db) as f64 / 1e6))
}

pub fn row(case: &str, step: &str, records: u64, m: Option<Measurement>, note: String) -> Row {
    Row {
        case: case.into(),
        step: step.into(),
        records: Some(records),
        measurement: m,
        note,
    }
}

/// Imports the real Lower Saxony GV100AD fixture into `db` through the binary: the
/// Gemeinden, Verbände and Kreise the status and export cases build on.
pub fn import_lower_saxony(ctx: &Ctx, db: &Path) -> Result<(), BenchError> {
    let gv = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gv100ad/GV100AD_30112025_NI.txt");
    run_ok(ozgsync(ctx, db, "gv100ad", &gv), "ozgsync import gv100ad")
}
