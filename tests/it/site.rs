//! The dashboard site in a real browser: a test export (bundled LeiKa, EfA and OZG
//! fixtures, Lower Saxony's real GV100AD, the annotation sheet and a small status
//! report) published with `--site`, served by the test's own HTTP server on
//! 127.0.0.1, and loaded by headless Chromium. The DOM after the scripts ran must
//! show the expected names and counts, the browser must log no console message
//! (a CSP refusal of another origin would be one), and every request must be for
//! a file of the set. A screenshot per page goes to `target/test-artifacts/site/`.
//!
//! Without Chromium the test says so loudly and returns, unless `CI` is set: CI
//! installs it (`.ci/run`), so there a missing browser fails the test.

use std::path::{Path, PathBuf};

use super::support::{self, fixture, run_db, Reply};

const AS_OF: &str = "2026-03-15";
const GIFHORN_KREIS: &str = "031510000000";
const GIFHORN_STADT: &str = "031510009009";
const MUEDEN: &str = "031515405018";

/// A database with the bundled catalogues, the real GV100AD, the annotation sheet
/// and the site's status report, exported with `--site` into `dir/out`.
fn export_site(dir: &Path) -> PathBuf {
    let db = dir.join("ozgsync.db");
    for (kind, file) in [
        ("leika", "leika/leika_sample_nrw2019.csv"),
        ("gv100ad", "gv100ad/GV100AD_30112025_NI.txt"),
        ("efa", "efa/release1.json"),
        ("ozg", "ozg/ozg_leistungen_nrw2019.csv"),
        ("ozg-map", "ozg/leika_to_ozg_nrw2019_sample.csv"),
    ] {
        run_db(&db, &["import", kind, fixture(file).to_str().unwrap()]).assert_ok();
    }
    let sheet = fixture("annotations/valid.csv");
    run_db(
        &db,
        &[
            "annotations",
            "import",
            "--by",
            "test",
            sheet.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let report = fixture("status/site_gifhorn.csv");
    run_db(
        &db,
        &["status", "import", "--by", "test", report.to_str().unwrap()],
    )
    .assert_ok();
    let out = dir.join("out");
    let export = [
        "export",
        "dashboards",
        "--site",
        "--as-of",
        AS_OF,
        "--out",
        "out",
    ];
    run_db(&db, &export).assert_ok();
    // The site is part of the published set: an unchanged re-export writes nothing.
    let again = run_db(&db, &export);
    assert!(again.assert_ok().stdout.contains("unchanged"), "{again:#?}");
    out
}

/// Serves the files of `root` (no listing, nothing outside it) and records requests.
fn serve_dir(root: &Path) -> support::Server {
    let root = root.to_path_buf();
    support::serve(move |path, _| {
        let rel = path
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_start_matches('/');
        if rel
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.'))
        {
            return Reply::status(404, "not found");
        }
        let kind = match rel.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("json") => "application/json",
            _ => "application/octet-stream",
        };
        match std::fs::read(root.join(rel)) {
            Ok(body) => Reply::ok(body).header("Content-Type", kind),
            Err(_) => Reply::status(404, "not found"),
        }
    })
}

/// One headless Chromium run; `extra` says what it produces (DOM or screenshot).
/// Returns stdout and stderr; console messages appear on stderr as `CONSOLE(`.
fn chromium_run(browser: &Path, profile: &Path, url: &str, extra: &[&str]) -> (String, String) {
    let out = support::headless(browser, profile)
        .args([
            "--disable-default-apps",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed on {url}: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// A screenshot of `url` at `size` (`W,H`) as `target/test-artifacts/site/{shot}.png`.
fn screenshot(browser: &Path, profile: &Path, url: &str, shot: &str, size: &str) {
    let artifacts = super::support::binary()
        .ancestors()
        .nth(2)
        .expect("the target directory")
        .join("test-artifacts/site");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join(format!("{shot}.png"));
    let _ = std::fs::remove_file(&png);
    chromium_run(
        browser,
        profile,
        url,
        &[
            "--hide-scrollbars",
            &format!("--window-size={size}"),
            &format!("--screenshot={}", png.display()),
        ],
    );
    assert!(
        std::fs::metadata(&png).is_ok_and(|m| m.len() > 1000),
        "{png:?}"
    );
}

/// A page of the site: its DOM after the scripts ran, and its screenshot.
fn page(browser: &Path, profile: &Path, base: &str, route: &str, shot: &str) -> String {
    let url = format!("{base}/index.html#/{route}");
    let (dom, log) = chromium_run(browser, profile, &url, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages on {url}: {console:#?}"
    );
    screenshot(browser, profile, &url, shot, "1280,1600");
    // The rendered page only: the static header and footer say nothing about data.
    let main = dom
        .split_once("<main")
        .and_then(|(_, rest)| rest.split_once("</main>"))
        .map(|(inner, _)| inner.to_owned());
    main.unwrap_or_else(|| panic!("no <main> in the DOM of {url}: {dom}"))
}

/// A count as the site writes it (de-DE: `3.756`).
fn german(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts that `html` contains every one of `expected`.
#[track_caller]
fn has(html: &str, expected: &[&str]) {
    for text in expected {
        assert!(html.contains(text), "expected {text:?} in:\n{html}");
    }
}

#[test]
fn the_site_renders_land_kreis_gemeinde_and_search_in_chromium() {
    let Some(browser) = support::chromium("the dashboard site (tests/it/site.rs)") else {
        return;
    };
    let tmp = support::scratch();
    let out = export_site(tmp.path());
    for file in [
        "index.html",
        "site/app.js",
        "site/site.css",
        "labels.json",
        "openapi.json",
    ] {
        assert!(out.join(file).is_file(), "{file} published");
    }
    let manifest = std::fs::read_to_string(out.join(".ozgsync-published")).unwrap();
    assert!(manifest.lines().any(|l| l == "site/app.js"), "{manifest}");
    let server = serve_dir(&out);
    let profile = tmp.path().join("chromium-profile");

    // Land: every Kreis listed, the headline counts are the sums of the Kreise.
    let index = json(&out.join("index.json"));
    let kreise: Vec<&serde_json::Value> = index["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["level"] == "kreis")
        .collect();
    let total = |field: &str| {
        kreise
            .iter()
            .map(|k| k["counts"][field].as_u64().unwrap())
            .sum()
    };
    let (relevant, produktiv): (u64, u64) = (total("relevant"), total("produktiv"));
    assert_eq!(produktiv, 4, "the status report's four produktiv cells");
    let land = page(&browser, &profile, &server.base, "", "land");
    has(
        &land,
        &[
            "Niedersachsen",
            &format!("Alle {} Kreise", kreise.len()),
            &format!(r##"href="#/kreis/{GIFHORN_KREIS}">Gifhorn</a>"##),
            &format!(r#"<span class="zahl">{}</span>"#, german(relevant)),
            &format!(r#"<span class="zahl">{produktiv}</span>"#),
            "<svg",
        ],
    );
    assert_eq!(
        land.matches("<tr>").count(),
        kreise.len() + 1,
        "a row per Kreis"
    );

    // A Kreis: its members with their counts, its Samtgemeinden, its changes.
    let kreis = json(&out.join(format!("kreise/{GIFHORN_KREIS}.json")));
    let members = kreis["members"].as_array().unwrap().len();
    let html = page(
        &browser,
        &profile,
        &server.base,
        &format!("kreis/{GIFHORN_KREIS}"),
        "kreis",
    );
    has(
        &html,
        &[
            "<h1>Gifhorn</h1>",
            &format!("Landkreis · ARS {GIFHORN_KREIS} · {members} Gemeinden"),
            &format!(r##"href="#/gemeinde/{MUEDEN}">Müden (Aller)</a>"##),
            "Papenteich",
            &format!(
                r#"<span class="zahl">{}</span>"#,
                kreis["counts"]["produktiv"]
            ),
            "Statusänderungen in Gifhorn",
            "Statusänderungen je Tag, 14.02.2026 bis 15.03.2026: 3 insgesamt",
        ],
    );

    // A Samtgemeinde (Textkennzeichen 52, named from labels.json) with its members.
    let html = page(
        &browser,
        &profile,
        &server.base,
        "verband/031515405000",
        "verband",
    );
    has(
        &html,
        &[
            "<h1>Meinersen</h1>",
            "Samtgemeinde · ARS 031515405000 · 4 Gemeinden",
            &format!(r##"href="#/gemeinde/{MUEDEN}">Müden (Aller)</a>"##),
            "relevante Leistungen, je Gemeinde gezählt",
        ],
    );

    // A Gemeinde: its services grouped by Themenfeld with status, since-date and link.
    let html = page(
        &browser,
        &profile,
        &server.base,
        &format!("gemeinde/{GIFHORN_STADT}"),
        "gemeinde",
    );
    has(
        &html,
        &[
            "<h1>Gifhorn, Stadt</h1>",
            "Stadt · ARS 031510009009 · AGS 03151009",
            "<h3>Bauen &amp; Wohnen</h3>",
            "Abfallgebühr Festsetzung",
            r#"<span class="status status-produktiv">Produktiv</span>"#,
            r#"<span class="status status-in_umsetzung">In Umsetzung</span>"#,
            "02.03.2026",
            r#"href="https://abfall.niedersachsen.example/""#,
            "Statusänderungen in Gifhorn, Stadt",
        ],
    );

    // The same page at phone width, for a look at the stacked rows.
    let url = format!("{}/index.html#/gemeinde/{GIFHORN_STADT}", server.base);
    screenshot(&browser, &profile, &url, "gemeinde-telefon", "390,1600");

    // Search: a folded name without its umlaut, spelled out with a combining
    // diaeresis (u + U+0308), and an AGS.
    let mueden = format!(r##"href="#/gemeinde/{MUEDEN}">Müden (Aller)</a>"##);
    for (route, shot) in [("suche/muden", "suche"), ("suche/MU%CC%88DEN", "suche-nfd")] {
        let html = page(&browser, &profile, &server.base, route, shot);
        has(&html, &[&mueden]);
    }
    let html = page(
        &browser,
        &profile,
        &server.base,
        "suche/03151009",
        "suche-ags",
    );
    has(
        &html,
        &[&format!(
            r##"href="#/gemeinde/{GIFHORN_STADT}">Gifhorn, Stadt</a>"##
        )],
    );
    assert!(!html.contains("Müden"), "{html}");

    // Data and addresses are shown as text, never as markup; a unit that is not in
    // the set gets a page that says which file is missing and what to do.
    let html = page(
        &browser,
        &profile,
        &server.base,
        "suche/%3Cimg%20src%3Dx%3E",
        "suche-markup",
    );
    has(&html, &["<h1>Suche: &lt;img src=x&gt;</h1>"]);
    let html = page(
        &browser,
        &profile,
        &server.base,
        "gemeinde/039999999999",
        "fehlt",
    );
    has(
        &html,
        &["gemeinden/039999999999.json gibt es hier nicht", "Suchfeld"],
    );
    let html = page(&browser, &profile, &server.base, "suche/%E0", "unlesbar");
    has(&html, &["ist nicht lesbar"]);

    // Every request was for a file of the set (no other origin can be seen here;
    // the CSP refuses it and the console check above would have caught it).
    // The one exception is the file of the unit that is not in the set.
    let missing = "/gemeinden/039999999999.json";
    for line in server.requests.lock().unwrap().iter() {
        let path = line.split_whitespace().nth(1).unwrap_or("");
        let rel = path
            .split(['?', '#'])
            .next()
            .unwrap()
            .trim_start_matches('/');
        assert!(
            out.join(rel).is_file() || path == missing,
            "request for a file not in the set: {line}"
        );
    }
}

#[test]
fn the_site_comes_and_goes_with_the_flag_and_user_files_stay() {
    let tmp = support::scratch();
    let db = support::leika_db(tmp.path());
    let gv100ad = fixture("gv100ad/GV100AD_30112025_NI.txt");
    run_db(&db, &["import", "gv100ad", gv100ad.to_str().unwrap()]).assert_ok();
    let out = tmp.path().join("out");
    let export = |site: bool| {
        let mut args = vec![
            "export",
            "dashboards",
            "--out",
            "out",
            "--allow-foreign-files",
        ];
        if site {
            args.push("--site");
        }
        run_db(&db, &args).assert_ok();
    };
    export(false);
    assert!(!out.join("index.html").exists(), "no site without --site");
    std::fs::create_dir_all(out.join("eigenes")).unwrap();
    std::fs::write(out.join("eigenes/logo.svg"), "<svg/>").unwrap();
    export(true);
    let labels = json(&out.join("labels.json"));
    assert_eq!(labels["textkennzeichen"]["67"], "Große Kreisstadt");
    assert_eq!(labels["status"]["in_umsetzung"], "In Umsetzung");
    assert!(out.join("index.html").is_file() && out.join("site/app.js").is_file());
    // Without the flag again: exactly the site's files go, the JSON and the
    // user's file stay.
    export(false);
    for gone in [
        "index.html",
        "site/app.js",
        "site/site.css",
        "labels.json",
        "openapi.json",
    ] {
        assert!(!out.join(gone).exists(), "{gone} removed");
    }
    assert!(out.join("index.json").is_file());
    assert_eq!(
        std::fs::read_to_string(out.join("eigenes/logo.svg")).unwrap(),
        "<svg/>"
    );
}

/// The property paths of `schema` (below `at`) that have no `description`.
fn undescribed(schema: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        return;
    };
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (name, prop) in props {
            let path = format!("{at}/{name}");
            if prop.get("description").is_none() {
                out.push(path.clone());
            }
            undescribed(prop, &path, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = node.get(key) {
            undescribed(sub, &format!("{at}/{key}"), out);
        }
    }
    if let Some(defs) = node.get("$defs").and_then(|d| d.as_object()) {
        for (name, def) in defs {
            undescribed(def, &format!("{at}/$defs/{name}"), out);
        }
    }
}

#[test]
fn published_schemas_describe_every_property_and_their_examples_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("dashboard-") {
            continue;
        }
        let schema = json(&path);
        let mut missing = Vec::new();
        undescribed(&schema, "", &mut missing);
        assert!(missing.is_empty(), "{name}: no description for {missing:?}");
        let validator = jsonschema::validator_for(&schema).unwrap();
        let examples = schema["examples"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!examples.is_empty(), "{name}: no example");
        for example in examples {
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: its example is invalid: {errors:#?}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 5, "the five dashboard schemas");
}

/// Issue 14's "done": after README's quick start (the example config with its demo
/// data), `out/dashboards/index.html` served over HTTP shows Lower Saxony's Kreise
/// with non-zero counts, and Hannover's page lists services with German status
/// labels (from the published `labels.json`) and the demo marker.
#[test]
fn the_quick_start_publishes_a_site_with_demo_counts_in_chromium() {
    let Some(browser) = support::chromium("the dashboard site (tests/it/site.rs)") else {
        return;
    };
    let tmp = support::scratch();
    support::quick_start(tmp.path());
    let out = tmp.path().join("out/dashboards");
    assert!(
        out.join("index.html").is_file(),
        "the quick start publishes the site"
    );
    let index = json(&out.join("index.json"));
    let relevant: u64 = index["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["level"] == "kreis")
        .map(|k| k["counts"]["relevant"].as_u64().unwrap())
        .sum();
    assert!(relevant > 0, "the demo makes services relevant");
    let server = serve_dir(&out);
    let profile = tmp.path().join("chromium-profile");
    let land = page(&browser, &profile, &server.base, "", "quick-start-land");
    has(&land, &["Niedersachsen", "Hannover", "Beispieldaten"]);
    let hannover = page(
        &browser,
        &profile,
        &server.base,
        "gemeinde/032410001001",
        "quick-start-hannover",
    );
    // The demo's Hundehaltung (EFA-0003) reaches the Kommunen through GovConnect:
    // the Gemeinde's page says so, in the label labels.json publishes.
    let labels = json(&out.join("labels.json"));
    assert_eq!(labels["kanal"]["govconnect"], "GovConnect");
    has(
        &hannover,
        &[
            "Hannover",
            "EfA-Dienst bestellbar über",
            "\">GovConnect</td>",
        ],
    );
    let shown: Vec<&str> = labels["status"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str())
        .filter(|label| hannover.contains(label))
        .collect();
    assert!(
        !shown.is_empty(),
        "no German status label on Hannover's page:\n{hannover}"
    );
}
