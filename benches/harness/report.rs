//! What a case reports (measured rows and aims) and how the run prints it: two
//! markdown tables, ready to paste into a dated section of benches/HISTORY.md.

use std::fmt::Write as _;
use std::time::Duration;

use super::measure::Measurement;

/// One measured step of a case.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: String,
    pub step: String,
    /// Input records the step handles (for rows/s); None when not meaningful.
    pub records: Option<u64>,
    /// None when the step could not run (the note says why).
    pub measurement: Option<Measurement>,
    pub note: String,
}

/// A target the table shows as met or not; a missed aim never fails the run.
#[derive(Debug, Clone)]
pub struct Aim {
    pub what: String,
    pub target: String,
    pub measured: String,
    /// None: could not be checked (e.g. baseline missing).
    pub met: Option<bool>,
}

/// What one case hands back.
#[derive(Debug, Clone, Default)]
pub struct CaseReport {
    pub rows: Vec<Row>,
    pub aims: Vec<Aim>,
    /// A step failed (its row says why); the run exits 1.
    pub failed: bool,
    /// Further markdown tables of the case (e.g. one row per size), printed after
    /// the aims.
    pub tables: Vec<String>,
}

pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub fn fmt_mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn rate(records: u64, d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return "–".into();
    }
    let per_sec = records as f64 / secs;
    if per_sec >= 10_000.0 {
        format!("{:.0}k", per_sec / 1000.0)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Markdown for all reports: the results table, then the aims table.
pub fn render(reports: &[CaseReport], reps: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| case | step | records | median ({reps} runs) | min | records/s (median) | peak RSS | note |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|");
    for row in reports.iter().flat_map(|r| &r.rows) {
        let records = row.records.map_or("–".into(), |n| n.to_string());
        let (median, min, per_sec, rss) = match &row.measurement {
            Some(m) => (
                fmt_duration(m.median()),
                fmt_duration(m.min()),
                row.records.map_or("–".into(), |n| rate(n, m.median())),
                fmt_mib(m.peak_rss_kib()),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {records} | {median} | {min} | {per_sec} | {rss} | {} |",
            row.case,
            row.step,
            row.note.replace('|', "\\|")
        );
    }
    let aims: Vec<&Aim> = reports.iter().flat_map(|r| &r.aims).collect();
    if !aims.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "| aim | target | measured | met |");
        let _ = writeln!(out, "|---|---|---|---|");
        for aim in aims {
            let met = match aim.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not checked",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {met} |",
                aim.what, aim.target, aim.measured
            );
        }
    }
    for table in reports.iter().flat_map(|r| &r.tables) {
        let _ = writeln!(out);
        out.push_str(table);
    }
    out
}
