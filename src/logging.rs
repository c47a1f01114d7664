//! Logging setup: tracing to stderr, filtered by `RUST_LOG` (default `info`, or
//! `error` with `--quiet`: errors only, so cron mails only when something failed).
//! `text` is for people (spinners for running spans only when stderr is a terminal,
//! colours as `--color` and `NO_COLOR` say); `json` is one object per line with the
//! span chain (run, release), for journald or log shippers.

use std::borrow::Cow;
use std::io::IsTerminal;

use tracing_indicatif::IndicatifLayer;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, FormatFields};
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
    /// When stderr is a terminal (not `TERM=dumb`) and `NO_COLOR` is unset or empty.
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

/// How a text log line writes its fields: as the default does (`message`, then
/// `name=value` separated by blanks), each value through [`visible`]. An error
/// quoting a file (a header holding `\x1b[2J`, a name with a line break) would
/// otherwise reach the terminal or journal raw and could forge a line there.
fn visible_fields() -> impl for<'w> FormatFields<'w> + 'static {
    debug_fn(|w, field, value| {
        let value = format!("{value:?}");
        if field.name() == "message" {
            write!(w, "{}", visible(&value))
        } else {
            write!(w, "{field}={}", visible(&value))
        }
    })
    .delimited(" ")
}

pub fn init(quiet: bool, format: LogFormat, color: Color) {
    let default = if quiet { "error" } else { "info" };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // `TERM=dumb` (Emacs' shell buffer, some CI consoles, a serial line) is a
    // terminal that acts on no escape sequence: it gets what a pipe gets, plain
    // lines and no progress bar.
    let terminal = std::io::stderr().is_terminal() && !acts_on_no_escapes(std::env::var_os("TERM"));
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
                        .fmt_fields(visible_fields())
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
                    .fmt_fields(visible_fields())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Whether a terminal of this `TERM` shows escape sequences as garbage.
fn acts_on_no_escapes(term: Option<std::ffi::OsString>) -> bool {
    term.is_some_and(|t| t == "dumb")
}

/// `s` as it may reach a terminal or a log: every character that would act instead
/// of show is written as an escape a person can read, the rest as it is. A cell of a
/// downloaded file (`\x1b[2J` clears the screen, `\x1b]0;…\x07` retitles the
/// window), a line break or carriage return (which forge a line of their own in a
/// table, an error or a cron mail), NUL and the bidirectional overrides (U+202E
/// shows text reversed) become `\e`, `\n`, `\r`, `\t`, `\0` or `\u{202e}`. The
/// data is stored as published; only what text output shows is escaped, with
/// this function alone: every field of a text log line ([`init`]), and in
/// `cli::output` the table cells, a record's fields, the error line and the rows
/// an import refused. CSV and JSON carry the value itself (JSON escapes controls
/// on its own).
pub fn visible(s: &str) -> Cow<'_, str> {
    escaped(s, false)
}

/// [`visible`] for a message of several lines (a configuration's parse error
/// draws the line it means, with a caret below): a line break stays one, and
/// the line after it is indented by two blanks, so that no line a message quotes
/// starts where a line of its own would (`error: …`, a log line's time).
pub fn visible_lines(s: &str) -> Cow<'_, str> {
    escaped(s, true)
}

fn escaped(s: &str, keep_lines: bool) -> Cow<'_, str> {
    if !s.chars().any(acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_lines => out.push_str("\n  "),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{1b}' => out.push_str("\\e"),
            c if acts(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` acts on a terminal or on the order of the text around it rather
/// than showing: the C0 and C1 controls and DEL, the line and paragraph
/// separators, and the bidirectional marks, embeddings, overrides and isolates.
fn acts(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::{visible, visible_lines, Color};

    #[test]
    fn what_a_terminal_would_obey_is_shown_escaped() {
        assert!(matches!(
            visible("Straße"),
            std::borrow::Cow::Borrowed("Straße")
        ));
        assert_eq!(
            visible("a\u{1b}[2J\u{1b}]0;t\u{7}b"),
            "a\\e[2J\\e]0;t\\u{7}b"
        );
        assert_eq!(visible("x\r\ny\tz\0"), "x\\r\\ny\\tz\\0");
        assert_eq!(
            visible("ab\u{202e}cd\u{9b}\u{7f}"),
            "ab\\u{202e}cd\\u{9b}\\u{7f}"
        );
        assert_eq!(visible("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(
            visible_lines("bad\n  |\nerror: forged\r\u{1b}[2J"),
            "bad\n    |\n  error: forged\\r\\e[2J"
        );
    }

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
