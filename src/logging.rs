//! Logging setup: tracing to stderr, filtered by `RUST_LOG` (default `info`, or
//! `error` with `--quiet`: errors only, so cron mails only when something failed).
//! `text` is for people (spinners for running spans only when stderr is a terminal,
//! colours as `--color` and `NO_COLOR` say); `json` is one object per line with the
//! span chain (run, release), for journald or log shippers.

use std::io::IsTerminal;

use tracing_indicatif::IndicatifLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// When log lines on stderr are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Color {
    /// When stderr is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always, also into a pipe or file (and despite `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

impl Color {
    /// Whether to colour, given whether stderr is a terminal and `NO_COLOR`'s value
    /// (<https://no-color.org>: any non-empty value turns colours off).
    pub fn ansi(self, terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

pub fn init(quiet: bool, format: LogFormat, color: Color) {
    let default = if quiet { "error" } else { "info" };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::stderr().is_terminal();
    let ansi = color.ansi(terminal, std::env::var("NO_COLOR").ok().as_deref());
    let registry = tracing_subscriber::registry();
    let _ = match format {
        LogFormat::Json => registry
            .with(filter())
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text if terminal && !quiet => {
            // Progress bars and log lines share stderr: the layer's writer prints
            // lines above the bars instead of through them.
            let progress = IndicatifLayer::new();
            registry
                .with(filter())
                .with(
                    fmt::layer()
                        .with_target(false)
                        .with_ansi(ansi)
                        .with_writer(progress.get_stderr_writer()),
                )
                .with(progress)
                .try_init()
        }
        LogFormat::Text => registry
            .with(filter())
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::Color;

    #[test]
    fn no_color_turns_auto_off_but_not_an_explicit_choice() {
        assert!(Color::Auto.ansi(true, None));
        assert!(Color::Auto.ansi(true, Some("")));
        assert!(!Color::Auto.ansi(true, Some("1")));
        assert!(!Color::Auto.ansi(false, None));
        assert!(Color::Always.ansi(false, Some("1")));
        assert!(!Color::Never.ansi(true, None));
    }
}
