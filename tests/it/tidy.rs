//! Tidy: ARCHITECTURE.md's "must not" column, checked mechanically on the source
//! text (in the manner of rust-analyzer's `tidy.rs`). A failure names the file, the
//! line and the rule it breaks, and says what to do.
//!
//! Lines that are comments (`//`, `//!`, `///`) are not code and are not checked.
//! A known breach that another piece of work removes is listed in [`EXCEPTIONS`]
//! with the reason; an exception that no longer matches anything fails too, so the
//! list only shrinks.

use std::fs;
use std::path::{Path, PathBuf};

/// One rule of the code map: `needles` must not occur in code lines of files under
/// `scope` unless the file is under one of `allowed`.
struct Rule {
    /// A short name, used by [`EXCEPTIONS`].
    name: &'static str,
    /// Substrings of a code line that break the rule (matched at a word start).
    needles: &'static [&'static str],
    /// Path prefixes (relative to the repository) that are checked.
    scope: &'static [&'static str],
    /// Path prefixes inside `scope` where the needles are the point.
    allowed: &'static [&'static str],
    /// Substrings taken out of a line before the needles are looked for (what the
    /// rule permits although it contains a needle).
    ignore: &'static [&'static str],
    /// The rule as ARCHITECTURE.md (or the project's rules) states it, and what to do.
    why: &'static str,
}

/// SQL statements run by hand; `store` and `export::query` are where SQL lives.
const SQL_CALLS: &[&str] = &[
    ".prepare(",
    ".prepare_cached(",
    ".execute(",
    ".execute_batch(",
    ".query_row(",
    ".pragma_update(",
    ".pragma_query_value(",
    "Connection::open",
    "rusqlite::backup",
];

/// Modules ARCHITECTURE.md calls pure (no database, no network, no process).
const PURE: &[&str] = &[
    "src/parse/",
    "src/model.rs",
    "src/model/",
    "src/diff.rs",
    "src/annotations/",
    "src/status/",
    "src/efa_nachnutzung/",
    "src/daemon/schedule.rs",
];

const RULES: &[Rule] = &[
    Rule {
        name: "one-binary-runner",
        needles: &["CARGO_BIN_EXE_ozgsync"],
        scope: &["tests/"],
        allowed: &["tests/it/support.rs", "tests/it/tidy.rs"],
        ignore: &[],
        why: "tests run the binary through tests/it/support.rs (`command`, `run_db`, \
              `output_db`, `support::binary()`), so the environment a test must not inherit \
              is removed in one place",
    },
    Rule {
        name: "tests-share-through-support",
        needles: &["super::"],
        scope: &["tests/it/"],
        allowed: &["tests/it/support.rs", "tests/it/tidy.rs", "tests/it/mod.rs"],
        ignore: &["super::support"],
        why: "test modules do not import from each other: move a helper that two modules \
              need into tests/it/support.rs and import it from there",
    },
    Rule {
        name: "sql-outside-store",
        needles: SQL_CALLS,
        scope: &["src/"],
        allowed: &["src/store/", "src/export/"],
        ignore: &[],
        why: "only `store` writes SQL and `export::query` reads it (ARCHITECTURE.md: `src/cli/` \
              must not write SQL other than through `store`; `src/daemon/` must not touch SQL \
              directly). Move the statement into a function of src/store/",
    },
    Rule {
        name: "database-in-pure-code",
        needles: &[
            "rusqlite",
            "crate::store",
            "crate::export",
            "crate::jobs",
            "crate::sync",
        ],
        scope: PURE,
        allowed: &[],
        ignore: &[],
        why: "parsers, the model, the sheet validators and the diff are pure (ARCHITECTURE.md: \
              must not touch the database / know about SQL). Pass plain values in and out; \
              let the caller in cli/, sync.rs or store/ do the database work",
    },
    Rule {
        name: "database-in-fetch",
        needles: &["rusqlite", "crate::store"],
        scope: &["src/fetch/"],
        allowed: &[],
        ignore: &[],
        why: "`fetch` turns a location into a payload file and must not touch the database \
              (ARCHITECTURE.md); `sync` stores what it fetched",
    },
    Rule {
        name: "network-outside-fetch",
        needles: &[
            "reqwest",
            "std::net",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
        ],
        scope: &["src/"],
        allowed: &["src/fetch/"],
        ignore: &[],
        why: "only `fetch` touches the network (ARCHITECTURE.md invariant: parsers and diff are \
              pure, only `fetch` touches the network). Take a payload file from `fetch` instead",
    },
    Rule {
        name: "fetch-in-pure-code",
        needles: &["crate::fetch", "tokio", "crate::progress", "crate::logging"],
        scope: PURE,
        allowed: &[],
        ignore: &[],
        why: "pure code must not reach the network, an async runtime, progress bars or logging \
              set-up (ARCHITECTURE.md: `progress`/`logging` must not be required by pure code)",
    },
    Rule {
        name: "clap-outside-cli",
        needles: &["clap"],
        scope: &["src/"],
        allowed: &["src/cli/", "src/main.rs"],
        ignore: &[],
        why: "argument parsing belongs to the CLI (src/cli/, src/main.rs); the library offers \
              plain types that the CLI maps to clap values",
    },
    Rule {
        name: "print-to-stdout",
        needles: &["println!", "print!", "std::io::stdout()", "io::stdout()"],
        scope: &["src/"],
        allowed: &["src/cli/output.rs"],
        ignore: &[],
        why: "the one way to stdout is `cli::output` (`output::stdout()`, `say!`, `say_json`): \
              `println!` panics on a closed pipe (ARCHITECTURE.md: `src/cli/` must not \
              `println!`)",
    },
    Rule {
        name: "process-exit",
        needles: &["process::exit"],
        scope: &["src/"],
        allowed: &["src/main.rs", "src/cli/"],
        ignore: &[],
        why: "exit codes are decided in main.rs and the CLI (ARCHITECTURE.md: `src/stop.rs` \
              must not exit the process; library work stops by unwinding). Return an error",
    },
    Rule {
        name: "unsafe",
        needles: &["unsafe {", "unsafe fn", "unsafe impl", "unsafe extern"],
        scope: &["src/"],
        allowed: &[],
        ignore: &[],
        why: "no unsafe in src/ (issue 16; `unsafe_code` is forbidden). Use rustix or std",
    },
    Rule {
        name: "debugging-left-in",
        needles: &["dbg!", "todo!", "unimplemented!"],
        scope: &["src/"],
        allowed: &[],
        ignore: &[],
        why: "no stubs and no debugging output in shipped code",
    },
    Rule {
        name: "reads-shared",
        needles: &["../shared", "/work/shared"],
        scope: &[
            "src/",
            "tests/",
            "benches/",
            "deploy/",
            "fuzz/fuzz_targets/",
            "fuzz/run.sh",
            "site/",
            "schema/",
            "Cargo.toml",
        ],
        allowed: &["tests/it/tidy.rs"],
        ignore: &[],
        why: "the project never reads ../shared (ARCHITECTURE.md invariant): copy the data into \
              fixtures/ with its provenance",
    },
    Rule {
        name: "missing-document",
        needles: &["DOMAIN.md", "STYLE.md", "STYLE #"],
        scope: &[
            "src/",
            "schema/",
            "tests/",
            "docs/",
            "benches/",
            "deploy/",
            "site/",
            "README.md",
            "ARCHITECTURE.md",
            "RELIABILITY.md",
            "BENCHMARKS.md",
        ],
        allowed: &["tests/it/tidy.rs"],
        ignore: &[],
        why: "DOMAIN.md and STYLE.md are not in this repository, so a reader cannot follow the \
              reference: say the fact itself, or point to a document in the repository",
    },
];

/// Known breaches, each removed by named work: (rule, file, why it is still here).
/// Delete an entry when its file no longer breaks the rule (the test says so).
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "missing-document",
        "schema/0002_coordination.sql",
        "a shipped migration is never edited; the cabinet of 8 November 2022 is the source",
    ),
    (
        "sql-outside-store",
        "src/demo.rs",
        "the demo flag read (`demo::present`) is a one-row query; to move into store/",
    ),
    (
        "print-to-stdout",
        "src/export/mod.rs",
        "`export --out -` streams a report to stdout; to go through cli::output",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `rel` (a file or a directory), sorted, as paths relative to the
/// repository with `/` separators.
fn files(rel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(rel)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if path.is_file() {
            let rel = path.strip_prefix(root()).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    out.sort();
    out
}

fn is_text(rel: &str) -> bool {
    let ext = Path::new(rel)
        .extension()
        .map(|e| e.to_string_lossy().into_owned());
    matches!(
        ext.as_deref(),
        Some("rs" | "sql" | "md" | "toml" | "sh" | "py" | "html" | "js" | "css" | "json" | "txt")
    ) || rel.ends_with("Dockerfile")
}

/// A comment line of Rust, SQL, shell or Python: its words are not code.
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//") || t.starts_with("/*") || t.starts_with('*')
}

/// Whether `needle` occurs in `line` where a token starts: the character before it
/// is not part of an identifier (so `eprintln!` is not `println!`, `sprint!` not
/// `print!`).
fn occurs(line: &str, needle: &str) -> bool {
    let starts_with_word = needle
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    line.match_indices(needle).any(|(at, _)| {
        !starts_with_word
            || !line[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn under(rel: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| rel.starts_with(p))
}

/// Rules about code (comments may talk about what they forbid) rather than about
/// references (which a comment can get wrong as well as code).
fn code_rule(rule: &Rule) -> bool {
    !matches!(rule.name, "reads-shared" | "missing-document")
}

/// Whether a file is checked by a rule: `.rs` files for code rules, every text file
/// for rules about references.
fn applies(rule: &Rule, rel: &str) -> bool {
    if code_rule(rule) {
        rel.ends_with(".rs")
    } else {
        is_text(rel)
    }
}

#[test]
fn the_code_map_holds() {
    let mut breaches = Vec::new();
    let mut used = vec![false; EXCEPTIONS.len()];
    for rule in RULES {
        let mut seen = Vec::new();
        for scope in rule.scope {
            for rel in files(scope) {
                if seen.contains(&rel) || under(&rel, rule.allowed) || !applies(rule, &rel) {
                    continue;
                }
                seen.push(rel.clone());
                let Ok(text) = fs::read_to_string(root().join(&rel)) else {
                    continue;
                };
                let skip_comments = rel.ends_with(".rs") && code_rule(rule);
                for (n, line) in text.lines().enumerate() {
                    if skip_comments && is_comment(line) {
                        continue;
                    }
                    let mut checked = line.to_owned();
                    for permitted in rule.ignore {
                        checked = checked.replace(permitted, "");
                    }
                    let Some(needle) = rule.needles.iter().find(|nd| occurs(&checked, nd)) else {
                        continue;
                    };
                    let known = EXCEPTIONS
                        .iter()
                        .position(|(name, file, _)| *name == rule.name && *file == rel);
                    if let Some(i) = known {
                        used[i] = true;
                        continue;
                    }
                    breaches.push(format!(
                        "{rel}:{line}: `{needle}` breaks rule {name}: {why}.\n    {text}",
                        line = n + 1,
                        name = rule.name,
                        why = rule.why,
                        text = line.trim(),
                    ));
                }
            }
        }
    }
    for (i, (name, file, why)) in EXCEPTIONS.iter().enumerate() {
        if !used[i] {
            breaches.push(format!(
                "tests/it/tidy.rs: the exception ({name}, {file}: {why}) matches nothing any \
                 more: delete it from EXCEPTIONS so the rule holds for that file from now on"
            ));
        }
    }
    assert!(
        breaches.is_empty(),
        "ARCHITECTURE.md's code map is broken ({} finding(s)):\n{}",
        breaches.len(),
        breaches.join("\n")
    );
}

/// Each rule's scope and allowed paths exist, so a rename cannot switch a rule off
/// silently.
#[test]
fn every_rule_names_paths_that_exist() {
    for rule in RULES {
        for p in rule.scope.iter().chain(rule.allowed) {
            let path: PathBuf = root().join(p);
            assert!(
                path.exists(),
                "tests/it/tidy.rs: rule {} names {p}, which does not exist; update the rule",
                rule.name
            );
        }
    }
    for (name, file, _) in EXCEPTIONS {
        assert!(
            root().join(file).exists(),
            "tests/it/tidy.rs: the exception ({name}, {file}) names a file that does not exist; \
             delete it"
        );
    }
}

/// `fuzz/` is its own workspace with its own `Cargo.lock`, which cargo re-resolves
/// in silence when it is stale: its entry for the library lacked 15 of the
/// library's direct dependencies (mimalloc, hyper, zip, …), so a fuzz build chose
/// their versions anew, not the ones the binary ships with (`fuzz/run.sh` now
/// refuses such a lock). The
/// fuzz lock holds every crate the library depends on (all but the
/// dev-dependencies), and every crate the two locks share at the main lock's versions.
#[test]
fn the_fuzz_lock_follows_the_main_lock() {
    fn lock(rel: &str) -> String {
        fs::read_to_string(root().join(rel)).unwrap()
    }
    /// (name, version) of every package.
    fn packages(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut name = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("name = \"") {
                name = Some(v.trim_end_matches('"').to_owned());
            } else if let (Some(v), Some(n)) = (line.strip_prefix("version = \""), name.take()) {
                out.push((n, v.trim_end_matches('"').to_owned()));
            }
        }
        out
    }
    /// The names the `ozgsync` package depends on directly.
    fn ozgsync_deps(text: &str) -> Vec<String> {
        let start = text
            .find("[[package]]\nname = \"ozgsync\"\n")
            .expect("the ozgsync package in the lock");
        let entry = &text[start..];
        let entry = &entry[..entry[1..]
            .find("[[package]]")
            .map_or(entry.len(), |e| e + 1)];
        let Some(list) = entry.split("dependencies = [").nth(1) else {
            return Vec::new();
        };
        list.lines()
            .map(|l| l.trim().trim_matches(|c| c == '"' || c == ','))
            .take_while(|l| *l != "]")
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }
    let manifest = lock("Cargo.toml");
    let dev_only: Vec<&str> = manifest
        .split("[dev-dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .collect();
    let (main, fuzz) = (lock("Cargo.lock"), lock("fuzz/Cargo.lock"));
    let mut stale = Vec::new();
    let in_fuzz = ozgsync_deps(&fuzz);
    for dep in ozgsync_deps(&main) {
        if !dev_only.contains(&dep.as_str()) && !in_fuzz.contains(&dep) {
            stale.push(format!("{dep} is missing"));
        }
    }
    let versions = packages(&main);
    for (name, version) in packages(&fuzz) {
        let in_main: Vec<&str> = versions
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if !in_main.is_empty() && !in_main.contains(&version.as_str()) {
            stale.push(format!(
                "{name} {version} (Cargo.lock: {})",
                in_main.join(", ")
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "fuzz/Cargo.lock does not follow Cargo.lock: {}; renew it: \
         cd fuzz && cp ../Cargo.lock Cargo.lock && cargo metadata >/dev/null",
        stale.join("; ")
    );
}
