//! The hostile tester's list of session 8, each through the real binary: what
//! session 7 left open (sheets from a pipe, `config check` of an unusable
//! database path, zip bombs, cut HTTP bodies) and what the sweep found.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use super::support::{self, scratch, Run};

/// A LeiKa key of the bundled sample and a Gemeinde of the bundled GV100AD.
const KEY: &str = "99088026034000";
const ARS: &str = "032410001001";

/// Runs `ozgsync --db DB ARGS` with `input` written into its standard input
/// through a pipe (not a file: a pipe cannot be read twice or from its end).
fn piped(db: &Path, args: &[&str], input: Vec<u8>) -> Run {
    let mut child = support::command(db.parent().unwrap())
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A writer thread: a refusal may come before the input is read to its end.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A database with the LeiKa sample and Lower Saxony's Gemeinden.
fn status_db(dir: &Path) -> std::path::PathBuf {
    let db = support::leika_db(dir);
    let gv100ad = support::fixture("gv100ad/GV100AD_30112025_NI.txt");
    support::run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    db
}

/// A status report of `statuses` for [`KEY`] in [`ARS`], one a day from 1 March
/// 2025, as CSV.
fn report_csv(statuses: &[&str]) -> Vec<u8> {
    let mut text = String::from("Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n");
    for (day, status) in (1..).zip(statuses) {
        text.push_str(&format!("{KEY};{ARS};{status};2025-03-{day:02};\n"));
    }
    text.into_bytes()
}

/// The same report as a workbook, as Excel saves it.
fn report_xlsx(statuses: &[&str]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = [
        "Leistungsschluessel",
        "ARS",
        "Status",
        "Gueltig ab",
        "Bemerkung",
    ];
    support::write_row(sheet, 0, header);
    for (r, status) in (1u32..).zip(statuses) {
        sheet.write_string(r, 0, KEY).unwrap();
        sheet.write_string(r, 1, ARS).unwrap();
        sheet.write_string(r, 2, *status).unwrap();
        sheet.write_string(r, 3, format!("2025-03-{r:02}")).unwrap();
    }
    book.save_to_buffer().unwrap()
}

fn events(db: &Path) -> Vec<String> {
    support::rows(
        db,
        "SELECT status || ' ' || effective_on FROM v_status_history ORDER BY event_id",
    )
}

/// `status import` from a pipe failed with "Illegal seek" for CSV and XLSX alike
/// (the text reader decides the encoding in a first pass, a workbook is read from
/// its end). A pipe, `-` and `/dev/stdin` are now read through a private copy.
#[test]
fn a_status_report_from_a_pipe_is_read_as_csv_and_as_xlsx() {
    let dir = scratch();
    let db = status_db(dir.path());
    let forms: [(&str, Vec<u8>); 2] = [
        ("csv", report_csv(&["geplant", "pilot"])),
        ("xlsx", report_xlsx(&["pilot", "produktiv"])),
    ];
    for (form, bytes) in forms {
        for file in ["-", "/dev/stdin"] {
            let run = piped(
                &db,
                &["status", "import", file, "--by", "Test"],
                bytes.clone(),
            );
            run.assert_ok();
            assert!(
                run.stdout.contains("2 status event(s) recorded"),
                "{form} {file}: {run:#?}"
            );
        }
    }
    assert_eq!(
        events(&db),
        [
            "geplant 2025-03-01",
            "pilot 2025-03-02",
            "geplant 2025-03-01",
            "pilot 2025-03-02",
            "pilot 2025-03-01",
            "produktiv 2025-03-02",
            "pilot 2025-03-01",
            "produktiv 2025-03-02",
        ]
    );
}

/// The coordinators' sheets from a pipe: the annotation workbook (filled
/// template, one cell changed) and the EfA-Nachnutzung CSV.
#[test]
fn annotation_and_nachnutzung_sheets_from_a_pipe_are_read() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let sheet = dir.path().join("a.csv");
    std::fs::write(
        &sheet,
        format!("Leistungsschluessel;Ressort;Vollzug\n{KEY};MK;land\n"),
    )
    .unwrap();
    support::import_sheet(&db, "annotations", &sheet).assert_ok();
    let template = dir.path().join("a.xlsx");
    support::run_db(
        &db,
        &[
            "template",
            "annotations",
            "--fill",
            "--format",
            "xlsx",
            "--out",
            template.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let run = piped(
        &db,
        &["annotations", "import", "--by", "MK", "-"],
        std::fs::read(&template).unwrap(),
    );
    run.assert_ok();
    assert!(run.stdout.contains("0 rows changed"), "{run:#?}");
    assert!(run.stdout.contains(" 0 refused"), "{run:#?}");

    let efa = support::fixture("efa/release1.json");
    support::run_db(&db, &["import", "efa", efa.to_str().unwrap()]).assert_ok();
    let nachnutzung = std::fs::read(support::fixture("demo/nachnutzung.csv")).unwrap();
    let run = piped(
        &db,
        &["efa-nachnutzung", "import", "--by", "MK", "/dev/stdin"],
        nachnutzung,
    );
    run.assert_ok();
    assert!(run.stdout.contains("rows changed"), "{run:#?}");
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(DISTINCT efa_id) FROM efa_nachnutzung_audit"
        )
        .first()
        .map(String::as_str),
        Some("4"),
        "{run:#?}"
    );
}

/// What a pipe sends is copied only up to the body limit (`fetch.max_body_mb`):
/// `yes | ozgsync status import -` must not fill the temporary directory.
#[test]
fn a_pipe_past_the_body_limit_is_refused_naming_the_limit() {
    let dir = scratch();
    let db = status_db(dir.path());
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(&config, "[fetch]\nmax_body_mb = 1\n").unwrap();
    let mut big = report_csv(&["geplant"]);
    big.resize(3 << 20, b'\n');
    let args = [
        "--config",
        config.to_str().unwrap(),
        "status",
        "import",
        "-",
        "--by",
        "Test",
    ];
    let run = piped(&db, &args, big);
    run.assert_code(1);
    assert!(run.stderr.contains("fetch.max_body_mb"), "{run:#?}");
    assert!(run.stderr.contains("more than 1 MB"), "{run:#?}");
    assert!(events(&db).is_empty(), "{run:#?}");
    // Within the limit the same pipe is read.
    let run = piped(&db, &args, report_csv(&["geplant"]));
    run.assert_ok();
    assert_eq!(events(&db), ["geplant 2025-03-01"]);
}

/// `import KIND -` reads the payload from standard input, like the sheets.
#[test]
fn import_of_dash_reads_standard_input() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let leika = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let run = piped(&db, &["import", "leika", "-"], leika);
    run.assert_ok();
    assert!(run.stdout.contains("release 1 applied"), "{run:#?}");
    // Standard input closed by the caller (`<&-`): the runtime puts /dev/null there,
    // so it reads as an empty payload, refused as such.
    let run = support::run_db(&db, &["import", "leika", "-"]);
    run.assert_code(1);
    assert!(!run.stderr.contains("No such file"), "{run:#?}");
}

/// `config check` said "ok" (exit 0) to a `database` every command then refused:
/// empty (the config's own folder), `/`, or an existing directory.
#[test]
fn config_check_refuses_a_database_that_is_a_directory_or_empty() {
    let dir = scratch();
    std::fs::create_dir(dir.path().join("daten")).unwrap();
    let config = dir.path().join("ozgsync.toml");
    for (value, says) in [
        ("", "is empty; name the SQLite database file"),
        (
            "/",
            "\"/\" is a directory, not a file; name the database file in it (e.g. /ozgsync.db)",
        ),
        ("daten", "\"daten\" is a directory, not a file"),
        ("daten/", "\"daten/\" is a directory, not a file"),
        ("daten/..", "is a directory, not a file"),
    ] {
        std::fs::write(&config, format!("database = {value:?}\n")).unwrap();
        let run = support::run_in(dir.path(), &["--config", "ozgsync.toml", "config", "check"]);
        run.assert_code(1);
        assert!(
            run.stdout.contains(says) || run.stderr.contains(says),
            "{value:?}: {run:#?}"
        );
        assert!(!run.stdout.contains(": ok"), "{value:?}: {run:#?}");
    }
    // A file in that folder is fine, existing or not.
    std::fs::write(&config, "database = \"daten/ozgsync.db\"\n").unwrap();
    support::run_in(dir.path(), &["--config", "ozgsync.toml", "config", "check"]).assert_ok();
}

/// The annotation workbook the binary writes (`template annotations --format xlsx`).
fn annotation_template(db: &Path) -> Vec<u8> {
    let out = db.with_file_name("template.xlsx");
    support::write_template(db, "annotations", &out);
    std::fs::read(out).unwrap()
}

/// `workbook` with its `xl/sharedStrings.xml` replaced by what `write` writes
/// (deflated at level 1, so 257 MiB of one letter take about 2.5 MB).
fn with_shared_strings(workbook: &[u8], write: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut from = zip::ZipArchive::new(std::io::Cursor::new(workbook)).unwrap();
    let mut to = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..from.len() {
        let part = from.by_index_raw(i).unwrap();
        if part.name() != "xl/sharedStrings.xml" {
            to.raw_copy_file(part).unwrap();
        }
    }
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    to.start_file("xl/sharedStrings.xml", options).unwrap();
    write(&mut to);
    to.finish().unwrap().into_inner()
}

/// In the ZIP `bytes`, sets the uncompressed size that the central directory and
/// the local header give for part `name` to `size`, as a crafted file would.
fn claim_size(bytes: &mut [u8], name: &str, size: u32) {
    let name = name.as_bytes();
    let mut patched = 0;
    for at in 0..bytes.len().saturating_sub(46) {
        let sig = &bytes[at..at + 4];
        let (size_at, name_at) = match sig {
            b"PK\x01\x02" => (at + 24, at + 46),
            b"PK\x03\x04" => (at + 22, at + 30),
            _ => continue,
        };
        if bytes.get(name_at..name_at + name.len()) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "local header and central directory entry");
}

/// A workbook whose shared strings inflate past what calamine should hold (a zip
/// bomb: 257 MiB from 2.5 MB) was read whole into memory; one whose ZIP
/// directory claims 4 GiB was opened all the same, and so was one whose directory
/// claims 1,000 bytes for the bomb's 257 MiB (deflate stops at its own end marker). Both are refused before
/// calamine opens them, naming the part and the limit, for every sheet import.
#[test]
fn a_workbook_that_unpacks_past_the_limit_is_refused_before_it_is_read() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let template = annotation_template(&db);
    let bomb = with_shared_strings(&template, |out| {
        out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"1\" uniqueCount=\"1\"><si><t>")
            .unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..257 {
            out.write_all(&chunk).unwrap();
        }
        out.write_all(b"</t></si></sst>").unwrap();
    });
    assert!(bomb.len() < 3 << 20, "{} bytes", bomb.len());
    let bomb_file = dir.path().join("bomb.xlsx");
    std::fs::write(&bomb_file, &bomb).unwrap();

    // The same bomb with a directory that lies: it says 1,000 bytes.
    let mut lying = bomb.clone();
    claim_size(&mut lying, "xl/sharedStrings.xml", 1000);
    let lying_file = dir.path().join("lying.xlsx");
    std::fs::write(&lying_file, &lying).unwrap();

    let mut claims = template.clone();
    claim_size(&mut claims, "xl/sharedStrings.xml", 0xFFFF_FFF0);
    let claims_file = dir.path().join("claims.xlsx");
    std::fs::write(&claims_file, &claims).unwrap();

    for (file, says) in [
        (&bomb_file, "its part xl/sharedStrings.xml unpacks to 257 MiB by its ZIP directory, more than the 256 MiB this import reads of shared strings, which are held in memory whole"),
        (&lying_file, "its part xl/sharedStrings.xml unpacks to more than its ZIP directory says (256 MiB read), more than the 256 MiB"),
        (&claims_file, "its part xl/sharedStrings.xml unpacks to 4095 MiB by its ZIP directory, more than the 256 MiB"),
    ] {
        for kind in ["annotations", "status", "efa-nachnutzung"] {
            let run = support::run_db(&db, &[kind, "import", "--by", "MK", file.to_str().unwrap()]);
            run.assert_code(1);
            assert!(run.stderr.contains(says), "{kind} {file:?}: {run:#?}");
            assert!(run.stderr.contains("zip bomb"), "{kind} {file:?}: {run:#?}");
        }
    }
}

/// A server that answers every request with `body` as HTTP/1.1 without
/// `Content-Length` and without chunking, then closes the connection: the body
/// ends where the connection does. Returns the base URL.
fn unframed_server(body: Vec<u8>) -> String {
    support::raw_server(move |_, _| {
        [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".as_slice(),
            &body,
        ]
        .concat()
    })
    .base
}

/// A LeiKa, OZG or GV100AD download whose connection broke off early, from a
/// server that sends no length: it looked complete. The OZG file, cut inside its
/// last field, was applied with that field cut ("Bau" for "Bauen & Wohnen"); the
/// others lost their last line to a reject. Each is now refused as cut short (and
/// retried), nothing applied; the same body whole is applied.
#[test]
fn a_download_without_a_length_cut_mid_line_is_refused_not_applied() {
    let dir = scratch();
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(&config, "[fetch]\nmax_retries = 0\n").unwrap();
    for (kind, file, cut) in [
        ("ozg", "ozg/ozg_leistungen_nrw2019.csv", 7),
        ("leika", "leika/leika_sample_nrw2019.csv", 3),
        ("gv100ad", "gv100ad/GV100AD_30112025_NI.txt", 150),
    ] {
        let whole = std::fs::read(support::fixture(file)).unwrap();
        let db = dir.path().join(format!("{kind}.db"));
        let import = |base: &str| {
            support::run_db(
                &db,
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "import",
                    kind,
                    "--allow-http",
                    &format!("{base}/{kind}"),
                ],
            )
        };
        let run = import(&unframed_server(whole[..whole.len() - cut].to_vec()));
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("body cut short: the server sent no length")
                && run.stderr.contains("in the middle of a line"),
            "{kind}: {run:#?}"
        );
        assert!(
            support::rows(
                &db,
                "SELECT count(*) FROM v_releases WHERE status = 'applied'"
            ) == ["0"],
            "{kind}: {run:#?}"
        );
        let run = import(&unframed_server(whole));
        run.assert_ok();
        assert!(run.stdout.contains("release 1 applied"), "{kind}: {run:#?}");
    }
}

/// `query ""` (an empty variable in a script), `query ";"` or a query that is only
/// a comment said "bad parameter or other API misuse: Error code 21: Library used
/// incorrectly" with exit 1; it is a usage error naming what is missing.
#[test]
fn an_empty_query_is_a_usage_error_not_an_api_misuse() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for sql in [
        "",
        "   ",
        ";",
        " ; ;",
        "-- nur ein Kommentar\n",
        "/* a */ -- b",
        "/* offen",
    ] {
        let run = support::run_db(&db, &["query", "--", sql]);
        run.assert_code(2);
        assert!(
            run.stderr.contains("the query is empty"),
            "{sql:?}: {run:#?}"
        );
        assert!(!run.stderr.contains("misuse"), "{sql:?}: {run:#?}");
    }
    for sql in ["SELECT 1 AS one -- a comment", "/* a */ SELECT 1 AS one;"] {
        let run = support::run_db(&db, &["query", "--format", "csv", "--", sql]);
        run.assert_ok();
        assert_eq!(run.stdout.replace("\r\n", "\n"), "one\n1\n", "{sql:?}");
    }
}

/// A result that cannot be written (stdout at `/dev/full`, a full disk under a
/// redirect) said only "error: No space left on device (os error 28)", not what
/// was being written; a reader then looks for a full disk under the database.
#[test]
fn a_failed_write_to_standard_output_says_it_was_standard_output() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for args in [
        &["releases"][..],
        &["service", "99001001002000"],
        &["query", "SELECT * FROM v_services", "--format", "csv"],
    ] {
        let mut cmd = support::command(dir.path());
        cmd.arg("--db")
            .arg(&db)
            .args(args)
            .stdout(full.try_clone().unwrap());
        let run = support::collect(&mut cmd);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("writing to standard output: No space left on device"),
            "{args:?}: {run:#?}"
        );
    }
}

/// `schedule = "30 2 * * 1"` (crontab: Mondays) ran on Sundays, `* * 7` on
/// Saturdays, and `* * 0` (crontab's other Sunday) was refused: the cron crate
/// counts weekdays from 1 for Sunday. `status` shows each next run on the day
/// crontab means.
#[test]
fn weekday_numbers_in_a_schedule_mean_what_they_mean_in_crontab() {
    use chrono::Datelike;
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let config = dir.path().join("ozgsync.toml");
    for (field, weekday) in [
        ("1", chrono::Weekday::Mon),
        ("0", chrono::Weekday::Sun),
        ("7", chrono::Weekday::Sun),
        ("6", chrono::Weekday::Sat),
    ] {
        std::fs::write(
            &config,
            format!(
                "[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"x.csv\"\nschedule = \"30 2 * * {field}\"\n"
            ),
        )
        .unwrap();
        let run = support::run_db(
            &db,
            &[
                "--config",
                config.to_str().unwrap(),
                "status",
                "--format",
                "json",
            ],
        );
        run.assert_ok();
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let next = status["jobs"][0]["next_run"].as_str().unwrap();
        let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
        assert_eq!(next.weekday(), weekday, "{field}: {next}");
    }
    // Day of month and day of week both restricted: the crate wants both, crontab
    // either; legal, but `config check` says so.
    std::fs::write(
        &config,
        "[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"x.csv\"\nschedule = \"0 3 1 * 1\"\n",
    )
    .unwrap();
    let run = support::run_db(
        &db,
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    run.assert_ok();
    assert!(
        run.stderr
            .contains("fires only on days that match both its day of month and its day of week"),
        "{run:#?}"
    );
}

/// `backup - | gzip > x.gz` wrote a file named `-` into the working directory and
/// piped one line of text into gzip; `-` means standard output or input
/// everywhere else. It is refused, nothing written.
#[test]
fn backup_to_dash_is_refused_instead_of_making_a_file_named_dash() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let run = support::run_db(&db, &["backup", "-"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("cannot go to standard output"),
        "{run:#?}"
    );
    assert!(!dir.path().join("-").exists());
    let run = support::run_db(&db, &["backup", "./-"]);
    run.assert_ok();
    assert!(dir.path().join("-").is_file());
}

/// `--out /dev/stderr` was refused with "… give the real path, or remove the
/// link": advice to remove a system link. The system's links get a way out that
/// can be taken; a user's link keeps its advice.
#[test]
fn an_out_at_a_system_link_is_not_told_to_remove_it() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for out in ["/dev/stderr", "/proc/self/fd/2"] {
        let run = support::run_db(&db, &["template", "status", "--out", out]);
        run.assert_code(2);
        assert!(run.stderr.contains("is a symbolic link"), "{out}: {run:#?}");
        assert!(!run.stderr.contains("remove the link"), "{out}: {run:#?}");
        assert!(
            run.stderr.contains("`-` for standard output"),
            "{out}: {run:#?}"
        );
    }
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(dir.path().join("elsewhere.csv"), &link).unwrap();
    let run = support::run_db(
        &db,
        &["template", "status", "--out", link.to_str().unwrap()],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("remove the link"), "{run:#?}");
}

/// A report or source given still gzip-compressed (`report.csv.gz`, as mailed or
/// downloaded) was "binary data (NUL byte); save the spreadsheet as CSV text" (or
/// "binary (or UTF-16)"), which sends a coordinator back to the spreadsheet. It is
/// named as gzip, with the way to unpack or pipe it.
#[test]
fn a_gzip_compressed_file_is_named_as_one_with_how_to_unpack_it() {
    use std::io::Write as _;
    let dir = scratch();
    let db = support::leika_db(dir.path());
    let gzip = |from: &str| {
        let name = Path::new(from).file_name().unwrap().to_str().unwrap();
        let to = dir.path().join(format!("{name}.gz"));
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&std::fs::read(support::fixture(from)).unwrap())
            .unwrap();
        std::fs::write(&to, z.finish().unwrap()).unwrap();
        to.to_str().unwrap().to_owned()
    };
    let status = gzip("demo/status.csv");
    let annotations = gzip("demo/annotations.csv");
    let gv100ad = gzip("gv100ad/GV100AD_30112025_NI.txt");
    let ozg = gzip("ozg/ozg_leistungen_nrw2019.csv");
    for args in [
        vec!["status", "import", &status, "--by", "X"],
        vec!["annotations", "import", &annotations, "--by", "X"],
        vec!["import", "gv100ad", &gv100ad],
        vec!["import", "ozg", &ozg],
    ] {
        let run = support::run_db(&db, &args);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains("the file is gzip-compressed (.gz): unpack it"),
            "{args:?}: {run:#?}"
        );
        assert!(!run.stderr.contains("NUL"), "{args:?}: {run:#?}");
    }
}

/// `status show ""` (an empty variable in a script) said "no status recorded for
/// efa " with exit 0, and `efa-nachnutzung show ""` named the empty id without
/// quotes; a blank id is a usage error, as for `service ""`.
#[test]
fn a_blank_id_to_show_is_a_usage_error() {
    let dir = scratch();
    let db = support::leika_db(dir.path());
    for args in [
        &["status", "show", ""][..],
        &["status", "show", "  "],
        &["status", "show", "--history", ""],
        &["efa-nachnutzung", "show", ""],
    ] {
        let run = support::run_db(&db, args);
        run.assert_code(2);
        assert!(
            run.stderr.contains("empty; give the id to show"),
            "{args:?}: {run:#?}"
        );
        assert!(
            !run.stderr.contains("no status recorded"),
            "{args:?}: {run:#?}"
        );
    }
    // A real key still answers as before.
    let run = support::run_db(&db, &["status", "show", " 99001001002000 "]);
    run.assert_ok();
}
