//! The `ozgsync` binary: parse arguments, set up logging, run the command, map the
//! outcome to an exit code (0 success, 1 failure, 2 usage error; `cli::EXIT_CODES`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc instead of glibc malloc: see ARCHITECTURE.md (code map, `src/main.rs`) and
/// BENCHMARKS.md ("LeiKa import", decision 4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ozgsync::cli::parse();
    ozgsync::logging::init(cli.quiet, cli.log_format, cli.color);
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (`ozgsync releases | head`) is not a failure. Only
            // stdout's own closed pipe counts (`cli::output` notes it, also where
            // a serializer wrapped the io::Error): a broken pipe of a socket
            // during a download is a real failure.
            if ozgsync::cli::stdout_closed() {
                return ExitCode::SUCCESS;
            }
            // Whatever the error quotes from a file, a name or a path, its control
            // characters are shown, not obeyed, and a line it holds is indented
            // under this one (`logging::visible_lines`).
            eprintln!(
                "error: {}",
                ozgsync::logging::visible_lines(&describe(&err))
            );
            ozgsync::cli::exit_code_for(&err)
        }
    }
}

/// The error and its causes on one line, skipping causes that the message above them
/// already quotes.
fn describe(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}
