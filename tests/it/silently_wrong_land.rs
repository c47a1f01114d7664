//! Issue 12, items 0, 1 and 3, against the real binary and real Destatis files: the
//! national GV100AD is kept whole but the exports show one Land (config `land`,
//! `--land`, default 03); große Kreisstädte (Textkennzeichen 67) are Gemeinden; an
//! older edition (GV100AD, XZuFi, FIM API) is refused unless `--allow-older-edition`.
//!
//! The counts below are computed from `fixtures/gv100ad/GV100AD_30112021.ASC`
//! independently of ozgsync, counting characters (not bytes) with perl:
//!
//! ```sh
//! perl -CSD -ne 'chomp; s/\r$//; next unless substr($_,0,2) eq "60";
//!   $tk = substr($_,122,2); next unless $tk =~ /^6[0-4]$|^67$/;
//!   $all++; $land{substr($_,10,2)}++; $tk67++ if $tk eq "67";
//!   $boeblingen++ if substr($_,10,5) eq "08115";
//!   END { print "$all $land{"03"} $land{"08"} $tk67 $boeblingen\n" }' GV100AD_30112021.ASC
//! ```
//!
//! which prints `10787 939 1101 123 26`: Gemeinden in Germany, in Niedersachsen, in
//! Baden-Württemberg, große Kreisstädte, and members of Kreis Böblingen. The file
//! has 400 type-40 records (Kreise), 45 of them in Niedersachsen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::support::{self, fixture, run_db, scratch, Run};

const NATIONAL_2021: &str = "gv100ad/GV100AD_30112021.ASC";
const NI_2025: &str = "gv100ad/GV100AD_30112025_NI.txt";

const GEMEINDEN_DE: usize = 10_787;
const GEMEINDEN_NI: usize = 939;
const GEMEINDEN_BW: usize = 1_101;
const GROSSE_KREISSTAEDTE: usize = 123;

const BOEBLINGEN: &str = "081150003003";
const SINDELFINGEN_AGS: &str = "08115045";
const KREIS_BOEBLINGEN: &str = "081150000000";

fn import(db: &Path, kind: &str, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["import", kind, file.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_db(db, &args)
}

/// A database with the national 2021 directory imported.
fn national_db(dir: &Path) -> PathBuf {
    let db = dir.join("ozgsync.db");
    import(&db, "gv100ad", &fixture(NATIONAL_2021), &[]).assert_ok();
    db
}

/// The ARS of the JSON files in `dir/sub`.
fn files(dir: &Path, sub: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.trim_end_matches(".json").to_owned()
        })
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `ozgsync query --format csv` rows without the header.
fn query(db: &Path, sql: &str) -> Vec<String> {
    let run = run_db(db, &["query", "--format", "csv", sql]);
    run.assert_ok();
    run.stdout.lines().skip(1).map(str::to_owned).collect()
}

#[test]
fn national_directory_gives_lower_saxony_dashboards_by_default() {
    let dir = scratch();
    let db = national_db(dir.path());
    let out = dir.path().join("dash");
    run_db(
        &db,
        &["export", "dashboards", "--out", out.to_str().unwrap()],
    )
    .assert_ok();

    let gemeinden = files(&out, "gemeinden");
    assert_eq!(gemeinden.len(), GEMEINDEN_NI);
    assert!(gemeinden.iter().all(|ars| ars.starts_with("03")));
    let kreise = files(&out, "kreise");
    assert_eq!(kreise.len(), 45);
    assert!(kreise.iter().all(|ars| ars.starts_with("03")));
    assert!(files(&out, "verbaende").iter().all(|a| a.starts_with("03")));
    let meta = json(&out.join("meta.json"));
    assert_eq!(meta["files"]["gemeinden"], GEMEINDEN_NI);
    assert_eq!(meta["land"], "03");
    let index = json(&out.join("index.json"));
    let units = index["units"].as_array().unwrap();
    assert!(units
        .iter()
        .all(|u| u["ars"].as_str().unwrap().starts_with("03")));
    // The directory itself stays whole: every Land's history is kept.
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM v_municipalities WHERE is_gemeinde"
        ),
        [GEMEINDEN_DE.to_string()]
    );
}

#[test]
fn land_all_gives_every_german_gemeinde_grosse_kreisstaedte_included() {
    let dir = scratch();
    let db = national_db(dir.path());
    let out = dir.path().join("dash");
    let out_s = out.to_str().unwrap();
    run_db(
        &db,
        &["export", "dashboards", "--out", out_s, "--land", "all"],
    )
    .assert_ok();

    assert_eq!(files(&out, "gemeinden").len(), GEMEINDEN_DE);
    assert_eq!(files(&out, "kreise").len(), 400);
    assert_eq!(json(&out.join("meta.json"))["land"], "all");
    let boeblingen = json(&out.join(format!("gemeinden/{BOEBLINGEN}.json")));
    assert_eq!(boeblingen["unit"]["name"], "Böblingen, Stadt");
    assert_eq!(boeblingen["unit"]["textkennzeichen"], "67");

    let kreis = json(&out.join(format!("kreise/{KREIS_BOEBLINGEN}.json")));
    let members: Vec<&str> = kreis["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ars"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), 26);
    assert!(members.contains(&BOEBLINGEN), "{members:?}");
    // Sindelfingen by its AGS: Kreis + Gemeinde digits of the ARS.
    assert!(
        members
            .iter()
            .any(|ars| format!("{}{}", &ars[..5], &ars[9..]) == SINDELFINGEN_AGS),
        "{members:?}"
    );

    // Every große Kreisstadt has its file; gemeindefreie Gebiete (65, 66) have none.
    let tk = |code: &str| {
        query(
            &db,
            &format!(
                "SELECT ars FROM v_municipalities WHERE level = 'gemeinde' AND textkennzeichen = '{code}'"
            ),
        )
    };
    let kreisstaedte = tk("67");
    assert_eq!(kreisstaedte.len(), GROSSE_KREISSTAEDTE);
    let written = files(&out, "gemeinden");
    assert!(kreisstaedte.iter().all(|ars| written.contains(ars)));
    let gemeindefrei: Vec<String> = tk("65").into_iter().chain(tk("66")).collect();
    assert_eq!(gemeindefrei.len(), 210);
    assert!(gemeindefrei.iter().all(|ars| !written.contains(ars)));
}

#[test]
fn the_land_comes_from_the_config_and_the_flag_wins() {
    let dir = scratch();
    let db = national_db(dir.path());
    let config = dir.path().join("ozgsync.toml");
    std::fs::write(&config, "land = \"08\"\n").unwrap();
    let export = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut cmd = support::command(dir.path());
        cmd.arg("--db")
            .arg(&db)
            .args(["export", "dashboards", "--out"])
            .arg(&out)
            .args(extra)
            .env("OZGSYNC_CONFIG", &config);
        support::collect(&mut cmd).assert_ok();
        files(&out, "gemeinden")
    };
    let bw = export("bw", &[]);
    assert_eq!(bw.len(), GEMEINDEN_BW);
    assert!(bw.contains(BOEBLINGEN));
    assert_eq!(export("ni", &["--land", "03"]).len(), GEMEINDEN_NI);

    let bad = run_db(&db, &["export", "dashboards", "--out", "x", "--land", "17"]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("a Land key from 1 to 16"),
        "{}",
        bad.stderr
    );
    std::fs::write(&config, "land = \"Niedersachsen\"\n").unwrap();
    let bad = run_db(
        &db,
        &[
            "export",
            "dashboards",
            "--out",
            "x",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(!bad.ok());
    assert!(
        bad.stderr.contains("land") && bad.stderr.contains("a Land key from 1 to 16"),
        "{}",
        bad.stderr
    );
    assert!(!dir.path().join("x").exists());
}

#[test]
fn report_counts_the_kreise_of_the_land() {
    let dir = scratch();
    let db = national_db(dir.path());
    let report = |land: &str| {
        let out = dir.path().join(format!("report-{land}.json"));
        let out_s = out.to_str().unwrap();
        run_db(
            &db,
            &[
                "export", "report", "--format", "json", "--out", out_s, "--land", land,
            ],
        )
        .assert_ok();
        json(&out)
    };
    let ni = report("03");
    let kreise = ni["kreise"].as_array().unwrap();
    assert_eq!(kreise.len(), 45);
    let gemeinden: u64 = kreise
        .iter()
        .map(|k| k["gemeinden"].as_u64().unwrap())
        .sum();
    assert_eq!(gemeinden, GEMEINDEN_NI as u64);

    let all = report("all");
    let kreise = all["kreise"].as_array().unwrap();
    assert_eq!(kreise.len(), 400);
    let boeblingen = kreise
        .iter()
        .find(|k| k["ars"] == KREIS_BOEBLINGEN)
        .unwrap();
    assert_eq!(boeblingen["gemeinden"], 26);
}

#[test]
fn coverage_view_is_national_with_a_land_column_and_counts_gemeinden_proper() {
    let dir = scratch();
    let db = national_db(dir.path());
    let per_land = query(
        &db,
        "SELECT land, count(*) FROM v_municipality_coverage WHERE land IN ('03', '08') GROUP BY land",
    );
    assert_eq!(
        per_land,
        [format!("03,{GEMEINDEN_NI}"), format!("08,{GEMEINDEN_BW}")]
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM v_municipality_coverage"),
        [GEMEINDEN_DE.to_string()]
    );
    assert_eq!(
        query(
            &db,
            &format!("SELECT land FROM v_municipality_coverage WHERE ars = '{BOEBLINGEN}'")
        ),
        ["08"]
    );
}

#[test]
fn a_town_that_becomes_a_grosse_kreisstadt_stays_a_gemeinde() {
    // A constructed later edition of the real NI file: Gifhorn (TK 63) becomes TK 67.
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    import(&db, "gv100ad", &fixture(NI_2025), &[]).assert_ok();
    let text = std::fs::read_to_string(fixture(NI_2025)).unwrap();
    let gifhorn = "031510009009";
    let later: String = text
        .lines()
        .map(|line| {
            let mut line = line.replacen("20251130", "20251231", 1);
            if line.starts_with("602025123103151009") {
                let chars: Vec<char> = line.chars().collect();
                assert_eq!(chars[122..124].iter().collect::<String>(), "63");
                line = chars[..122]
                    .iter()
                    .chain(['6', '7'].iter())
                    .chain(chars[124..].iter())
                    .collect();
            }
            line + "\n"
        })
        .collect();
    let file = dir.path().join("GV100AD_31122025_NI_tk67.txt");
    std::fs::write(&file, later).unwrap();
    import(&db, "gv100ad", &file, &[]).assert_ok();
    assert_eq!(
        query(
            &db,
            &format!("SELECT textkennzeichen, is_gemeinde FROM v_municipalities WHERE level = 'gemeinde' AND ars = '{gifhorn}'")
        ),
        ["67,1"]
    );
    let out = dir.path().join("dash");
    run_db(
        &db,
        &["export", "dashboards", "--out", out.to_str().unwrap()],
    )
    .assert_ok();
    let written = files(&out, "gemeinden");
    assert_eq!(written.len(), GEMEINDEN_NI);
    assert!(written.contains(gifhorn));
}

#[test]
fn an_older_gv100ad_edition_is_refused_unless_allowed() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    import(&db, "gv100ad", &fixture(NI_2025), &[]).assert_ok();
    let count = || {
        query(
            &db,
            "SELECT count(*), max(gebietsstand) FROM v_municipalities",
        )
    };
    let before = count();
    assert_eq!(before, ["1442,2025-11-30"]);

    let refused = import(&db, "gv100ad", &fixture(NATIONAL_2021), &[]);
    refused.assert_code(1);
    for needle in [
        "GV100AD_30112021.ASC",
        "Gebietsstand is 2021-11-30",
        "older than the 2025-11-30",
        "nothing was changed",
        "--allow-older-edition",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    assert_eq!(count(), before);
    assert_eq!(query(&db, "SELECT count(*) FROM releases"), ["1"]);

    import(
        &db,
        "gv100ad",
        &fixture(NATIONAL_2021),
        &["--allow-older-edition"],
    )
    .assert_ok();
    // Every line of the national file (16,060, `wc -l`) is now a current record,
    // and Böblingen is among them.
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM v_municipalities WHERE NOT retired"
        ),
        ["16060"]
    );
    assert_eq!(
        query(
            &db,
            &format!("SELECT gebietsstand FROM v_municipalities WHERE level = 'gemeinde' AND ars = '{BOEBLINGEN}'")
        ),
        ["2021-11-30"]
    );
}

/// Replaces `from` by `to` in a fixture and writes the result into `dir`.
fn edited(dir: &Path, rel: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture(rel)).unwrap();
    assert!(text.contains(from), "{rel} holds {from}");
    let name = Path::new(rel).file_name().unwrap();
    let path = dir.join(format!("edited-{}", name.to_str().unwrap()));
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

#[test]
fn an_older_service_change_from_xzufi_or_fim_api_is_refused_unless_allowed() {
    // (kind, fixture, a service's change date in it, that service's key)
    for (kind, rel, date, key) in [
        (
            "xzufi",
            "xzufi/transfer.xml",
            "2024-02-29T13:45:10.000+01:00",
            "99012001001000",
        ),
        (
            "fim-api",
            "fim-api/steckbriefe_pull.json",
            "2025-03-14T09:30:00+01:00",
            "99088026034000",
        ),
    ] {
        let dir = scratch();
        let db = dir.path().join("ozgsync.db");
        import(&db, kind, &fixture(rel), &[]).assert_ok();
        let versions = || query(&db, "SELECT count(*) FROM record_versions");
        let before = versions();

        // The same payload with that service changed earlier: an older edition of it.
        let older = edited(dir.path(), rel, date, "2020-01-01T00:00:00");
        let refused = import(&db, kind, &older, &[]);
        refused.assert_code(1);
        for needle in [
            format!("service {key} has the change date 2020-01-01T00:00:00"),
            "--allow-older-edition".to_owned(),
        ] {
            assert!(
                refused.stderr.contains(&needle),
                "{kind} {needle}: {}",
                refused.stderr
            );
        }
        assert_eq!(versions(), before, "{kind}");

        // A later change goes through; so does the older one when asked for.
        let newer = edited(dir.path(), rel, date, "2030-01-01T00:00:00");
        import(&db, kind, &newer, &[]).assert_ok();
        let older = edited(dir.path(), rel, date, "2020-01-01T00:00:00");
        import(&db, kind, &older, &["--allow-older-edition"]).assert_ok();
        assert_eq!(
            query(
                &db,
                &format!("SELECT json_extract(data, '$.veroeffentlicht') FROM record_versions WHERE entity = 'service' AND key = '{key}' AND valid_to IS NULL")
            ),
            ["2020-01-01T00:00:00"],
            "{kind}"
        );
    }
}

/// As in production: `sync` pulls the national file over HTTP (127.0.0.1) and runs
/// the configured dashboard export, which reads `land` from the config it is given
/// in `OZGSYNC_CONFIG` (default 03 when the config has none).
#[test]
fn a_sync_of_the_national_file_exports_the_configured_land() {
    let body = std::fs::read(fixture(NATIONAL_2021)).unwrap();
    let server = support::serve(move |_, _| support::Reply::ok(body.clone()));
    for (land_line, expected, land) in [
        ("", GEMEINDEN_NI, "03"),
        ("land = \"08\"\n", GEMEINDEN_BW, "08"),
    ] {
        let dir = scratch();
        let config = dir.path().join("ozgsync.toml");
        std::fs::write(
            &config,
            format!(
                "database = \"ozgsync.db\"\n{land_line}\
                 [fetch]\nallow_http = true\n\
                 [[source]]\nname = \"gv100ad\"\nkind = \"gv100ad\"\n\
                 location = \"{}/GV100AD_30112021.ASC\"\n\
                 [[export]]\nname = \"dashboards\"\n\
                 command = [\"ozgsync\", \"export\", \"dashboards\", \"--out\", \"dash\"]\n",
                server.base
            ),
        )
        .unwrap();
        support::run_in(dir.path(), &["sync", "--config", config.to_str().unwrap()]).assert_ok();
        let out = dir.path().join("dash");
        assert_eq!(files(&out, "gemeinden").len(), expected, "land {land}");
        assert_eq!(json(&out.join("meta.json"))["land"], land);
    }
}
