//! What a case reports (measured rows, aims, comparisons with a baseline) and how the
//! run prints it: markdown tables, ready to paste into a dated section of
//! benches/HISTORY.md.

use std::fmt::Write as _;
use std::time::Duration;

use super::measure::{Measurement, Pair};

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
    /// Ours against a baseline, measured alternately (`measure_interleaved`).
    pub comparisons: Vec<Comparison>,
}

/// One step of ours against its baseline, the samples of both taken alternately.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub what: String,
    pub ours: Measurement,
    pub base: Measurement,
    /// How many threads ours runs on, and which: its CPU time can pass its wall time.
    pub threads: String,
}

impl Comparison {
    pub fn pair(&self) -> Pair<'_> {
        Pair {
            ours: &self.ours,
            base: &self.base,
        }
    }

    /// "per pair 1.93× (1.71–2.20), CPU 2.41×": what the aims' ratio of medians is
    /// shown beside.
    pub fn summary(&self) -> String {
        let pair = self.pair();
        format!(
            "per pair {}{}, CPU {:.2}×",
            pair.pair_ratio().map_or("–".into(), |r| format!("{r:.2}×")),
            range(&pair.pair_ratios()),
            pair.cpu_ratio()
        )
    }
}

/// " (1.71–2.20)", or nothing for fewer than two values.
fn range(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 {
        String::new()
    } else {
        format!(" ({lo:.2}–{hi:.2})")
    }
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

/// A peak resident set (KiB, as `wait4` reports it) in decimal megabytes, the
/// unit the aims are stated in, and in MiB: "171.1 MB (163.1 MiB)".
pub fn fmt_rss(kib: u64) -> String {
    format!("{:.1} MB ({})", kib as f64 * 1024.0 / 1e6, fmt_mib(kib))
}

/// Whether a peak resident set (KiB) stays under an aim of `limit_mb` decimal
/// megabytes ("< 100 MB", "< 256 MB").
pub fn rss_under(kib: u64, limit_mb: u64) -> bool {
    kib * 1024 < limit_mb * 1_000_000
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
        "| case | step | records | median ({reps} runs) | min | records/s (median) | CPU (median) | peak RSS | note |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|");
    for row in reports.iter().flat_map(|r| &r.rows) {
        let records = row.records.map_or("–".into(), |n| n.to_string());
        let (median, min, per_sec, cpu, rss) = match &row.measurement {
            Some(m) => (
                // A step measured more often than `--reps` says so in its cell.
                match m.samples.len() {
                    runs if runs > reps => format!("{} ({runs} runs)", fmt_duration(m.median())),
                    _ => fmt_duration(m.median()),
                },
                fmt_duration(m.min()),
                row.records.map_or("–".into(), |n| rate(n, m.median())),
                fmt_duration(m.cpu_median()),
                fmt_mib(m.peak_rss_kib()),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {records} | {median} | {min} | {per_sec} | {cpu} | {rss} | {} |",
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
    let comparisons: Vec<&Comparison> = reports.iter().flat_map(|r| &r.comparisons).collect();
    if !comparisons.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Against the baseline, alternated (run i of ozgsync, then run i of the baseline, \
             each after its own set-up), so both sides see the same minutes of the host. \
             Wall from spawn to exit; CPU = user + system of the child, all its threads \
             (`wait4`). The aims use the ratio of the wall medians; the ratio per pair and \
             the CPU ratio tell host noise from code:"
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| comparison | runs | ozgsync wall | baseline wall | ratio of medians | median of pair ratios (range) | ozgsync CPU | baseline CPU | CPU ratio | ozgsync threads |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for c in comparisons {
            let pair = c.pair();
            let ratios = pair.pair_ratios();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2}× | {}{} | {} | {} | {:.2}× | {} |",
                c.what,
                ratios.len(),
                fmt_duration(c.ours.median()),
                fmt_duration(c.base.median()),
                pair.wall_ratio(),
                pair.pair_ratio().map_or("–".into(), |r| format!("{r:.2}×")),
                range(&ratios),
                fmt_duration(c.ours.cpu_median()),
                fmt_duration(c.base.cpu_median()),
                pair.cpu_ratio(),
                c.threads.replace('|', "\\|"),
            );
        }
    }
    for table in reports.iter().flat_map(|r| &r.tables) {
        let _ = writeln!(out);
        out.push_str(table);
    }
    out
}
