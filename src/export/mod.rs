//! Exports: the Onlinedienste-Report (XLSX, CSV, HTML, JSON, Markdown) and the
//! municipal dashboard JSON files. The stages are kept apart: `query` reads the
//! database (read-only) into the plain structs of `model`; `tables`, `render` and
//! `json` turn the model into bytes without any I/O; `dashboards` builds the file
//! set; `publish` puts it atomically on disk; `target` decides what may be
//! written over and with which modes. [`run_job`] is the one entry point the CLI
//! and the sync flow share.

pub mod dashboards;
pub mod json;
pub mod model;
pub mod publish;
pub mod query;
pub mod render;
pub mod site;
pub mod tables;
pub mod target;

use crate::error::ShowPath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::Usage;
use crate::model::LandScope;
pub use tables::Part;

/// What can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the database, or reading or writing a file, failed (the library's
    /// own error, which names the statement or the file).
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error("writing XLSX: {0}")]
    Xlsx(#[source] rust_xlsxwriter::XlsxError),
    #[error("writing CSV: {0}")]
    Csv(#[source] csv::Error),
    #[error("writing JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("compressing: {0}")]
    Gzip(#[source] std::io::Error),
    /// An ARS that is not exactly 12 digits; it would become a file name.
    #[error("invalid ARS {0:?}: expected exactly 12 digits")]
    InvalidArs(String),
    /// Bad arguments or an unusable target: a usage error (exit 2).
    #[error("{0}")]
    Invalid(#[from] Usage),
    /// A stop was requested (the signal's name) before the export was published.
    #[error(
        "stopped ({0}) before the export was published; what was published before is unchanged"
    )]
    Stopped(String),
}

impl ExportError {
    /// Fails with [`ExportError::Stopped`] once `stop` was requested; what an
    /// export checks before each file it writes and before it publishes.
    pub fn unless_stopped(stop: Option<&crate::stop::Stop>) -> Result<(), ExportError> {
        match stop.and_then(crate::stop::Stop::reason) {
            Some(reason) => Err(ExportError::Stopped(reason)),
            None => Ok(()),
        }
    }

    /// A usage error with this message: bad arguments or an unusable target.
    pub fn invalid(message: String) -> ExportError {
        ExportError::Invalid(Usage(message))
    }

    /// The I/O error of writing to standard output (`--out -`), if this is one:
    /// a closed pipe there is the reader going away, not a failed export.
    pub fn stdout_error(&self) -> Option<&std::io::Error> {
        match self {
            ExportError::Store(crate::Error::Io { path, source, .. })
                if target::is_stdout(path) =>
            {
                Some(source)
            }
            _ => None,
        }
    }
}

/// An I/O error of `action` on `path`, as an export error.
pub(crate) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> ExportError {
    let wrap = crate::Error::io(action, path.to_path_buf());
    move |source| ExportError::Store(wrap(source))
}

pub use crate::model::Ars;

impl From<crate::model::InvalidKey> for ExportError {
    fn from(e: crate::model::InvalidKey) -> Self {
        ExportError::InvalidArs(e.value)
    }
}

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Xlsx,
    Csv,
    Html,
    Json,
    Md,
}

impl ReportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Xlsx => "xlsx",
            ReportFormat::Csv => "csv",
            ReportFormat::Html => "html",
            ReportFormat::Json => "json",
            ReportFormat::Md => "md",
        }
    }
}

/// The report in one format, as named files. CSV gives one file per part
/// (`leistungen.csv`, ...) unless `part` picks one; every other format one file
/// named `report.<ext>` (the caller decides the real path).
pub fn render_report(
    report: &model::Report,
    format: ReportFormat,
    part: Option<Part>,
) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    Ok(match format {
        ReportFormat::Csv => {
            let parts: Vec<Part> = part.map_or_else(|| Part::ALL.to_vec(), |p| vec![p]);
            parts
                .into_iter()
                .map(|p| {
                    let bytes = render::csv::render(&tables::table(report, p))?;
                    Ok((format!("{}.csv", p.slug()), bytes))
                })
                .collect::<Result<_, ExportError>>()?
        }
        ReportFormat::Xlsx => vec![("report.xlsx".into(), render::xlsx::render(report)?)],
        ReportFormat::Html => vec![("report.html".into(), render::html::render(report))],
        ReportFormat::Json => vec![(
            "report.json".into(),
            json::render_report(report).map_err(ExportError::Json)?,
        )],
        ReportFormat::Md => vec![("report.md".into(), render::markdown::render(report))],
    })
}

/// One export to run: what the CLI parses and what a config may list.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportJob {
    Report {
        /// The Land whose Gemeinden and Kreise are counted.
        land: LandScope,
        format: ReportFormat,
        part: Option<Part>,
        as_of: Option<NaiveDate>,
        since: Option<NaiveDate>,
        /// A file; for CSV without `part` a directory receiving one file per part.
        out: PathBuf,
    },
    Dashboards {
        /// The Land whose units get files.
        land: LandScope,
        out: PathBuf,
        gzip: bool,
        as_of: Option<NaiveDate>,
        /// Also publish the dashboard site (`index.html`, script, style, labels).
        site: bool,
    },
}

/// What an export wrote, for the log and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    Report { files: Vec<PathBuf> },
    Dashboards(publish::PublishSummary),
}

/// Runs one export against the database at `db` (opened read-only) with the
/// default output options, generated now.
pub fn run_job(db: &Path, job: &ExportJob) -> Result<ExportOutcome, ExportError> {
    run_job_with(db, job, &target::OutputOptions::default())
}

/// [`run_job`] with explicit modes and whether dashboards may go beside foreign
/// files. The database itself is never written over, wherever `out` points.
pub fn run_job_with(
    db: &Path,
    job: &ExportJob,
    output: &target::OutputOptions,
) -> Result<ExportOutcome, ExportError> {
    run_job_at(db, job, output, chrono::Utc::now())
}

/// [`run_job_with`] with the time of generation given. The report's `erstellt` is
/// that time, its Stichtag the as-of date, so a report of a past Stichtag says when
/// it was really made. The dashboards' stamp is the start of the as-of day (UTC)
/// when `as_of` is given, so their meta.json stays byte-identical for a fixed date.
pub fn run_job_at(
    db: &Path,
    job: &ExportJob,
    output: &target::OutputOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ExportOutcome, ExportError> {
    let conn = crate::store::open_read_only(db)?;
    // One snapshot for the whole export: every statement below reads the database
    // as it was at the first one, even if a sync commits meanwhile (WAL). Helper
    // connections check that they see the same status data (query::status::second_connection).
    conn.execute_batch("BEGIN").map_err(|e| {
        ExportError::Store(crate::Error::db("starting the export's read transaction")(
            e,
        ))
    })?;
    let stamp = |as_of: Option<NaiveDate>| -> (NaiveDate, chrono::DateTime<chrono::Utc>) {
        match as_of {
            Some(d) => (d, d.and_time(chrono::NaiveTime::MIN).and_utc()),
            None => (now.date_naive(), now),
        }
    };
    match job {
        ExportJob::Report {
            land,
            format,
            part,
            as_of,
            since,
            out,
        } => {
            let as_of = as_of.unwrap_or(now.date_naive());
            let started = std::time::Instant::now();
            let report = query::report(&conn, land, as_of, *since, now)?;
            tracing::debug!(elapsed = ?started.elapsed(), "report: data read");
            let rendered = render_report(&report, *format, *part)?;
            tracing::debug!(elapsed = ?started.elapsed(), "report: rendered");
            let files = write_report(out, *format, part.is_some(), rendered, db, output)?;
            Ok(ExportOutcome::Report { files })
        }
        ExportJob::Dashboards {
            land,
            out,
            gzip,
            as_of,
            site,
        } => {
            if target::is_stdout(out) {
                return Err(ExportError::invalid(
                    "dashboards are a set of files: --out names a directory, not `-` \
                     (standard output is for single-file reports)"
                        .into(),
                ));
            }
            let (as_of, generated_at) = stamp(*as_of);
            let started = std::time::Instant::now();
            let options = dashboards::SetOptions {
                gzip: *gzip,
                site: *site,
            };
            let schema_version = crate::store::schema_version();
            let mut publish_options = publish::PublishOptions {
                gzip: *gzip,
                volatile: vec![dashboards::META_FILE.into()],
                modes: output.modes,
                allow_foreign_files: output.allow_foreign_files,
                protect: vec![db.to_path_buf()],
                legacy: Some(dashboards::LEGACY),
                stop: output.stop.clone(),
                ..Default::default()
            };
            // Stop early when the published meta.json names what this export would
            // be made from and the files are the ones published: a full export
            // would write nothing (see `dashboards::made_from`).
            let data_stamp = query::stamp(&conn)?;
            let made_from = |meta: &[u8]| {
                dashboards::made_from(meta, land, as_of, &data_stamp, schema_version, options)
            };
            if let Some(summary) =
                publish::unchanged_set(out, &publish_options, dashboards::META_FILE, made_from)?
            {
                tracing::debug!(elapsed = ?started.elapsed(), "dashboards: published set is current");
                return Ok(ExportOutcome::Dashboards(summary));
            }
            // meta.json alone may differ without the set counting as changed only
            // when it names the same inputs (then only its time stamp differs);
            // otherwise it is rewritten, so the next export can stop early.
            let published_meta = out.join(dashboards::META_FILE);
            let meta_current = std::fs::symlink_metadata(&published_meta)
                .is_ok_and(|m| m.is_file() && m.len() < 1 << 20)
                && std::fs::read(&published_meta).is_ok_and(|bytes| made_from(&bytes));
            if !meta_current {
                publish_options.volatile.clear();
            }
            let (data, rows) = query::dashboards(&conn, land, as_of, generated_at, data_stamp)?;
            tracing::debug!(elapsed = ?started.elapsed(), "dashboards: data read");
            // Each file goes into the publisher's staging directory as it is built
            // (compared with the published one there), and each Gemeinde's rows are
            // made only while its Kreis is built: neither is held for the whole set.
            let staging = publish::Staging::begin(out, &publish_options)?;
            dashboards::build_into(
                &data,
                &|i, g, out| rows.rows(i, g, out),
                schema_version,
                options,
                &|path, bytes| staging.put(path, bytes),
            )?;
            if *site {
                let mut files = BTreeMap::new();
                site::add(&mut files)?;
                for (path, bytes) in &files {
                    staging.put(path, bytes)?;
                }
            }
            tracing::debug!(elapsed = ?started.elapsed(), "dashboards: files built and staged");
            let summary = staging.finish()?;
            tracing::debug!(elapsed = ?started.elapsed(), "dashboards: published");
            Ok(ExportOutcome::Dashboards(summary))
        }
    }
}

/// Maps `f` over `items` on every core (scoped threads over contiguous chunks),
/// keeping the order. Building and serializing the files is pure CPU work.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Writes rendered report files, each atomically (temporary file beside, rename),
/// or the one file to standard output for `--out -`. A CSV directory receives only
/// its part files; nothing else in it is touched.
fn write_report(
    out: &Path,
    format: ReportFormat,
    single_part: bool,
    rendered: Vec<(String, Vec<u8>)>,
    db: &Path,
    output: &target::OutputOptions,
) -> Result<Vec<PathBuf>, ExportError> {
    let several = format == ReportFormat::Csv && !single_part;
    if target::is_stdout(out) {
        if several {
            return Err(ExportError::invalid(
                "--out - writes one file to standard output; CSV without --part is one file \
                 per part: add --part or give a directory"
                    .into(),
            ));
        }
        for (_, bytes) in &rendered {
            write_stdout(bytes)?;
        }
        return Ok(Vec::new());
    }
    let mut targets: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    if several {
        if std::fs::symlink_metadata(out).is_ok_and(|m| !m.is_dir()) {
            return Err(ExportError::invalid(format!(
                "{} is not a directory (ozgsync does not follow links); CSV without --part \
                 writes one file per part into a directory: give a real one, or add --part",
                out.shown()
            )));
        }
        for (name, bytes) in rendered {
            targets.insert(out.join(name), bytes);
        }
        if let Some(parent) = out.parent() {
            target::create_out_dirs(parent, output.modes.dir)?;
        }
        target::create_dirs(out, output.modes.dir)?;
    } else {
        for (_, bytes) in rendered {
            targets.insert(out.to_path_buf(), bytes);
        }
    }
    let protected = target::Protected::of(&[db.to_path_buf()]);
    for (path, bytes) in &targets {
        target::check_replaceable(path, &protected, bytes)?;
    }
    for (path, bytes) in &targets {
        ExportError::unless_stopped(output.stop.as_ref())?;
        write_atomic(path, bytes, output.modes)?;
    }
    Ok(targets.into_keys().collect())
}

/// Writes `bytes` to standard output (a closed pipe surfaces as `BrokenPipe`,
/// which the binary treats as success).
pub fn write_stdout(bytes: &[u8]) -> Result<(), ExportError> {
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, bytes)
        .and_then(|()| std::io::Write::flush(&mut out))
        .map_err(io_error("writing", Path::new(target::STDOUT)))
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a
/// reader never sees a half-written file, and the old file (if any) is replaced,
/// never truncated. The caller has checked that `path` may be replaced
/// ([`target::check_replaceable`]); missing directories get `modes.dir`.
pub fn write_atomic(path: &Path, bytes: &[u8], modes: target::Modes) -> Result<(), ExportError> {
    let io = |action: &'static str| io_error(action, path);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    target::create_out_dirs(dir, modes.dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".ozgsync-")
        .tempfile_in(dir)
        .map_err(io("creating a temporary file for"))?;
    // The file is meant to be shared (a web server, the Kommunity portal): the
    // configured mode, set explicitly because the umask would mask it.
    tmp.as_file()
        .set_permissions(
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(modes.file),
        )
        .map_err(io("setting the permissions of"))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io("writing"))?;
    tmp.as_file().sync_all().map_err(io("syncing"))?;
    tmp.persist(path)
        .map_err(|e| io("renaming into place")(e.error))?;
    Ok(())
}
