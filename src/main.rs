//! The `ozgsync` binary: parse arguments, set up logging, run the command, map the
//! outcome to an exit code (0 success, 1 failure, 2 usage error; `cli::EXIT_CODES`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ozgsync::cli::Cli::parse();
    ozgsync::logging::init(cli.quiet, cli.log_format, cli.color);
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`ozgsync releases | head`) is not a failure. The
            // flag catches it also where a serializer (JSON, CSV) wrapped the
            // io::Error beyond `downcast_ref`'s reach.
            if ozgsync::cli::stdout_closed()
                || err.chain().any(|e| {
                    e.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                })
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", describe(&err));
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
