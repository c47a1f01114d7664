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
        sync.stderr.contains("ERROR") && sync.stderr.contains("found: Schl\\e[2Juessel"),
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
