//! A rejected row of a full release whose key is valid keeps its key: the previous
//! version stays current, a warning naming key and releases is stored with the
//! release, and only keys absent from the payload are retired (issue 11, item 2).
//! Through the real binary on copies of the fixtures, for LeiKa, EfA and GV100AD;
//! then the dashboards, which must not count a retired key as relevant.

use std::path::{Path, PathBuf};

use super::support::{fixture, leika_db, run_db, scratch, Run};

/// The LeiKa sample as lines of bytes (it is Windows-1252, so not `str`).
fn leika_lines() -> Vec<Vec<u8>> {
    let raw = std::fs::read(fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    raw.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

/// The index of the sample's line for `key`.
fn line_of(lines: &[Vec<u8>], key: &str) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(format!("{key};").as_bytes()))
        .unwrap_or_else(|| panic!("{key} is in the LeiKa sample"))
}

/// Empties the Bezeichnung (6th field) of `line`.
fn blank_bezeichnung(line: &mut Vec<u8>) {
    let mut fields: Vec<&[u8]> = line.split(|b| *b == b';').collect();
    fields[5] = b"";
    *line = fields.join(&b';');
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    std::fs::write(path, lines.join(&b'\n')).unwrap();
}

/// A copy of the LeiKa sample with the Bezeichnung of `blank` emptied and the rows of
/// `drop` left out.
fn leika_copy(dir: &Path, name: &str, blank: &[&str], drop: &[&str]) -> PathBuf {
    let mut lines = leika_lines();
    for key in blank {
        let i = line_of(&lines, key);
        blank_bezeichnung(&mut lines[i]);
    }
    for key in drop {
        let i = line_of(&lines, key);
        lines.remove(i);
    }
    let path = dir.join(name);
    write_lines(&path, &lines);
    path
}

/// One query through `ozgsync query`, as CSV rows without the header.
fn query(db: &Path, sql: &str) -> Vec<String> {
    let run = run_db(db, &["query", sql, "--format", "csv"]);
    run.assert_ok();
    run.stdout
        .lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

/// Fails with the whole output unless the run's stdout contains `text`.
#[track_caller]
fn assert_says(run: &Run, text: &str) {
    assert!(run.stdout.contains(text), "{text:?} not in {}", run.stdout);
}

fn import(db: &Path, kind: &str, file: &Path) -> Run {
    run_db(db, &["import", kind, file.to_str().unwrap()])
}

/// The releases' counts as `retired,rejected,kept` by release id, read through
/// `releases` (which reads them back from the database).
fn release_counts(db: &Path, release: &str) -> String {
    let run = run_db(db, &["releases", "--format", "csv"]);
    run.assert_ok();
    let mut lines = run.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == release)
        .unwrap_or_else(|| panic!("release {release} listed: {}", run.stdout));
    format!(
        "{},{},{}",
        row[col("retired")],
        row[col("rejected")],
        row[col("kept")]
    )
}

/// Imports an annotation sheet of `rows` (after the header) as Ressort `by`.
fn annotate(db: &Path, rows: &str, by: &str) {
    let sheet = db.with_file_name("annotations.csv");
    std::fs::write(
        &sheet,
        format!(
            "Leistungsschlüssel;Leistungsbezeichnung;Ressort;Vollzug;Umsetzungsweg;EfA-ID;\
             Depriorisierungsgrund;Priorität;Zieldatum;Bemerkung\n{rows}"
        ),
    )
    .unwrap();
    run_db(
        db,
        &["annotations", "import", sheet.to_str().unwrap(), "--by", by],
    )
    .assert_ok();
}

/// The sample's valid keys, in file order.
fn valid_keys(lines: &[Vec<u8>]) -> Vec<String> {
    lines[1..]
        .iter()
        .map(|l| String::from_utf8_lossy(&l[..l.len().min(14)]).into_owned())
        .filter(|k| k.len() == 14 && k.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

const ABENDREALSCHULE: &str = "99088026034000";
const ABFALL: &str = "99001001002000";

#[test]
fn blank_bezeichnung_keeps_the_key_current_with_its_annotation() {
    let dir = scratch();
    let db = leika_db(dir.path());
    annotate(
        &db,
        "99088026034000;Abendrealschule Aufnahme;MK;Land;WfU/NAVO;;;2;;\n",
        "MK",
    );

    let blanked = leika_copy(dir.path(), "blanked.csv", &[ABENDREALSCHULE], &[]);
    let run = import(&db, "leika", &blanked);
    run.assert_ok();
    // Release 1 is the sample with its 55 rows without a valid key; the blank row is
    // the 56th reject, and the only key kept.
    assert_says(&run, "release 2 applied: 0 added, 0 changed, 0 retired, 611 unchanged, 56 rejected, 1 warnings, 1 kept");
    assert_eq!(release_counts(&db, "2"), "0,56,1");

    assert_eq!(
        query(
            &db,
            "SELECT bezeichnung, retired, last_changed_release FROM v_services \
             WHERE leistungsschluessel = '99088026034000'"
        ),
        ["Abendrealschule Aufnahme,0,1"]
    );
    assert_eq!(
        query(
            &db,
            "SELECT orphaned FROM v_annotations WHERE leistungsschluessel = '99088026034000'"
        ),
        ["0"]
    );
    let orphans = run_db(&db, &["annotations", "orphans", "--format", "csv"]);
    orphans.assert_ok();
    assert!(
        !orphans.stdout.contains(ABENDREALSCHULE),
        "{}",
        orphans.stdout
    );

    let rejects = run_db(&db, &["rejects", "2"]);
    rejects.assert_ok();
    assert!(
        rejects.stdout.contains("56 rejected, 1 warnings, 1 kept"),
        "{}",
        rejects.stdout
    );
    let warning = rejects
        .stdout
        .lines()
        .find(|l| l.starts_with("warning"))
        .unwrap_or_else(|| panic!("a warning listed: {}", rejects.stdout));
    for part in [
        "line 3",
        "99088026034000 kept at its version from release 1",
        "its record in release 2 was rejected",
        "not retired",
    ] {
        assert!(warning.contains(part), "{part:?} in {warning}");
    }
}

#[test]
fn a_key_absent_from_the_payload_is_still_retired() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let copy = leika_copy(dir.path(), "copy.csv", &[ABENDREALSCHULE], &[ABFALL]);
    let run = import(&db, "leika", &copy);
    run.assert_ok();
    assert_says(
        &run,
        "1 retired, 610 unchanged, 56 rejected, 1 warnings, 1 kept",
    );
    assert_eq!(
        query(
            &db,
            "SELECT leistungsschluessel, retired FROM v_services \
             WHERE leistungsschluessel IN ('99088026034000', '99001001002000') ORDER BY 1"
        ),
        ["99001001002000,1", "99088026034000,0"]
    );
}

#[test]
fn a_later_good_row_of_a_rejected_key_still_updates_it() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let mut lines = leika_lines();
    let i = line_of(&lines, ABENDREALSCHULE);
    let good = String::from_utf8_lossy(&lines[i])
        .replace("Abendrealschule Aufnahme", "Abendschule Aufnahme");
    blank_bezeichnung(&mut lines[i]);
    lines.push(good.into_bytes());
    let path = dir.path().join("twice.csv");
    write_lines(&path, &lines);
    let run = import(&db, "leika", &path);
    run.assert_ok();
    assert_says(
        &run,
        "0 added, 1 changed, 0 retired, 611 unchanged, 56 rejected, 0 warnings",
    );
    assert!(!run.stdout.contains("kept"), "{}", run.stdout);
    // One open version, the new one.
    assert_eq!(
        query(
            &db,
            "SELECT json_extract(data, '$.bezeichnung'), valid_from FROM record_versions \
             WHERE key = '99088026034000' AND valid_to IS NULL"
        ),
        ["Abendschule Aufnahme,2"]
    );
}

#[test]
fn a_rejected_key_without_a_previous_version_is_only_rejected() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let copy = leika_copy(dir.path(), "copy.csv", &[ABENDREALSCHULE], &[]);
    let run = import(&db, "leika", &copy);
    run.assert_ok();
    assert_says(
        &run,
        "611 added, 0 changed, 0 retired, 0 unchanged, 56 rejected, 0 warnings",
    );
    assert!(!run.stdout.contains("kept"), "{}", run.stdout);
    assert_eq!(release_counts(&db, "1"), "0,56,0");
    assert!(query(
        &db,
        "SELECT 1 FROM v_services WHERE leistungsschluessel = '99088026034000'"
    )
    .is_empty());
}

#[test]
fn kept_keys_do_not_count_toward_the_retire_share_and_all_bad_is_refused() {
    let dir = scratch();
    let db = leika_db(dir.path());
    let lines = leika_lines();
    // 400 of the 612 valid keys: far beyond the default retire share of 50 %.
    let all = valid_keys(&lines);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let keys = &all[..400];

    // Missing, they would be retired: refused as a probably truncated payload.
    let dropped = leika_copy(dir.path(), "dropped.csv", &[], keys);
    let run = import(&db, "leika", &dropped);
    assert!(!run.ok(), "{run:#?}");
    assert!(
        run.stderr.contains("would retire 400 of 612"),
        "{}",
        run.stderr
    );

    // Present with bad data, they are kept: nothing is retired, nothing refused.
    let blanked = leika_copy(dir.path(), "blanked.csv", keys, &[]);
    let run = import(&db, "leika", &blanked);
    run.assert_ok();
    assert_says(
        &run,
        "0 retired, 212 unchanged, 455 rejected, 400 warnings, 400 kept",
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM v_services WHERE NOT retired"),
        ["612"]
    );

    // Every row bad: still no valid record, so the release is refused as before,
    // even though each bad row names its key.
    let none_good = leika_copy(dir.path(), "none_good.csv", &all, &[]);
    let run = import(&db, "leika", &none_good);
    assert!(!run.ok(), "{run:#?}");
    assert!(
        run.stderr.contains("holds no valid record"),
        "{}",
        run.stderr
    );
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM releases WHERE status = 'applied'"
        ),
        ["2"]
    );
}

#[test]
fn efa_broken_records_retire_only_the_services_absent_from_the_payload() {
    for (good, broken) in [
        ("efa/release1.csv", "efa/broken_records.csv"),
        ("efa/release1.json", "efa/broken_records.json"),
    ] {
        let dir = scratch();
        let db = dir.path().join("ozgsync.db");
        import(&db, "efa", &fixture(good)).assert_ok();
        let run = import(&db, "efa", &fixture(broken));
        run.assert_ok();
        let current = query(
            &db,
            "SELECT key, valid_from FROM record_versions \
             WHERE entity = 'efa_service' AND valid_to IS NULL ORDER BY key",
        );
        let retired = query(
            &db,
            "SELECT key FROM record_versions WHERE entity = 'efa_service' AND valid_to = 2 ORDER BY key",
        );
        let kept = query(
            &db,
            "SELECT key FROM rejects WHERE release_id = 2 AND severity = 'warning' \
             AND reason LIKE '% kept at its version from release 1%' ORDER BY key",
        );
        // Every service whose row is in the broken file stays current at its
        // version from release 1 (EFA-0001 is unchanged, the others kept); only
        // services the file does not name at all are retired.
        match broken {
            "efa/broken_records.csv" => {
                // EFA-0001 good, EFA-0002 bad (level 6 in model 1.1), EFA-0009 bad
                // and new: nothing to keep. EFA-0003 and EFA-0004 are absent.
                assert_eq!(current, ["EFA-0001,1", "EFA-0002,1"], "{broken}");
                assert_eq!(retired, ["EFA-0003", "EFA-0004"], "{broken}");
                assert_eq!(kept, ["EFA-0002"], "{broken}");
                assert_eq!(release_counts(&db, "2"), "2,2,1");
            }
            _ => {
                // EFA-0001 good; EFA-0002, EFA-0003, EFA-0004 bad with valid ids
                // (a fifth record repeats EFA-0001): all four stay current.
                assert_eq!(
                    current,
                    ["EFA-0001,1", "EFA-0002,1", "EFA-0003,1", "EFA-0004,1"],
                    "{broken}: {}",
                    run.stdout
                );
                assert!(retired.is_empty(), "{broken}: {retired:?}");
                assert_eq!(kept, ["EFA-0002", "EFA-0003", "EFA-0004"], "{broken}");
                // Three bad records and the repeated EFA-0001.
                assert_eq!(release_counts(&db, "2"), "0,4,3");
            }
        }
    }
}

/// The real GV100AD file with the Gebietsstand of Gemeinde `broken` made impossible
/// (a reject with a valid key) and the line of Gemeinde `absent` left out.
fn gv100ad_copy(dir: &Path, broken: &str, absent: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("gv100ad/GV100AD_30112025_NI.txt")).unwrap();
    // Name in columns 23–72: the key columns hold the ARS in record order, not as is.
    let gemeinde = |line: &str, name: &str| {
        line.starts_with("60") && line.chars().skip(22).collect::<String>().starts_with(name)
    };
    let mut out = String::new();
    let mut found = (false, false);
    for line in text.split_inclusive('\n') {
        if gemeinde(line, absent) {
            found.1 = true;
            continue;
        }
        if gemeinde(line, broken) {
            found.0 = true;
            out.push_str(&format!("60{}{}", "20251131", &line[10..]));
            continue;
        }
        out.push_str(line);
    }
    assert_eq!(found, (true, true), "both Gemeinden are in the file");
    let path = dir.join("gv100ad_copy.txt");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn gv100ad_broken_line_with_a_valid_ars_keeps_its_gemeinde() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    import(&db, "gv100ad", &fixture("gv100ad/GV100AD_30112025_NI.txt")).assert_ok();
    let copy = gv100ad_copy(dir.path(), "Müden (Aller)", "Rötgesbüttel");
    let run = import(&db, "gv100ad", &copy);
    run.assert_ok();
    assert_says(
        &run,
        "1 retired, 1440 unchanged, 1 rejected, 1 warnings, 1 kept",
    );
    assert_eq!(
        query(
            &db,
            "SELECT ars, name, retired FROM v_municipalities \
             WHERE level = 'gemeinde' AND ars IN ('031515405018', '031515406023') ORDER BY ars"
        ),
        [
            "031515405018,Müden (Aller),0",
            "031515406023,Rötgesbüttel,1"
        ]
    );
    let rejects = run_db(&db, &["rejects", "2", "--format", "csv"]);
    rejects.assert_ok();
    assert!(
        rejects
            .stdout
            .contains("gemeinde:031515405018 kept at its version from release 1"),
        "{}",
        rejects.stdout
    );
}

/// Adenbüttel, a Gemeinde of Samtgemeinde Isenbüttel in Landkreis Gifhorn.
const ADENBUETTEL: &str = "031515406001";
const GIFHORN: &str = "031510000000";

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn assert_schema(name: &str, value: &serde_json::Value) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    let validator = jsonschema::validator_for(&read_json(&schema)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}

fn dashboards(db: &Path, out: &Path) {
    run_db(
        db,
        &[
            "export",
            "dashboards",
            "--as-of",
            "2026-03-01",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_ok();
}

#[test]
fn dashboards_and_report_do_not_count_a_retired_key() {
    let dir = scratch();
    let db = leika_db(dir.path());
    import(&db, "gv100ad", &fixture("gv100ad/GV100AD_30112025_NI.txt")).assert_ok();
    // Two services every Gemeinde executes; one of them live in Adenbüttel and at
    // the Land.
    annotate(
        &db,
        "99001001002000;Abfall;MU;Kommune;Eigenlösung;;;1;;\n\
         99088026034000;Abendrealschule Aufnahme;MK;Kommune;Eigenlösung;;;2;;\n",
        "MU",
    );
    let report = dir.path().join("status.csv");
    std::fs::write(
        &report,
        format!(
            "Leistungsschlüssel;EfA-ID;Ressort;ARS;Status;Gültig ab;Bemerkung\n\
             {ABFALL};;;{ADENBUETTEL};produktiv;2026-01-10;\n\
             {ABFALL};;MU;;produktiv;2026-01-10;\n"
        ),
    )
    .unwrap();
    run_db(
        &db,
        &["status", "import", report.to_str().unwrap(), "--by", "MU"],
    )
    .assert_ok();

    let before = dir.path().join("before");
    dashboards(&db, &before);
    let g = read_json(&before.join(format!("gemeinden/{ADENBUETTEL}.json")));
    assert_eq!(g["counts"]["relevant"], 2);
    assert_eq!(g["counts"]["produktiv"], 1);
    let kreis_before = read_json(&before.join(format!("kreise/{GIFHORN}.json")));

    // The next LeiKa edition drops the Abfall key: it is retired.
    let copy = leika_copy(dir.path(), "leika2.csv", &[], &[ABFALL]);
    let run = import(&db, "leika", &copy);
    run.assert_ok();
    assert_says(&run, "1 retired");

    let after = dir.path().join("after");
    dashboards(&db, &after);
    let g = read_json(&after.join(format!("gemeinden/{ADENBUETTEL}.json")));
    assert_schema("dashboard-gemeinde.schema.json", &g);
    assert_eq!(g["counts"]["relevant"], 1, "{}", g["counts"]);
    assert_eq!(g["counts"]["produktiv"], 0);
    // Still shown, marked, so the Gemeinde sees what it reported.
    assert_eq!(g["services"][ABFALL]["status"], "produktiv");
    assert_eq!(g["services"][ABFALL]["retired"], true);
    assert!(g["services"][ABENDREALSCHULE].get("retired").is_none());

    let services = read_json(&after.join("services.json"));
    assert_schema("dashboard-services.schema.json", &services);
    assert_eq!(services["services"][ABFALL]["retired"], true);
    assert!(services["services"][ABENDREALSCHULE]
        .get("retired")
        .is_none());

    // Every Gemeinde of the Kreis lost the retired key from its relevant services.
    let kreis = read_json(&after.join(format!("kreise/{GIFHORN}.json")));
    assert_schema("dashboard-aggregate.schema.json", &kreis);
    let members = kreis["members"].as_array().unwrap().len() as u64;
    assert_eq!(
        kreis_before["counts"]["relevant"].as_u64().unwrap()
            - kreis["counts"]["relevant"].as_u64().unwrap(),
        members
    );
    assert_eq!(kreis["counts"]["produktiv"], 0);
    assert!(
        kreis["services"].get(ABFALL).is_none(),
        "{}",
        kreis["services"]
    );
    let index = read_json(&after.join("index.json"));
    let entry = index["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["ars"] == ADENBUETTEL)
        .unwrap();
    assert_eq!(entry["counts"]["relevant"], 1);

    // The report marks the Land's status change of the retired key.
    let json = dir.path().join("report.json");
    run_db(
        &db,
        &[
            "export",
            "report",
            "--format",
            "json",
            "--as-of",
            "2026-03-01",
            "--since",
            "2026-01-01",
            "--out",
            json.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let report = read_json(&json);
    assert_schema("report.schema.json", &report);
    let change = report["changes"]["status_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == ABFALL)
        .unwrap_or_else(|| panic!("{}", report["changes"]));
    assert_eq!(change["retired"], true);
}
