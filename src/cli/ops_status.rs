//! The operations overview of `ozgsync status`, rendered: the overview itself
//! ([`crate::overview`]) is made by the library; this file prints it as tables or
//! as JSON.

use crate::error::ShowPath;
use std::process::ExitCode;

use super::output;
use super::Context;
use crate::overview::Overview;

pub fn run(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let conn = ctx.open_reader()?;
    let overview =
        crate::overview::overview(&conn, &ctx.db, ctx.config.as_ref(), chrono::Utc::now())?;
    if json {
        output::json(&mut output::stdout(), &overview)?;
    } else {
        print_text(&overview)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(o: &Overview) -> anyhow::Result<()> {
    let mut out = super::output::stdout();
    use std::io::Write;
    writeln!(
        out,
        "database {}: {} (+ {} write-ahead log), schema version {}\n",
        o.database.path.shown(),
        human_size(o.database.size_bytes),
        human_size(o.database.wal_bytes),
        o.database.schema_version
    )?;
    let rows: Vec<Vec<String>> = o
        .jobs
        .iter()
        .map(|j| {
            let last = j.last_run.as_ref();
            vec![
                j.job.clone(),
                last.map(|l| l.started.clone())
                    .unwrap_or_else(|| "never".into()),
                last.map(|l| l.trigger.clone()).unwrap_or_default(),
                last.map(|l| l.outcome.clone()).unwrap_or_default(),
                output::opt(&j.next_run),
                last.and_then(|l| l.error.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &mut out,
        &["JOB", "LAST RUN", "TRIGGER", "OUTCOME", "NEXT RUN", "ERROR"],
        &rows,
    )?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = o
        .sources
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.release_id.to_string(),
                s.fetched_at.clone(),
                s.status.clone(),
                s.releases.to_string(),
            ]
        })
        .collect();
    output::table(
        &mut out,
        &["SOURCE", "LAST RELEASE", "FETCHED", "STATUS", "RELEASES"],
        &rows,
    )?;
    Ok(())
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match UNITS.get(unit) {
        Some(&"B") | None => format!("{bytes} B"),
        Some(u) => format!("{value:.1} {u}"),
    }
}
