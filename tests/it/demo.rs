//! The quick start's demo data (`fixtures/demo/`, `[demo]` in the config): the
//! committed files are what the seeded generator writes; `sync` imports them once
//! after its sources, so the dashboards show non-zero counts and say `"demo": true`
//! and the report carries a "Beispieldaten" banner (HTML) and first sheet (XLSX);
//! a second sync records nothing again; a config without `[demo]` shows none of it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::support::{collect, command, fixture, quick_start, run_db, scratch};

/// A config in `dir` with the bundled LeiKa, GV100AD and EfA files, a dashboards
/// export into `dir/out`, and `[demo]` if asked.
fn config(dir: &Path, demo: bool) -> std::path::PathBuf {
    let f = |rel: &str| fixture(rel).display().to_string();
    let mut text = format!(
        r#"database = "ozgsync.db"
[[source]]
name = "leika"
kind = "leika"
location = "{}"
[[source]]
name = "gv100ad"
kind = "gv100ad"
location = "{}"
[[source]]
name = "efa"
kind = "efa"
location = "{}"
[[export]]
name = "dashboards"
command = ["ozgsync", "export", "dashboards", "--out", "out"]
"#,
        f("leika/leika_sample_nrw2019.csv"),
        f("gv100ad/GV100AD_30112025_NI.txt"),
        f("efa/release1.json"),
    );
    if demo {
        text += &format!(
            "[demo]\nannotations = \"{}\"\nstatus = \"{}\"\nnachnutzung = \"{}\"\n",
            f("demo/annotations.csv"),
            f("demo/status.csv"),
            f("demo/nachnutzung.csv")
        );
    }
    let path = dir.join("ozgsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn sync(dir: &Path, config: &Path) -> String {
    let run = collect(command(dir).arg("sync").arg("--config").arg(config));
    run.assert_ok();
    run.stdout
}

fn count(db: &Path, sql: &str) -> String {
    let run = run_db(db, &["query", sql, "--format", "csv"]);
    run.assert_ok();
    run.stdout.lines().nth(1).unwrap_or_default().to_owned()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn sync_with_demo_shows_counts_once_and_marks_them() {
    let dir = scratch();
    let cfg = config(dir.path(), true);
    let out = sync(dir.path(), &cfg);
    assert!(
        out.contains(
            "demo data (Beispieldaten): 80 annotation(s) changed, 3315 status event(s) recorded, 4 EfA-Nachnutzung row(s) changed"
        ),
        "{out}"
    );
    let db = dir.path().join("ozgsync.db");
    let meta = json(&dir.path().join("out/meta.json"));
    assert_eq!(meta["demo"], true, "{meta}");
    // Some Gemeinde shows produktiv services, from the demo's status report.
    let produktiv: u64 = count(
        &db,
        "SELECT sum(produktiv) FROM v_municipality_coverage WHERE land = '03'",
    )
    .parse()
    .unwrap();
    assert!(produktiv > 0);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM status_events WHERE note <> 'Beispieldaten'"
        ),
        "0"
    );

    let again = sync(dir.path(), &cfg);
    assert!(!again.contains("demo data"), "{again}");
    assert_eq!(count(&db, "SELECT count(*) FROM status_events"), "3315");
    assert_eq!(count(&db, "SELECT count(*) FROM annotation_audit"), "511");
    assert_eq!(
        count(&db, "SELECT count(*) FROM efa_nachnutzung_versions"),
        "4"
    );
}

#[test]
fn readme_quick_start_publishes_demo_counts() {
    let dir = scratch();
    let db = quick_start(dir.path());
    let out = dir.path().join("out");
    let meta = json(&out.join("dashboards/meta.json"));
    assert_eq!(meta["demo"], true, "{meta}");
    // The index lists every unit with its counts; the demo makes them non-zero.
    let index = json(&out.join("dashboards/index.json"));
    let produktiv: u64 = index["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["counts"]["produktiv"].as_u64())
        .sum();
    assert!(produktiv > 0, "no produktiv count in index.json");
    let html = std::fs::read_to_string(out.join("onlinedienste-report.html")).unwrap();
    assert!(html.contains("<p class=\"demo\" role=\"note\"><strong>Beispieldaten:"));
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(out.join("onlinedienste-report.xlsx")).unwrap();
    assert_eq!(calamine::Reader::sheet_names(&book)[0], "Beispieldaten");
    let first = calamine::Reader::worksheet_range_at(&mut book, 0)
        .unwrap()
        .unwrap();
    assert!(first
        .get((0, 0))
        .unwrap()
        .to_string()
        .starts_with("Beispieldaten:"));
    assert_ne!(count(&db, "SELECT count(*) FROM v_reconciliation"), "0");

    // README's quick start: every stage of the Nachnutzung funnel is filled, and
    // the "Für Kommunen" list names what a Kommune can order and through whom.
    let funnel = run_db(
        &db,
        &["query", "SELECT stufe, label, services FROM v_efa_funnel"],
    );
    funnel.assert_ok();
    let readme = std::fs::read_to_string(fixture("../README.md")).unwrap();
    assert!(
        readme.contains(&funnel.stdout),
        "README's quick start shows another funnel than\n{}",
        funnel.stdout
    );
    let kommunen = html
        .split("Für Kommunen: verfügbare EfA-Onlinedienste")
        .nth(1)
        .expect("the Für Kommunen section");
    let kommunen = kommunen.split("<h2").next().unwrap_or_default();
    for expected in ["BAföG Digital", "Hundehaltung", "GovConnect", "Land"] {
        assert!(kommunen.contains(expected), "{expected}: {kommunen}");
    }
}

#[test]
fn a_config_without_demo_shows_none_of_it() {
    let dir = scratch();
    let cfg = config(dir.path(), false);
    let out = sync(dir.path(), &cfg);
    assert!(!out.contains("demo data"), "{out}");
    let db = dir.path().join("ozgsync.db");
    assert_eq!(count(&db, "SELECT count(*) FROM status_events"), "0");
    assert_eq!(json(&dir.path().join("out/meta.json"))["demo"], false);
    let report = run_db(&db, &["export", "report", "--format", "md", "--out", "-"]);
    report.assert_ok();
    assert!(
        !report.stdout.contains("Beispieldaten"),
        "{}",
        report.stdout
    );
}

#[test]
fn generator_reproduces_the_committed_files() {
    let dir = scratch();
    let run = Command::new("python3")
        .arg(fixture("demo/generate.py"))
        .arg(dir.path())
        .output();
    let Ok(run) = run else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is needed in CI to check fixtures/demo"
        );
        eprintln!("SKIPPED: python3 not found; fixtures/demo/generate.py not checked");
        return;
    };
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in ["annotations.csv", "status.csv", "nachnutzung.csv"] {
        assert!(
            std::fs::read(dir.path().join(file)).unwrap()
                == std::fs::read(fixture(&format!("demo/{file}"))).unwrap(),
            "fixtures/demo/{file} differs from what generate.py writes; run it and commit"
        );
    }
}
