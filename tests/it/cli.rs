//! The catalog core through the real binary: imports of every source kind, the
//! acceptance counts of the real GV100AD and LeiKa files, diff, unchanged
//! re-imports, rejects, exit codes.

use std::process::Output;

use super::support::{quick_start, run_db, scratch, Db};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn gv100ad_gives_lower_saxonys_counts() {
    let db = Db::new();
    db.ok(&[
        "import",
        "gv100ad",
        "fixtures/gv100ad/GV100AD_30112025_NI.txt",
    ]);
    let count = |level: &str, extra: &str| {
        db.count(&format!(
            "SELECT count(*) FROM v_municipalities WHERE level = '{level}' AND NOT retired {extra}"
        ))
    };
    assert_eq!(count("gemeinde", "AND is_gemeinde"), 939);
    assert_eq!(count("gemeinde", "AND NOT is_gemeinde"), 25);
    assert_eq!(count("kreis", ""), 45);
    assert_eq!(count("kreis", "AND textkennzeichen = '41'"), 8);
    assert_eq!(count("verband", "AND textkennzeichen = '52'"), 114);
    assert_eq!(count("regierungsbezirk", ""), 4);
    let hannover: (String, String) = db
        .conn()
        .query_row(
            "SELECT ars, ags FROM v_municipalities WHERE level = 'gemeinde' AND name LIKE 'Hannover%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(hannover, ("032410001001".into(), "03241001".into()));

    // lookup by ARS, AGS and name
    for q in ["032410001001", "03241001", "Hannover, Landeshauptstadt"] {
        let out = db.ok(&["municipality", q]);
        assert!(out.contains("032410001001"), "{q}: {out}");
    }
    // Braunschweig: one ARS, three records
    let out = db.ok(&["municipality", "031010000000"]);
    for level in ["kreis:", "verband:", "gemeinde:"] {
        assert!(out.contains(&format!("{level}031010000000")), "{out}");
    }
}

#[test]
fn gv100ad_edition_with_a_merger_and_renames() {
    let db = Db::new();
    db.ok(&[
        "import",
        "gv100ad",
        "fixtures/gv100ad/GV100AD_30112025_NI.txt",
    ]);
    let out = db.ok(&[
        "import",
        "gv100ad",
        "fixtures/gv100ad/GV100AD_31122025_NI_changed.txt",
    ]);
    assert!(
        out.contains("0 added, 2 changed, 1 retired, 1439 unchanged"),
        "{out}"
    );
    let diff = db.ok(&["diff", "gv100ad", "--format", "csv"]);
    assert_eq!(
        diff.lines().collect::<Vec<_>>(),
        vec![
            "change,key,field,old,new",
            "changed,gemeinde:031515405018,name,Müden (Aller),Müden an der Aller",
            "changed,gemeinde:031515406001,name,Adenbüttel,Adenbüttel-Rötgesbüttel",
            "retired,gemeinde:031515406023,,Rötgesbüttel,",
        ]
    );
    let out = db.ok(&["municipality", "031515406023"]);
    assert!(out.contains("retired in release 2"), "{out}");
}

/// The changes between the LeiKa sample and the constructed second release, as
/// fixtures/leika/README.md lists them.
const ADDED: [&str; 6] = [
    "99008001012011",
    "99050012104000",
    "99060014262000",
    "99102005017000",
    "99102005018000",
    "99135099001000",
];
const RETIRED: [&str; 4] = [
    "99012034095000",
    "99012054000000",
    "99110019000000",
    "99136004137000",
];
const CHANGED: [&str; 8] = [
    "99010001020027",
    "99018113000000",
    "99102047012000",
    "99108037226000",
    "99109011000000",
    "99110002001000",
    "99131002000000",
    "99134036000000",
];

#[test]
fn leika_releases_diff_and_unchanged_reimport() {
    let db = Db::new();
    let out = db.ok(&["import", "leika", "fixtures/leika/leika_sample_nrw2019.csv"]);
    assert!(out.contains("release 1 applied: 612 added"), "{out}");
    assert_eq!(db.count("SELECT count(*) FROM v_services"), 612);
    assert_eq!(
        db.count("SELECT count(*) FROM rejects WHERE release_id = 1 AND severity = 'reject'"),
        55
    );
    let rejects = db.ok(&["rejects", "1", "--format", "csv"]);
    assert!(rejects.contains("line 2,nicht im LeiKa"), "{rejects}");

    db.ok(&["import", "leika", "fixtures/leika/leika_release2.csv"]);
    let diff: serde_json::Value =
        serde_json::from_str(&db.ok(&["diff", "leika", "--format", "json"])).unwrap();
    let keys = |part: &str| -> Vec<String> {
        diff[part]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e.get("key")
                    .or_else(|| e.get(0))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(keys("added"), ADDED);
    assert_eq!(keys("retired"), RETIRED);
    assert_eq!(keys("changed"), CHANGED);
    assert_eq!(db.count("SELECT count(*) FROM v_services WHERE retired"), 4);

    let out = db.ok(&["import", "leika", "fixtures/leika/leika_release2.csv"]);
    assert!(out.contains("unchanged (release 3)"), "{out}");
    assert_eq!(
        db.count("SELECT count(*) FROM v_releases WHERE status = 'unchanged' AND added + changed + retired = 0"),
        1
    );
    // diff with explicit releases, text format
    let text = db.ok(&["diff", "leika", "1", "2"]);
    assert!(text.contains("retired (4)"), "{text}");
    // Releases of another source are not diffed under this one's name (`diff
    // gv100ad 3 3` of an EfA release said "no changes"; here a second LeiKa
    // source, whose diff against `leika` was shown as `leika`'s changes).
    let out = db.run(&[
        "import",
        "leika",
        "--name",
        "leika_nrw",
        "fixtures/leika/leika_sample_nrw2019.csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nrw = db.count("SELECT max(release_id) FROM releases");
    let out = db.run(&["diff", "leika", "1", &nrw.to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("release {nrw} is of source leika_nrw, not leika")),
        "{}",
        stderr(&out)
    );
    let out = db.run(&["diff", "leika_nrw", "1", &nrw.to_string()]);
    assert!(
        stderr(&out).contains("release 1 is of source leika, not leika_nrw"),
        "{}",
        stderr(&out)
    );

    let history = db.ok(&["service", "99134036000000"]);
    assert!(
        history.contains("\"Hebammenhilfe\" → \"Hebammenhilfe Leistungen\""),
        "{history}"
    );
}

#[test]
fn xzufi_and_fim_api_files_import_through_the_same_path() {
    let db = Db::new();
    let out = db.ok(&["import", "xzufi", "fixtures/xzufi/transfer.xml"]);
    assert!(out.contains("4 added"), "{out}");
    assert_eq!(
        db.count("SELECT mode = 'incremental' FROM releases WHERE release_id = 1"),
        1
    );
    let out = db.ok(&[
        "import",
        "fim-api",
        "fixtures/fim-api/steckbriefe_pull.json",
        "--name",
        "fim",
    ]);
    assert!(out.contains("applied"), "{out}");
    // The same pull saved by a Windows editor, with a UTF-8 BOM: read like the
    // EfA reader reads one (it was "starts with byte 0xEF, not with JSON").
    let bom = db.path.with_file_name("bom_pull.json");
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(std::fs::read("fixtures/fim-api/steckbriefe_pull.json").unwrap());
    std::fs::write(&bom, bytes).unwrap();
    let out = db.ok(&["import", "fim-api", bom.to_str().unwrap(), "--name", "fim"]);
    assert!(out.contains("0 added, 0 changed, 0 retired"), "{out}");
}

/// Each broken payload: exit 1, a message naming the file and the problem, and the
/// database exactly as before.
#[test]
fn payloads_that_are_not_the_format_change_nothing() {
    let db = Db::new();
    db.ok(&["import", "leika", "fixtures/leika/leika_sample_nrw2019.csv"]);
    db.ok(&[
        "import",
        "gv100ad",
        "fixtures/gv100ad/GV100AD_30112025_NI.txt",
    ]);
    let before = db.count("SELECT count(*) FROM record_versions") * 1000
        + db.count("SELECT count(*) FROM releases");
    for (kind, file, says) in [
        (
            "leika",
            "fixtures/leika/html_error_page.csv",
            "not a LeiKa CSV",
        ),
        ("leika", "fixtures/leika/wrong_header.csv", "header"),
        ("xzufi", "fixtures/xzufi/truncated.xml", "XZuFi"),
        ("xzufi", "fixtures/xzufi/doctype.xml", "DOCTYPE"),
        ("xzufi", "fixtures/xzufi/wrong_namespace.xml", "namespace"),
        ("gv100ad", "fixtures/gv100ad/not_gv100ad.html", "GV100AD"),
        ("fim-api", "fixtures/fim-api/error.html", "FIM"),
        ("leika", "fixtures/does-not-exist.csv", "does-not-exist.csv"),
    ] {
        let out = db.run(&["import", kind, file]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let err = stderr(&out);
        assert!(err.contains(says), "{file}: {err}");
        assert!(
            err.contains(file.rsplit('/').next().unwrap()),
            "{file}: {err}"
        );
        let after = db.count("SELECT count(*) FROM record_versions") * 1000
            + db.count("SELECT count(*) FROM releases");
        assert_eq!(after, before, "{file} changed the database");
    }
}

#[test]
fn exit_codes_and_usage_errors() {
    let db = Db::new();
    // Commands that only read never create a database: start from an empty one.
    ozgsync::store::open(&db.path).unwrap();
    assert_eq!(db.run(&["import", "nonsense", "x"]).status.code(), Some(2));
    assert_eq!(db.run(&["service", "123"]).status.code(), Some(2));
    assert_eq!(db.run(&["rejects", "99"]).status.code(), Some(1));
    let out = db.run(&["diff", "leika"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no applied release"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn newer_database_is_refused_with_a_clear_message() {
    let db = Db::new();
    ozgsync::store::open(&db.path).unwrap();
    db.ok(&["releases"]);
    db.conn().pragma_update(None, "user_version", 999).unwrap();
    let out = db.run(&["releases"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("upgrade ozgsync"), "{}", stderr(&out));
}

#[test]
fn sync_runs_the_example_config_offline() {
    let db = Db::new();
    // The example config, with its exports sent to a temporary directory instead of
    // the checkout's out/ (the paths are relative to the config's directory).
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string("deploy/ozgsync.example.toml").unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(
        &config,
        example
            .replace("../fixtures", fixtures)
            .replace("../out", &dir.path().join("out").to_string_lossy()),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = db.ok(&["sync", "--config", &config]);
    assert!(out.contains("leika: release"), "{out}");
    assert!(out.contains("gv100ad: release"), "{out}");
    assert!(dir.path().join("out/onlinedienste-report.xlsx").exists());
    assert!(dir.path().join("out/dashboards/index.json").exists());
    let out = db.ok(&["sync", "--config", &config, "--only", "leika"]);
    assert!(out.contains("leika: unchanged"), "{out}");
    assert_eq!(
        db.run(&["sync", "--config", &config, "--only", "nope"])
            .status
            .code(),
        Some(2)
    );
}

/// A download cut short that still parses (a whole number of lines, a matching
/// Content-Length) would retire everything after the cut. A full release that
/// retires more than half of the current records is refused, naming the numbers
/// and the way out; `--max-retire-share 1` applies it when the drop is real.
#[test]
fn a_truncated_full_release_does_not_retire_half_the_catalogue() {
    let db = Db::new();
    let full = "fixtures/gv100ad/GV100AD_30112025_NI.txt";
    db.ok(&["import", "gv100ad", full]);
    let text = std::fs::read_to_string(full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("GV100AD_cut.txt");
    std::fs::write(&cut, lines[..lines.len() / 3].join("\n") + "\n").unwrap();
    let cut_s = cut.to_string_lossy().into_owned();

    let state = || {
        (
            db.count("SELECT count(*) FROM releases"),
            db.count("SELECT count(*) FROM record_versions WHERE valid_to IS NULL"),
        )
    };
    let before = state();
    let out = db.run(&["import", "gv100ad", &cut_s]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("GV100AD_cut.txt"), "{err}");
    assert!(err.contains("would retire"), "{err}");
    assert!(err.contains("--max-retire-share"), "{err}");
    assert_eq!(state(), before, "the refused release changed the database");

    // A share outside 0..1 is a usage error (exit 2).
    let out = db.run(&["import", "gv100ad", &cut_s, "--max-retire-share", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("between 0 and 1"), "{}", stderr(&out));

    // Allowed explicitly: applied, and the dropped records are retired, not lost.
    db.ok(&["import", "gv100ad", &cut_s, "--max-retire-share", "1"]);
    let (releases, current) = state();
    assert_eq!(releases, before.0 + 1);
    assert!(current < before.1 / 2, "{current} of {}", before.1);
    assert_eq!(
        db.count("SELECT count(*) FROM record_versions WHERE entity = 'municipality'"),
        before.1,
        "history keeps every record"
    );
}

/// `import` reads the config's [fetch] limits like `sync`: before, it always used
/// the built-in 512 MiB body limit and timeouts, so a payload above the limit could
/// not be imported at all, and the refusal told the operator to "raise
/// max_body_bytes", a key that does not exist. Shown here with a 1 MiB limit and the
/// 3.4 MiB national GV100AD file.
#[test]
fn import_honours_the_config_s_body_limit_and_names_the_real_key() {
    let dir = super::support::scratch();
    let db = dir.path().join("t.db");
    let national = super::support::fixture("gv100ad/GV100AD_30112021.ASC");
    let national = national.to_str().unwrap();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "[fetch]\nmax_body_mb = 1\n",
    )
    .unwrap();
    let run = super::support::run_in(dir.path(), &["--db", "t.db", "import", "gv100ad", national]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("larger than the limit of 1048576 bytes; if the source really is that large, raise `max_body_mb` in the config's [fetch]"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("max_body_bytes"), "{run:#?}");
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        "[fetch]\nmax_body_mb = 8\n",
    )
    .unwrap();
    let run = super::support::run_in(dir.path(), &["--db", "t.db", "import", "gv100ad", national]);
    run.assert_ok();
    assert!(db.exists());
}

/// `search` puts a current record whose key is the text first, case ignored as
/// SQLite's `NOCASE` ignores it (since session 20 read through the key index, by
/// the range between the text's upper- and lower-case forms).
#[test]
fn search_finds_a_key_in_any_ascii_case() {
    let dir = scratch();
    let db = quick_start(dir.path());
    for (text, key) in [
        ("EFA-0001", "EFA-0001"),
        ("efa-0001", "EFA-0001"),
        ("Efa-0002", "EFA-0002"),
        ("99001001002000", "99001001002000"),
    ] {
        let run = run_db(&db, &["search", text, "--format", "json"]);
        run.assert_ok();
        let hits: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(hits[0]["key"], key, "{text}: {}", run.stdout);
    }
    // A key that is not there, in a case that sorts between others, finds none by key.
    let run = run_db(&db, &["search", "efa-9999", "--format", "json"]);
    run.assert_ok();
    assert!(!run.stdout.contains("\"EFA-"), "{}", run.stdout);
}
