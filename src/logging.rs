//! Logging setup: tracing to stderr, filtered by `RUST_LOG` (default `info`, or
//! `warn` with `--quiet`).

use tracing_subscriber::EnvFilter;

pub fn init(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
