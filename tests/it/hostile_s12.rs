//! The hostile tester's list of session 12, each through the real binary: angles
//! no earlier round tried (terminal and log injection, paths that are not UTF-8,
//! hostile names on the site, two writers at once, the README as a new user reads
//! it).

use super::support::{self, scratch};

/// Characters a terminal obeys instead of showing, as a downloaded file may hold
/// them: ESC (clear screen, window title), BEL, the right-to-left override.
const ACTING: [char; 3] = ['\u{1b}', '\u{7}', '\u{202e}'];

#[track_caller]
fn shows_no_control(what: &str, text: &str) {
    for c in ACTING {
        assert!(
            !text.contains(c),
            "{what}: U+{:04X} reached the terminal raw:\n{text}",
            c as u32
        );
    }
}

const LEIKA_HEADER: &str = "\"Schluessel\",\"Leistungsgruppierung\",\"Leistungskennung\",\"Verrichtung\",\"Verrichtungsdetail\",\"Bezeichnung\",\"Bezeichnung2\",\"Typ\",\"Veröffentlichungsdatum\",\"Besondere Merkmale\",\"Synonyme\"";

fn leika_row(key: &str, name: &str, typ: &str) -> String {
    format!(
        "\"{key}\",\"\",\"\",\"\",\"\",\"{name}\",\"\",\"{typ}\",\"05.10.2019 14:38\",\"\",\"\""
    )
}

/// A LeiKa cell holding `ESC [2J` (clears the screen), `ESC ]0;…BEL` (retitles the
/// window), U+202E (shows the rest reversed) or a line break inside its quotes
/// reached the operator's terminal raw from `query --format table`, `rejects`,
/// `service`, `search` and the error and log lines (a header holding ESC, quoted
/// by the refusal): a file could clear the screen, hide a warning or forge a line
/// of its own. Now every text output shows such characters as escapes (`\e`,
/// `\n`, `\u{202e}`); the data is stored as published (JSON returns it whole).
#[test]
fn control_characters_in_a_file_are_shown_not_obeyed() {
    let dir = scratch();
    let db = dir.path().join("t.db");
    let leika = dir.path().join("leika.csv");
    let rows = [
        LEIKA_HEADER.to_owned(),
        leika_row("99088026034000", "Abendrealschule Aufnahme", "4"),
        leika_row(
            "99001001002000",
            "Abfall\u{1b}[2J\u{1b}]0;pwned\u{7}gebühr",
            "5",
        ),
        leika_row("99001001003000", "Name\u{202e}evil", "5"),
        leika_row("99001001004000", "Zeile\nerror: forged line", "5"),
        leika_row("9900100100\u{1b}[31mX", "bad key", "5"),
        leika_row("99001001006000", "Typ bad", "\u{1b}[2Jbad"),
    ];
    std::fs::write(&leika, format!("\u{feff}{}\r\n", rows.join("\r\n"))).unwrap();
    let run = support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]);
    run.assert_ok();
    shows_no_control("import", &format!("{}{}", run.stdout, run.stderr));

    let table = support::run_db(
        &db,
        &[
            "query",
            "--format",
            "table",
            "SELECT leistungsschluessel, bezeichnung FROM v_services ORDER BY 1",
        ],
    );
    table.assert_ok();
    shows_no_control("query --format table", &table.stdout);
    assert!(
        table.stdout.contains("Abfall\\e[2J\\e]0;pwned\\u{7}gebühr"),
        "{table:#?}"
    );
    assert!(table.stdout.contains("Name\\u{202e}evil"), "{table:#?}");
    // One line per row: the line break inside a name forges no row of its own.
    assert_eq!(table.stdout.lines().count(), 1 + 5, "{table:#?}");
    assert!(
        table.stdout.contains("Zeile\\nerror: forged line"),
        "{table:#?}"
    );

    let rejects = support::run_db(&db, &["rejects", "1"]);
    rejects.assert_ok();
    shows_no_control("rejects", &rejects.stdout);
    assert!(
        rejects.stdout.contains("9900100100\\e[31mX"),
        "{rejects:#?}"
    );
    assert!(rejects.stdout.contains("'\\e[2Jbad'"), "{rejects:#?}");

    for args in [
        &["service", "99001001002000"][..],
        &["service", "99001001004000"],
        &["search", "Abfall"],
        &["search", "Name"],
    ] {
        let run = support::run_db(&db, args);
        run.assert_ok();
        shows_no_control(&args.join(" "), &run.stdout);
        assert!(!run.stdout.contains("\nerror: forged"), "{run:#?}");
    }

    // The data is stored as published: JSON carries the value itself.
    let json = support::run_db(
        &db,
        &[
            "query",
            "--format",
            "json",
            "SELECT bezeichnung FROM v_services WHERE leistungsschluessel = '99001001002000'",
        ],
    );
    json.assert_ok();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        value[0]["bezeichnung"],
        "Abfall\u{1b}[2J\u{1b}]0;pwned\u{7}gebühr"
    );

    // A refused payload's error quotes its header, in the error line and in the
    // log line of the run (journal, cron mail).
    let bad = dir.path().join("header.csv");
    std::fs::write(
        &bad,
        "\"Schl\u{1b}[2Juessel\",\"Bezeichnung\"\n\"1\",\"x\"\n",
    )
    .unwrap();
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(
        &config,
        "database = \"c.db\"\n[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"header.csv\"\n",
    )
    .unwrap();
    let sync = support::run_in(dir.path(), &["--config", "ozgsync.toml", "sync"]);
    sync.assert_code(1);
    shows_no_control("sync", &sync.stderr);
    assert!(
        sync.stderr.contains("sync failed error=")
            && sync.stderr.contains("found: Schl\\e[2Juessel"),
        "{sync:#?}"
    );
    assert!(
        sync.stderr
            .contains("error: source leika: ./header.csv: not a LeiKa CSV payload"),
        "{sync:#?}"
    );

    // A file name holding ESC, named by the error.
    let name = "report\u{1b}[2J.csv";
    let run = support::run_db(&db, &["status", "import", "--by", "MK", name]);
    run.assert_code(1);
    shows_no_control("status import", &run.stderr);
    assert!(run.stderr.contains("report\\e[2J.csv"), "{run:#?}");
}

/// One cell far wider than the rest (a rejected row whose key is 100,000 digits:
/// a line without separators, read as one field) widened its column for every
/// line of a text table: `rejects` printed each of the 56 rows padded to it, 11 MB
/// of blanks (114 MB for a 1 MB key) where the CSV is 200 KB. Now a column is
/// padded to at most `MAX_PADDED` characters and a wider cell overflows on its own
/// line, written whole.
#[test]
fn a_giant_cell_does_not_pad_every_line_of_a_table() {
    let dir = scratch();
    let db = dir.path().join("t.db");
    let sample = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let first_break = sample.iter().position(|&b| b == b'\n').unwrap() + 1;
    let giant = "9".repeat(100_000);
    let mut file = sample[..first_break].to_vec();
    file.extend_from_slice(format!("{giant};;;;;x;;1;;;\r\n").as_bytes());
    file.extend_from_slice(&sample[first_break..]);
    let leika = dir.path().join("leika.csv");
    std::fs::write(&leika, file).unwrap();
    support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]).assert_ok();

    let rejects = support::run_db(&db, &["rejects", "1"]);
    rejects.assert_ok();
    let lines: Vec<&str> = rejects.stdout.lines().collect();
    assert!(lines.len() > 50, "{}", lines.len());
    let holding: Vec<&&str> = lines.iter().filter(|l| l.contains(&giant)).collect();
    assert_eq!(holding.len(), 1, "the giant key is shown whole, once");
    for line in lines.iter().filter(|l| !l.contains(&giant)) {
        assert!(
            line.chars().count() < 3_000,
            "a line padded to the giant cell: {} characters",
            line.chars().count()
        );
    }
    assert!(rejects.stdout.len() < 400_000, "{}", rejects.stdout.len());
}

/// Paths whose bytes are not UTF-8 (a file saved on a Latin-1 system) and a file
/// name holding a line break. `import leika $'\xfcbersicht.csv'` was refused by
/// the argument parser ("invalid UTF-8 was detected in one or more arguments",
/// exit 2, naming neither the argument nor what to do) although every other file
/// argument takes such a name; `export dashboards --out $'\xf9dir'` said the path
/// "names no folder … cannot be `.`, `..` or `/`". Now the import reads the file,
/// and the export refuses the name saying it is not UTF-8, creating nothing.
#[test]
fn paths_that_are_not_utf8_are_taken_or_refused_by_name() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let dir = scratch();
    let db = dir.path().join(OsStr::from_bytes(b"\xff.db"));
    let leika = dir.path().join(OsStr::from_bytes(b"\xfcbersicht.csv"));
    std::fs::copy(support::fixture("leika/leika_sample_nrw2019.csv"), &leika).unwrap();
    let run = support::collect(
        support::command(dir.path())
            .arg("--db")
            .arg(&db)
            .args(["import", "leika"])
            .arg(&leika),
    );
    run.assert_ok();
    assert!(
        run.stdout.contains("release 1 applied: 612 added"),
        "{run:#?}"
    );

    let out = dir.path().join(OsStr::from_bytes(b"\xf9dir"));
    let run = support::collect(
        support::command(dir.path())
            .arg("--db")
            .arg(&db)
            .args(["export", "dashboards", "--out"])
            .arg(&out),
    );
    // A usage error, as every `--out` the export cannot take.
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("the folder's name \"\\xF9dir\" is not UTF-8 text"),
        "{run:#?}"
    );
    assert!(!out.exists());

    // A line break in a file name cannot start a line of its own: a path in a
    // message shows it as `\n` (session 16; before, what followed it was
    // indented under the error, as a configuration's error keeps its lines,
    // `a_config_error_keeps_its_lines_and_forges_none`).
    let run = support::run_db(&db, &["import", "leika", "no\nerror: such.csv"]);
    run.assert_code(1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{run:#?}");
    assert!(
        lines[0].starts_with("error: reading no\\nerror: such.csv"),
        "{run:#?}"
    );
}

/// A configuration's parse error draws the line it means, with a caret below it,
/// over several lines. Quoting a value that holds ESC or a line break (`kind =
/// "le\u001b[2Jika\nerror: forged"`), the error printed the escape raw and the
/// quoted line break began a line of its own, `error: forged`; `config check`
/// likewise. Now the message keeps its lines, each after the first indented, and
/// shows the escape as `\e`.
#[test]
fn a_config_error_keeps_its_lines_and_forges_none() {
    let dir = scratch();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "database = \"c.db\"\n[[source]]\nname = \"leika\"\nkind = \"le\\u001b[2Jika\\nerror: forged\"\nlocation = \"l.csv\"\n",
    )
    .unwrap();
    for args in [&["releases"][..], &["config", "check"]] {
        let run = support::run_in(dir.path(), args);
        assert_ne!(run.code, Some(0), "{run:#?}");
        shows_no_control(&args.join(" "), &run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines.len() > 2,
            "the caret drawing keeps its lines: {run:#?}"
        );
        assert!(
            lines.iter().skip(1).all(|l| l.starts_with("  ")),
            "a line after the first starts at column 0: {run:#?}"
        );
        assert!(run.stderr.contains("le\\e[2Jika"), "{run:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.trim_start().starts_with('|') && l.contains('^')),
            "{run:#?}"
        );
    }
}

/// A record's history shows each change as JSON (`"old" → "new"`), and JSON
/// escapes the C0 controls only: a name changed to hold U+202E (right-to-left
/// override) or a C1 control (U+009B, a CSI on some terminals) reached the
/// terminal raw from `service`. Now the change line goes through the same escape.
#[test]
fn a_changed_name_in_a_history_is_shown_not_obeyed() {
    let dir = scratch();
    let db = dir.path().join("t.db");
    for (i, name) in ["Abfallgebühr", "Abfall\u{202e}gebühr\u{9b}2J"]
        .iter()
        .enumerate()
    {
        let leika = dir.path().join(format!("leika{i}.csv"));
        let rows = [
            LEIKA_HEADER.to_owned(),
            leika_row("99088026034000", "Abendrealschule Aufnahme", "4"),
            leika_row("99001001002000", name, "5"),
        ];
        std::fs::write(&leika, format!("\u{feff}{}\r\n", rows.join("\r\n"))).unwrap();
        support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]).assert_ok();
    }
    let run = support::run_db(&db, &["service", "99001001002000"]);
    run.assert_ok();
    shows_no_control("service", &run.stdout);
    assert!(!run.stdout.contains('\u{9b}'), "{run:#?}");
    assert!(
        run.stdout
            .contains("bezeichnung: \"Abfallgebühr\" → \"Abfall\\u{202e}gebühr\\u{9b}2J\""),
        "{run:#?}"
    );
}
