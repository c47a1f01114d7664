//! Logging setup: tracing to stderr, filtered by `RUST_LOG` (default `info`, or
//! `warn` with `--quiet`). `text` is for people (colours and spinners for running
//! spans only when stderr is a terminal); `json` is one object per line with the
//! span chain (run, release), for journald or log shippers.

use std::io::IsTerminal;

use tracing_indicatif::IndicatifLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

pub fn init(quiet: bool, format: LogFormat) {
    let default = if quiet { "warn" } else { "info" };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::stderr().is_terminal();
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
                    .with_ansi(terminal)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}
