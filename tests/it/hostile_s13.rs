//! The hostile tester's list of session 13, each through the real binary: the
//! items the tenth round left (a file of which no row is usable, control
//! characters in the workbooks), then angles no earlier round tried.

use super::support::{self, scratch, Reply};

const LEIKA_HEADER: &str = "\"Schluessel\",\"Leistungsgruppierung\",\"Leistungskennung\",\"Verrichtung\",\"Verrichtungsdetail\",\"Bezeichnung\",\"Bezeichnung2\",\"Typ\",\"Veröffentlichungsdatum\",\"Besondere Merkmale\",\"Synonyme\"";

fn leika_row(key: &str, name: &str, typ: &str) -> String {
    format!(
        "\"{key}\",\"\",\"\",\"\",\"\",\"{name}\",\"\",\"{typ}\",\"05.10.2019 14:38\",\"\",\"\""
    )
}

fn leika_file(path: &std::path::Path, rows: &[String]) {
    let mut all = vec![LEIKA_HEADER.to_owned()];
    all.extend(rows.iter().cloned());
    std::fs::write(path, format!("{}\r\n", all.join("\r\n"))).unwrap();
}

/// A LeiKa (or EfA) file of which every row is rejected was applied into an empty
/// database as release 1 with nothing in it and its rejects, exit 0: a file that
/// holds nothing usable (another kind of file, shifted columns) recorded as the
/// catalogue's first edition. Over an existing catalogue the same file was already
/// refused ("holds no valid record"). Now it is refused into an empty one too,
/// naming the first bad row; `--mode incremental` still records it with its rejects.
#[test]
fn a_file_whose_every_row_is_rejected_is_no_first_edition() {
    let dir = scratch();
    let db = dir.path().join("t.db");
    let leika = dir.path().join("leika.csv");
    leika_file(
        &leika,
        &[
            leika_row("123", "kurz", "4"),
            leika_row("abc", "Buchstaben", "4"),
        ],
    );
    let run = support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("none of its 2 row(s) is a valid record")
            && run.stderr.contains("line 2")
            && run.stderr.contains("'123'")
            && run.stderr.contains("nothing was applied"),
        "{run:#?}"
    );
    assert_eq!(support::rows(&db, "SELECT count(*) FROM releases"), ["0"]);
    assert_eq!(support::rows(&db, "SELECT count(*) FROM rejects"), ["0"]);

    // Asked for, the rows are recorded with their rejects.
    let run = support::run_db(
        &db,
        &[
            "import",
            "leika",
            "--mode",
            "incremental",
            leika.to_str().unwrap(),
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("2 rejected"), "{run:#?}");

    // EfA goes through the same release: refused the same way.
    let efa = dir.path().join("efa.csv");
    std::fs::write(
        &efa,
        "efa_id;name;ozg_ids;leistungsschluessel;themenfeld;federfuehrendes_land;betreiber;marktplatz_status;reifegrad_modell;reifegrad_stufe;kostenmodell;fit_connect;url;stand\n\
         EFA-0001;x;10056;123;bildung;ST;D;verfuegbar;1.1;3;kostenfrei;ja;https://x.example/;2026-01-15\n",
    )
    .unwrap();
    let run = support::run_db(&db, &["import", "efa", efa.to_str().unwrap()]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("none of its 1 row(s) is a valid record"),
        "{run:#?}"
    );
    assert_eq!(
        support::rows(&db, "SELECT count(*) FROM releases WHERE source = 'efa'"),
        ["0"]
    );
}

/// Every part of an XLSX file is XML 1.0, which forbids the C0 controls but tab,
/// line feed and carriage return, and U+FFFE/U+FFFF: one such character anywhere
/// and Excel calls the workbook damaged.
#[track_caller]
fn assert_xml_1_0(xlsx: &std::path::Path) {
    let file = std::fs::File::open(xlsx).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).unwrap();
        let name = part.name().to_owned();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut part, &mut text).unwrap();
        if let Some(bad) = text.chars().find(|&c| {
            (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
        }) {
            panic!(
                "{}: part {name} holds U+{:04X}, which XML 1.0 forbids",
                xlsx.display(),
                bad as u32
            );
        }
    }
}

/// An EfA release whose `url` holds ESC (and names holding ESC, NUL, a vertical
/// tab, U+FFFE, NEL and U+202E): `export report --format xlsx` wrote the URL as a
/// hyperlink, whose target goes into an XML attribute raw, and the workbook was not
/// XML any more (Excel: "found a problem with some content"). The link is now
/// written as text, escaped like every other cell; the names read back as stored.
/// Since the twelfth round the import rejects such a URL (`hostile_s14`), so the
/// URL is put into the database as one imported before then holds it.
#[test]
fn control_characters_in_a_link_leave_the_workbook_readable() {
    use calamine::{Data, Reader, Xlsx};
    let dir = scratch();
    let db = support::quick_start(dir.path());
    let mut release: serde_json::Value =
        serde_json::from_slice(&std::fs::read(support::fixture("efa/release1.json")).unwrap())
            .unwrap();
    let name = "BAf\u{1b}[2J\u{0}\u{b}\u{fffe}\u{85}\u{202e}öG";
    release["services"][0]["name"] = name.into();
    release["services"][1]["url"] = "https://abfall.example/x".into();
    let efa = dir.path().join("efa.json");
    std::fs::write(&efa, serde_json::to_vec(&release).unwrap()).unwrap();
    support::run_db(
        &db,
        &["import", "efa", "--name", "efa", efa.to_str().unwrap()],
    )
    .assert_ok();
    let changed = rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE record_versions SET data = json_set(data, '$.url', ?1)
             WHERE entity = 'efa_service' AND json_extract(data, '$.url') = 'https://abfall.example/x'",
            ["https://abfall.example/\u{1b}x"],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let out = dir.path().join("r.xlsx");
    support::run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "xlsx",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_ok();
    assert_xml_1_0(&out);
    let mut book: Xlsx<_> = calamine::open_workbook(&out).unwrap();
    let mut texts = Vec::new();
    for sheet in book.sheet_names() {
        let range = book.worksheet_range(&sheet).unwrap();
        texts.extend(range.used_cells().filter_map(|(_, _, cell)| match cell {
            Data::String(s) => Some(s.clone()),
            _ => None,
        }));
    }
    assert!(
        // calamine leaves Excel's escape of U+FFFE (`_xFFFE_`) as it is.
        texts
            .iter()
            .any(|t| t.replace("_xFFFE_", "\u{fffe}") == name),
        "the name as stored: {:?}",
        texts
            .iter()
            .filter(|t| t.contains("BAf"))
            .collect::<Vec<_>>()
    );
    assert!(
        texts.iter().any(|t| t == "https://abfall.example/\u{1b}x"),
        "the URL as stored, as text"
    );
}

/// `total_timeout_secs = 9223372036854775807` (the largest TOML integer, written
/// for "no limit") with an HTTP source: `sync` ended in a panic, "overflow when
/// adding duration to instant", exit 101, as did `query --timeout
/// 18446744073709551615`. Now the configuration is refused naming the key and the
/// longest wait (a year) for every time setting, and the query's clock takes a
/// budget it cannot count to as no limit.
#[test]
fn a_time_limit_past_what_the_clock_counts_is_refused_or_no_limit() {
    let dir = scratch();
    let server = support::serve(|_, _| {
        Reply::ok(std::fs::read(support::fixture("leika/leika_release2.csv")).unwrap())
    });
    let db = dir.path().join("t.db");
    for (section, key) in [
        ("fetch", "total_timeout_secs"),
        ("fetch", "backoff_base_ms"),
        ("daemon", "job_timeout_secs"),
    ] {
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!(
                "[{section}]\n{key} = 9223372036854775807\n{}\n[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"{}/leika.csv\"\n",
                if section == "fetch" { "allow_http = true" } else { "[fetch]\nallow_http = true" },
                server.base
            ),
        )
        .unwrap();
        let run = support::run_db(&db, &["sync", "--config", config.to_str().unwrap()]);
        assert!(
            !run.stderr.contains("panicked") && run.code != Some(101),
            "{key}: {run:#?}"
        );
        assert!(
            !run.ok()
                && run
                    .stderr
                    .contains(&format!("{section}.{key}: more than a year")),
            "{key}: {run:#?}"
        );
    }
    // A year is still taken.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[fetch]\nallow_http = true\ntotal_timeout_secs = {}\n[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"{}/leika.csv\"\n",
            366 * 24 * 3600,
            server.base
        ),
    )
    .unwrap();
    support::run_db(&db, &["sync", "--config", config.to_str().unwrap()]).assert_ok();

    let run = support::run_db(
        &db,
        &[
            "query",
            "--timeout",
            "18446744073709551615",
            "SELECT count(*) FROM v_services",
        ],
    );
    run.assert_ok();
    assert_eq!(
        run.stdout.lines().last().map(str::trim),
        Some("614"),
        "{run:#?}"
    );
}

/// A path whose name holds bytes that are not UTF-8 (`\xFC`, `ü` as Latin-1
/// writes it) was named in messages with U+FFFD for them (`Path::display`), which
/// names no byte and reads the same for every such name (the tenth round's note).
/// One helper, `error::Shown` (`path.shown()`), now writes such a byte as `\xFC`
/// wherever a file error, the database or a backup names a path.
#[test]
fn a_path_that_is_not_utf8_is_named_by_its_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let missing = dir.path().join(OsStr::from_bytes(b"\xfcbersicht.csv"));
    let lost_db = dir.path().join(OsStr::from_bytes(b"ordner\xfc/x.db"));
    let lost_backup = dir.path().join(OsStr::from_bytes(b"sicherung\xfc/b.db"));
    // A status report that exists but holds no rows: its message comes from the
    // status import's own checks, not from the shared file error.
    let empty_report = dir.path().join(OsStr::from_bytes(b"r\xfcckmeldung.csv"));
    std::fs::write(
        &empty_report,
        "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n",
    )
    .unwrap();
    let runs = [
        (
            support::collect(
                support::command(dir.path())
                    .arg("--db")
                    .arg(&db)
                    .args(["import", "leika"])
                    .arg(&missing),
            ),
            "\\xFCbersicht.csv",
        ),
        (
            support::collect(
                support::command(dir.path())
                    .arg("--db")
                    .arg(&lost_db)
                    .arg("releases"),
            ),
            "ordner\\xFC/x.db",
        ),
        (
            support::collect(
                support::command(dir.path())
                    .arg("--db")
                    .arg(&db)
                    .arg("backup")
                    .arg(&lost_backup),
            ),
            "sicherung\\xFC",
        ),
        (
            support::collect(
                support::command(dir.path())
                    .arg("--db")
                    .arg(&db)
                    .args(["status", "import", "--by", "Test"])
                    .arg(&empty_report),
            ),
            "r\\xFCckmeldung.csv",
        ),
    ];
    for (run, named) in runs {
        assert!(!run.ok(), "{run:#?}");
        assert!(
            run.stderr.contains(named) && !run.stderr.contains('\u{fffd}'),
            "{named}: {run:#?}"
        );
    }
}

/// `template status --out t.xlsx` (likewise `annotations`, `efa-nachnutzung`)
/// without `--format` wrote the CSV header into a file named `.xlsx`, exit 0:
/// Excel refuses to open it ("the file format or extension is not valid"). The
/// extension now chooses the format when `--format` is not given; a `--format`
/// that contradicts it (`--format csv --out t.xlsx`, `template efa --out t.xlsx`)
/// is a usage error, nothing written.
#[test]
fn a_template_named_xlsx_is_a_workbook() {
    use calamine::{Reader, Xlsx};
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for kind in ["status", "annotations", "efa-nachnutzung"] {
        let out = dir.path().join(format!("{kind}.XLSX"));
        support::run_db(&db, &["template", kind, "--out", out.to_str().unwrap()]).assert_ok();
        let book: Xlsx<_> =
            calamine::open_workbook(&out).unwrap_or_else(|e| panic!("{kind}: not a workbook: {e}"));
        assert!(
            book.sheet_names().contains(&"Anleitung".to_owned()),
            "{kind}"
        );
        let csv = dir.path().join(format!("{kind}.csv"));
        support::run_db(&db, &["template", kind, "--out", csv.to_str().unwrap()]).assert_ok();
        assert!(
            std::fs::read(&csv)
                .unwrap()
                .starts_with("\u{feff}".as_bytes()),
            "{kind}"
        );
    }
    let refused = [
        vec!["template", "status", "--format", "csv", "--out", "t.xlsx"],
        vec![
            "template",
            "annotations",
            "--format",
            "xlsx",
            "--out",
            "t.csv",
        ],
        vec!["template", "efa", "--out", "t.xlsx"],
    ];
    for args in refused {
        let run = support::run_in(dir.path(), &args);
        run.assert_code(2);
        assert!(run.stderr.contains("--out t."), "{args:?}: {run:#?}");
        assert!(!dir.path().join(args[args.len() - 1]).exists(), "{args:?}");
    }
}

/// A GV100AD file whose Gebietsstand is 9999-12-31 (mistyped, or made up) was
/// applied; every real edition after it was then refused as "older than the
/// 9999-12-31 the database holds" until `--allow-older-edition`. An edition dated
/// after today is now refused, nothing applied, and the real edition imports.
#[test]
fn an_edition_dated_in_the_future_is_refused() {
    let dir = scratch();
    let db = dir.path().join("t.db");
    let real =
        std::fs::read_to_string(support::fixture("gv100ad/GV100AD_30112025_NI.txt")).unwrap();
    let future: String = real
        .lines()
        .map(|l| match l.get(2..10) {
            Some("20251130") => format!("{}99991231{}\r\n", &l[..2], &l[10..]),
            _ => format!("{l}\r\n"),
        })
        .collect();
    let file = dir.path().join("future.txt");
    std::fs::write(&file, future).unwrap();
    let run = support::run_db(&db, &["import", "gv100ad", file.to_str().unwrap()]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("Gebietsstand is 9999-12-31, after today"),
        "{run:#?}"
    );
    assert_eq!(support::rows(&db, "SELECT count(*) FROM releases"), ["0"]);
    support::run_db(
        &db,
        &[
            "import",
            "gv100ad",
            support::fixture("gv100ad/GV100AD_30112025_NI.txt")
                .to_str()
                .unwrap(),
        ],
    )
    .assert_ok();
}
