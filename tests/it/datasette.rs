//! Datasette over the reporting database (`deploy/datasette/metadata.json`): every
//! view has a German title and every column a description, the views documented
//! in docs/views.md among them; every canned query returns rows on the quick-start
//! database (plus a second LeiKa release, which makes an annotation an orphan);
//! and a real Datasette (from `.ci/run`'s venv) serves them as JSON, refuses
//! anonymous visitors with the shipped auth settings, and renders a view page with
//! its German title in Chromium.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{self, fixture, quick_start, run_db, scratch};

fn metadata() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/datasette/metadata.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The quick-start database, then an annotation of a key that LeiKa release 2
/// retires, then that release.
fn coordinators_db(dir: &Path) -> PathBuf {
    let db = quick_start(dir);
    let sheet = dir.join("verwaist.csv");
    std::fs::write(&sheet, "Leistungsschlüssel;Ressort\n99012034095000;MI\n").unwrap();
    run_db(
        &db,
        &[
            "annotations",
            "import",
            sheet.to_str().unwrap(),
            "--by",
            "Test",
        ],
    )
    .assert_ok();
    let release2 = fixture("leika/leika_release2.csv");
    run_db(&db, &["import", "leika", release2.to_str().unwrap()]).assert_ok();
    db
}

/// A demo key that is kommunal and has statuses: the canned query's parameter.
const KEY: &str = "99001035000000";

/// Rows of `sql` run by `ozgsync query` (read-only), with `:leistungsschluessel`
/// bound by substitution (the key is digits only).
fn rows(db: &Path, sql: &str) -> Vec<Value> {
    let sql = sql.replace(":leistungsschluessel", &format!("'{KEY}'"));
    let run = run_db(db, &["query", &sql, "--format", "json"]);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn view_columns(db: &Path) -> Vec<(String, Vec<String>)> {
    rows(
        db,
        "SELECT m.name AS view, group_concat(p.name, ' ') AS columns
         FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'view' AND m.name LIKE 'v\\_%' ESCAPE '\\' GROUP BY m.name",
    )
    .into_iter()
    .map(|r| {
        let cols = r["columns"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(String::from)
            .collect();
        (r["view"].as_str().unwrap().to_owned(), cols)
    })
    .collect()
}

#[test]
fn metadata_documents_every_view_and_every_canned_query_returns_rows() {
    let dir = scratch();
    let db = coordinators_db(dir.path());
    let meta = metadata();
    let tables = &meta["databases"]["ozgsync"]["tables"];
    let views = view_columns(&db);
    assert!(views.len() >= 15, "{views:?}");
    for (view, columns) in &views {
        let t = &tables[view];
        assert!(
            t["title"].is_string() && t["description"].is_string(),
            "{view} has no title"
        );
        for c in columns {
            assert!(t["columns"][c].is_string(), "{view}.{c} has no description");
        }
        let documented = t["columns"].as_object().unwrap().len();
        assert_eq!(
            documented,
            columns.len(),
            "{view}: a described column is gone"
        );
    }
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/views.md"))
        .unwrap();
    for line in docs.lines().filter(|l| l.starts_with("| `v_")) {
        let view = line.split('`').nth(1).unwrap();
        assert!(
            tables[view]["title"].is_string(),
            "docs/views.md's {view} missing in metadata"
        );
    }
    for hidden in [
        "payloads",
        "status_tally",
        "status_event_rows",
        "status_current_rows",
        "search_fts_data",
        "record_versions",
    ] {
        assert_eq!(tables[hidden]["hidden"], true, "{hidden}");
    }
    let queries = meta["databases"]["ozgsync"]["queries"].as_object().unwrap();
    assert_eq!(queries.len(), 7);
    for (name, q) in queries {
        let got = rows(&db, q["sql"].as_str().unwrap());
        assert!(!got.is_empty(), "canned query {name} returns no rows");
    }
}

/// The Datasette executable: `OZGSYNC_DATASETTE`, else `.ci/run`'s venv. Missing:
/// a failure in CI, a loud skip elsewhere.
fn datasette() -> Option<PathBuf> {
    let path = std::env::var_os("OZGSYNC_DATASETTE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-datasette/bin/datasette"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "Datasette missing at {}; .ci/run installs it",
        path.display()
    );
    eprintln!(
        "SKIPPED: Datasette not found at {} (run .ci/run once to install it)",
        path.display()
    );
    None
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(datasette: &Path, db: &Path, metadata: &Path) -> (Served, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(datasette)
        .arg("serve")
        .arg(db)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--metadata",
        ])
        .arg(metadata)
        // As the systemd unit runs it.
        .args(["--setting", "sql_time_limit_ms", "5000"])
        .args(["--setting", "max_returned_rows", "5000"])
        .env("DATASETTE_PASSWORD_HASH", "not-a-hash")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "Datasette did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (served, port)
}

/// `GET path` on 127.0.0.1 (HTTP/1.0: no chunked body to decode): (status code, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (code, body)
}

#[test]
fn datasette_serves_the_canned_queries_and_german_titles() {
    let Some(datasette) = datasette() else { return };
    let dir = scratch();
    let db = coordinators_db(dir.path());
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/datasette/metadata.json");

    // As shipped: nobody gets in without logging in.
    {
        let (_served, port) = serve(&datasette, &db, &shipped);
        assert_eq!(get(port, "/ozgsync.json").0, 403);
    }

    // Without the login (what the proxy would let through after it), the content.
    let mut open = metadata();
    let obj = open.as_object_mut().unwrap();
    obj.remove("allow");
    obj.remove("plugins");
    let open_path = dir.path().join("metadata.json");
    std::fs::write(&open_path, serde_json::to_vec(&open).unwrap()).unwrap();
    let (_served, port) = serve(&datasette, &db, &open_path);
    let queries = open["databases"]["ozgsync"]["queries"].as_object().unwrap();
    for (name, q) in queries {
        let (code, body) = get(
            port,
            &format!("/ozgsync/{name}.json?_shape=array&leistungsschluessel={KEY}"),
        );
        assert_eq!(code, 200, "{name}: {body}");
        let served: Vec<Value> = serde_json::from_str(&body).unwrap();
        let expected = rows(&db, q["sql"].as_str().unwrap());
        assert_eq!(served.len(), expected.len(), "{name}");
        assert_eq!(served.first(), expected.first(), "{name}");
    }
    let (code, html) = get(port, "/ozgsync/v_annotations");
    assert_eq!(code, 200);
    assert!(html.contains("Annotationen des Landes"), "{html}");
    let listed = get(port, "/ozgsync").1;
    assert!(!listed.contains("search_fts_data"));
    // The view the search index reads its texts from needs ozgsync's own SQL
    // function: not offered, not served.
    assert!(!listed.contains("search_content"), "{listed}");
    assert_eq!(get(port, "/ozgsync/search_content").0, 403);

    // What a coordinator's browser shows: the German title in the rendered page.
    let Some(chromium) = support::chromium("the rendered Datasette page") else {
        return;
    };
    let profile = dir.path().join("chromium");
    let shot = dir.path().join("v_annotations.png");
    let url = format!("http://127.0.0.1:{port}/ozgsync/v_annotations");
    let headless = || {
        let mut cmd = support::headless(&chromium, &profile);
        cmd.arg("--window-size=1280,900");
        cmd
    };
    let dom = headless().arg("--dump-dom").arg(&url).output().unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<h1") && dom.contains("Annotationen des Landes"),
        "{dom}"
    );
    let status = headless()
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
