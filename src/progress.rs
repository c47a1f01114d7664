//! The progress hook: long downloads and imports report bytes or records done on
//! the current tracing span. With stderr on a terminal, the logging layer draws
//! that as a progress bar (indicatif, via tracing-indicatif); otherwise these calls
//! do nothing. Code that reports progress stays free of any terminal handling.

use tracing_indicatif::span_ext::IndicatifSpanExt;

/// Sets the total (bytes or records) of the work in the current span, when known.
pub fn set_total(total: u64) {
    let span = tracing::Span::current();
    span.pb_set_style(&bar_style());
    span.pb_set_length(total);
}

/// Advances the current span's progress by `done` units.
pub fn advance(done: u64) {
    tracing::Span::current().pb_inc(done);
}

fn bar_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{span_child_prefix}{spinner} {span_name}{{{span_fields}}} [{bar:30}] {pos}/{len} {elapsed}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ")
}
