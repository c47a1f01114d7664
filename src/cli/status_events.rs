//! Onlinedienst status subcommands: `ozgsync status set|import|show`. Validation is
//! `status::report` (pure), storage `store::status`; this file reads arguments and
//! files and renders results.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{opt, render, say, visible};
use super::{Context, Format};
use crate::error::ShowPath;
use crate::model::date::today;
use crate::status::report::{self, Cells, RowError};
use crate::status::Subject;
use crate::store;

#[derive(Debug, clap::Subcommand)]
pub enum StatusAction {
    /// Record one status event for a service, per Ressort (Land services) or per
    /// municipality (ARS).
    Set(SetArgs),
    /// Import a status report, CSV or XLSX (see docs/status-report.md). The whole file is
    /// validated first; if any row is wrong nothing is applied and the errors are
    /// listed with line and column (the first 10,000, then their count).
    Import(ImportArgs),
    /// Show a service's status in every Ressort and municipality, now or as of a date.
    Show(ShowArgs),
}

/// `status set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// LeiKa key (14 digits, or its URN) or EfA id.
    pub subject: String,
    /// Ressort Kürzel (MI, MF, ...), for Land services.
    #[arg(long, conflicts_with = "ars", required_unless_present = "ars")]
    pub ressort: Option<String>,
    /// The municipality, for municipal services: 12-digit ARS, 8-digit AGS or its
    /// unique name ("Göttingen, Stadt"; case and umlaut spelling do not matter).
    #[arg(long)]
    pub ars: Option<String>,
    /// nicht_begonnen, geplant, beauftragt, in_umsetzung, pilot, produktiv,
    /// eingestellt or abgelehnt.
    #[arg(long)]
    pub status: String,
    /// Date the status took effect (YYYY-MM-DD or DD.MM.YYYY; not in the future).
    #[arg(long, value_name = "DATE")]
    pub on: String,
    /// Free-text note kept with the event (at most 4096 bytes).
    #[arg(long)]
    pub note: Option<String>,
    /// Who reports the status (kept with the event).
    #[arg(long, value_name = "NAME")]
    pub by: String,
}

/// `status import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    /// Who delivered the report (kept with every event).
    #[arg(long, value_name = "NAME")]
    pub by: String,
    /// Apply the valid rows and list the others instead of applying nothing.
    #[arg(long)]
    pub partial: bool,
}

/// `status show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// LeiKa key (14 digits, or its URN) or EfA id.
    #[arg(value_parser = super::id_arg)]
    pub subject: String,
    /// The status in effect on this date instead of now (YYYY-MM-DD or DD.MM.YYYY).
    #[arg(long, value_name = "DATE", conflicts_with = "history", value_parser = super::date_arg)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Only this municipality: 12-digit ARS, 8-digit AGS or its unique name.
    #[arg(long)]
    pub ars: Option<String>,
    /// Every event instead of the status in effect.
    #[arg(long)]
    pub history: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

impl StatusAction {
    pub fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self {
            StatusAction::Set(args) => set(ctx, args),
            StatusAction::Import(args) => import(ctx, &args.file, &args.by, args.partial),
            StatusAction::Show(args) => show(ctx, args),
        }
    }
}

fn set(ctx: &Context, args: SetArgs) -> anyhow::Result<ExitCode> {
    let SetArgs {
        subject,
        ressort,
        ars,
        status,
        on,
        note,
        by,
    } = args;
    let (subject, status, on) = (subject.as_str(), status.as_str(), on.as_str());
    let by = reported_by(&by)?;
    refuse_a_new_database(ctx)?;
    let mut conn = ctx.open_writer()?;
    let catalog = store::status::catalog(&conn)?;
    let ars = ars
        .map(|a| store::read::resolve_ars(&conn, &a))
        .transpose()?;
    let (leika, efa) = match Subject::from_arg(subject) {
        Subject::Leika(_) => (subject.trim(), ""),
        Subject::Efa(_) => ("", subject.trim()),
    };
    let cells = Cells {
        leika,
        efa,
        ressort: ressort.as_deref().map(str::trim).unwrap_or(""),
        ars: ars.as_deref().map(str::trim).unwrap_or(""),
        status,
        date: on,
        note: note.as_deref().unwrap_or(""),
    };
    let row = report::check_row(0, &cells, &catalog, today()).map_err(|errors| {
        let msgs: Vec<String> = errors.iter().map(argument_error).collect();
        crate::Error::usage(msgs.join("; "))
    })?;
    store::status::record(&mut conn, std::slice::from_ref(&row), "status set", by)?;
    if !ctx.quiet {
        let name = if cells.ars.is_empty() {
            String::new()
        } else {
            store::read::municipality_name(&conn, cells.ars)?
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        };
        say!(
            "{} {} for {} {}{name}: {} since {}",
            row.subject.kind(),
            row.subject.id(),
            row.scope.kind(),
            cells.ressort.to_owned() + cells.ars,
            row.status.as_str(),
            row.effective_on
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A row error of `status set`, named by the argument instead of the CSV column.
fn argument_error(e: &RowError) -> String {
    let arg = match e.column.as_str() {
        "Leistungsschluessel" | "EfA-ID" => "SUBJECT",
        "Ressort" => "--ressort",
        "ARS" => "--ars",
        "Status" => "--status",
        "Gueltig ab" => "--on",
        "Bemerkung" => "--note",
        other => other,
    };
    if e.value.is_empty() {
        format!("{arg}: {}", e.message)
    } else {
        format!("{arg} {:?}: {}", e.value, e.message)
    }
}

/// Rows of a status report held in memory per sorted run (default 2,097,152, about
/// 64 MiB): smaller bounds memory further on a small machine, and lets tests make a
/// small report spill.
pub const RUN_ROWS_VAR: &str = "OZGSYNC_STATUS_RUN_ROWS";

/// The `--by` of `status set`/`import` (see [`super::by_arg`]): it is kept with
/// every event forever, the only answer to "who said so".
fn reported_by(by: &str) -> anyhow::Result<&str> {
    Ok(super::by_arg(
        by,
        "--by must name who reports the status (a person or office; it is kept with every event)",
    )?)
}

fn import(
    ctx: &Context,
    file: &std::path::Path,
    by: &str,
    partial: bool,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let by = reported_by(by)?;
    // Streamed, not read whole: the report may be anything, of any size.
    let input =
        super::open_input(ctx, file).map_err(crate::Error::io("opening status report", file))?;
    refuse_a_new_database(ctx)?;
    let mut conn = ctx.open_writer()?;
    let catalog = store::status::catalog(&conn)?;
    let mut input = std::io::BufReader::new(input);
    let head = std::io::BufRead::fill_buf(&mut input)
        .map_err(crate::Error::io("reading status report", file))?;
    // A workbook is recognised by content, whatever the file is called. The valid
    // rows go into sorted runs (spilled to anonymous temporary files when large) in
    // this first pass; they are written only if the whole file is valid.
    let held = match std::env::var_os(RUN_ROWS_VAR) {
        None => crate::status::sorted::ReportRows::new(),
        Some(v) => match v.to_str().and_then(|v| v.trim().parse::<usize>().ok()) {
            Some(rows) if rows > 0 => {
                crate::status::sorted::ReportRows::with_run_size(rows, usize::MAX)
            }
            // A typo must not silently fall back to the default runs.
            _ => {
                return Err(crate::Error::usage(format!(
                    "{RUN_ROWS_VAR}={v:?} is not a number of rows above 0; unset it for the default ({})",
                    crate::status::sorted::RUN_ROWS
                ))
                .into())
            }
        },
    };
    let validated = if crate::parse::xlsx_sheet::is_xlsx(head) {
        // `input` is a regular file or a temporary copy of a pipe, so the reader
        // can go over it more than once (see `xlsx_sheet::stream`).
        report::validate_xlsx_into(input, &catalog, today(), held)
    } else {
        report::validate_into(input, &catalog, today(), held)
    }
    .map_err(|e| crate::Error::Invalid(format!("{}: {e}", file.shown())))?;
    // Rows an autofilter hid are recorded like the others (see the sheets); the
    // warning comes before the rows' errors, as for the sheet imports, and says
    // whether they are recorded: a report refused below records nothing.
    let refused = validated.lines == 0
        || (validated.error_count > 0 && (!partial || validated.rows.is_empty()));
    if let Some(warning) = super::annotations::hidden_rows_warning(&validated.hidden_rows, !refused)
    {
        eprintln!(
            "{}: warning: {}",
            visible(&file.shown().to_string()),
            visible(&warning)
        );
    }
    tracing::debug!(rows = validated.rows.len(), spilled_runs = validated.rows.spilled_runs(), elapsed = ?started.elapsed(), "status import: read and validated");
    for e in &validated.errors {
        eprintln!(
            "{}: {}",
            visible(&file.shown().to_string()),
            visible(&e.to_string())
        );
    }
    let unshown = validated.error_count - validated.errors.len() as u64;
    if unshown > 0 {
        eprintln!(
            "{}: {unshown} more error(s) not shown (only the first {} are listed)",
            file.shown(),
            report::MAX_ERRORS_KEPT
        );
    }
    // A header and nothing else is what an export cut after its first line looks
    // like; like an empty LeiKa or GV100AD payload it is refused, not "0 recorded".
    if validated.lines == 0 {
        return Err(crate::Error::Invalid(format!(
            "{}: the file holds the header line but no rows; nothing was recorded. An export cut after its first line looks like this: check the file (a Kommune with nothing to report sends no file)",
            file.shown()
        ))
        .into());
    }
    if validated.error_count > 0 && (!partial || validated.rows.is_empty()) {
        let way_out = if validated.rows.is_empty() {
            "no row is valid; fix the rows".to_owned()
        } else {
            format!(
                "fix the rows, or pass --partial to apply the {} valid rows",
                validated.rows.len()
            )
        };
        return Err(crate::Error::Invalid(format!(
            "{}: {} error(s) in {} of {} rows; nothing was applied ({way_out})",
            file.shown(),
            validated.error_count,
            validated.bad_lines,
            validated.lines,
        ))
        .into());
    }
    let origin = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.shown().to_string());
    let valid = validated.rows.len();
    let sorted = validated
        .rows
        .into_sorted()
        .map_err(store::status::spill_error)?;
    let written = store::status::record_sorted(&mut conn, sorted, &origin, by)?;
    if !ctx.quiet {
        let skipped = validated.lines - valid;
        say!(
            "{}: {written} status event(s) recorded{}",
            file.shown(),
            if skipped > 0 {
                format!(", {skipped} row(s) with errors skipped (listed above)")
            } else {
                String::new()
            }
        );
    }
    // As for the sheet imports: rows refused under --partial are exit code 1, so a
    // cron job learns that part of the report was not recorded.
    if validated.error_count > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &Context, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let ShowArgs {
        subject,
        as_of: date,
        ars,
        history,
        format,
    } = args;
    let ars = ars.as_deref();
    let subject = Subject::from_arg(&subject);
    let conn = ctx.open_reader()?;
    let mut rows = if history {
        store::status::history(&conn, &subject)?
    } else {
        store::status::show(&conn, &subject, date)?
    };
    if let Some(ars) = ars {
        let ars = store::read::resolve_ars(&conn, ars)?;
        rows.retain(|r| r.scope_kind == "ars" && r.scope == ars);
    }
    if rows.is_empty() && format != Format::Json {
        if !ctx.quiet {
            eprintln!(
                "no status recorded for {} {}{}",
                subject.kind(),
                subject.id(),
                date.map(|d| format!(" on or before {d}"))
                    .unwrap_or_default()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "scope_kind",
        "scope",
        "ressort",
        "status",
        "effective_on",
        "note",
        "recorded_by",
        "recorded_at",
        "origin",
        // last, so that the columns scripts read by position stay where they were
        "municipality",
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.scope_kind.clone(),
                r.scope.clone(),
                opt(&r.ressort),
                r.status.clone(),
                r.effective_on.clone(),
                opt(&r.note),
                r.recorded_by.clone(),
                r.recorded_at.clone(),
                r.origin.clone(),
                opt(&r.municipality),
            ]
        })
        .collect();
    render(format, &header, &table, &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// Every status row names a current service or EfA service, which only a database
/// that has imported them holds: into a new one no row could be recorded, so a
/// mistyped --db is said as such and leaves no empty database behind.
fn refuse_a_new_database(ctx: &Context) -> Result<(), crate::Error> {
    if std::fs::symlink_metadata(&ctx.db).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Err(crate::Error::Database {
            path: ctx.db.clone(),
            problem: "does not exist, and a status report names services and Gemeinden that only a database holding them can record; nothing was created. Check --db, OZGSYNC_DB or the config's `database` (`ozgsync config check` shows which is used), or import the sources first (`ozgsync sync`, or `ozgsync import leika …` and `ozgsync import gv100ad …`)".into(),
        });
    }
    Ok(())
}
