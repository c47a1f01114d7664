//! Security boundaries through the real binary: credentials never leak (a canary
//! token is searched for in every log line, error, `config check` output, the
//! database and backup bytes), plain http is refused unless allowed, and the
//! database, its WAL and its backups are not readable by others.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::support::{self, command, fixture, run_db, setup, Reply};

const BEARER: &str = "canary-bearer-5c1e9d";
const PASSWORD: &str = "canary-password-83b2f0";

/// A tiny HTTP server: `/leika.csv` fails once with 503, then serves the LeiKa
/// sample; `/secret.csv` always answers 401. Returns the port and the
/// `Authorization` headers received.
fn serve() -> (u16, Arc<Mutex<Vec<String>>>) {
    let csv = std::fs::read(fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let hits = AtomicUsize::new(0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let auth = Arc::clone(&seen);
    let server = support::serve(move |path, headers| {
        for (name, value) in headers {
            if name == "authorization" {
                auth.lock().unwrap().push(format!("authorization: {value}"));
            }
        }
        if path.contains("/leika.csv") {
            if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::status(503, "busy")
            } else {
                Reply::ok(csv.clone())
            }
        } else {
            Reply::status(401, "who are you")
        }
    });
    (server.port, seen)
}

/// The binary in `dir` at log level trace, with the canary token in its environment.
fn traced(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .args(args)
        .env("RUST_LOG", "trace")
        .env("CANARY_TOKEN", BEARER)
        .output()
        .unwrap()
}

fn all_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_canary(what: &str, bytes: &[u8]) {
    for canary in [BEARER, PASSWORD] {
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{what} contains the secret {canary}"
        );
    }
}

#[test]
fn credentials_never_leak_and_files_stay_private() {
    let dir = tempfile::tempdir().unwrap();
    let (port, auth) = serve();
    std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        format!(
            r#"
            database = "ozgsync.db"
            [fetch]
            allow_http = true
            max_retries = 2
            backoff_base_ms = 10
            [[source]]
            name = "leika"
            kind = "leika"
            location = "http://127.0.0.1:{port}/leika.csv"
            credentials = {{ env = "CANARY_TOKEN" }}
            [[source]]
            name = "secret"
            kind = "leika"
            location = "http://127.0.0.1:{port}/secret.csv"
            credentials = {{ scheme = "basic", user = "svc", file = "password" }}
            "#
        ),
    )
    .unwrap();
    let sync = traced(dir.path(), &["sync", "--config", "ozgsync.toml"]);
    let text = all_text(&sync);
    assert_eq!(sync.status.code(), Some(1), "the 401 source fails: {text}");
    assert!(text.contains("leika: release"), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(
        text.contains("fetch failed, retrying"),
        "the 503 was logged: {text}"
    );
    assert_no_canary("sync output", text.as_bytes());
    // The secrets were really in play: both went over the wire.
    let auth = auth.lock().unwrap().clone();
    assert!(auth.iter().any(|a| a.contains(BEARER)), "{auth:?}");
    assert!(auth.iter().any(|a| a.contains("Basic")), "{auth:?}");

    for args in [
        &["config", "check", "--config", "ozgsync.toml"][..],
        &["config", "check", "--config", "ozgsync.toml", "--json"][..],
        &["status", "--config", "ozgsync.toml"][..],
        &["status", "--config", "ozgsync.toml", "--json"][..],
        &["--db", "ozgsync.db", "releases"][..],
        &["backup", "backup.db", "--config", "ozgsync.toml"][..],
    ] {
        let out = traced(dir.path(), args);
        assert_no_canary(&format!("{args:?}"), all_text(&out).as_bytes());
    }
    for file in ["ozgsync.db", "ozgsync.db-wal", "backup.db"] {
        let path = dir.path().join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            assert_no_canary(file, &bytes);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{file} has mode {mode:o}");
        }
    }
    assert!(dir.path().join("backup.db").exists());
}

#[test]
fn plain_http_sources_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _) = serve();
    let url = format!("http://127.0.0.1:{port}/leika.csv");
    let out = traced(dir.path(), &["--db", "a.db", "import", "leika", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(all_text(&out).contains("allow_http"), "{}", all_text(&out));
    std::fs::write(
        dir.path().join("ozgsync.toml"),
        format!("database = \"b.db\"\n[[source]]\nname = \"leika\"\nkind = \"leika\"\nlocation = \"{url}\"\n"),
    )
    .unwrap();
    let out = traced(dir.path(), &["sync", "--config", "ozgsync.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        all_text(&out).contains("plain http is not allowed"),
        "{}",
        all_text(&out)
    );
}

/// `query` beyond `query::refuses_every_change`: writes hidden in CTEs, RETURNING
/// and REPLACE, `VACUUM INTO` another file, temp objects, maintenance statements and
/// schema-changing pragmas. Each is refused and the database file stays
/// byte-for-byte the same; no file appears beside it.
#[test]
fn query_cannot_write_anything_anywhere() {
    use sha2::{Digest, Sha256};
    let (dir, db) = setup();
    // Checkpoint so the main file alone is the state.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let digest = || Sha256::digest(std::fs::read(&db).unwrap());
    let files = || {
        // A reader of a WAL database creates the (empty) -wal and -shm files itself.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.ends_with("-shm") && !n.ends_with("-wal"))
            .collect();
        names.sort();
        names
    };
    let before = (digest(), files());
    let elsewhere = dir.path().join("copy.db");
    let vacuum_into = format!("VACUUM INTO '{}'", elsewhere.display());
    for sql in [
        "WITH x AS (SELECT 1) INSERT INTO sources SELECT 'x','x','x',NULL,NULL,'x' FROM x",
        "INSERT INTO sources VALUES ('x','x','x',NULL,NULL,'x') RETURNING *",
        "REPLACE INTO sources VALUES ('x','x','x',NULL,NULL,'x')",
        "UPDATE record_versions SET data = '{}' WHERE rowid IN (SELECT rowid FROM record_versions LIMIT 1) RETURNING rowid",
        vacuum_into.as_str(),
        "VACUUM",
        "ANALYZE",
        "REINDEX",
        "CREATE TEMP TABLE t (x)",
        "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE TEMP TRIGGER tr AFTER INSERT ON sources BEGIN SELECT 1; END",
        "CREATE VIEW v2 AS SELECT 1",
        "SAVEPOINT s",
        "DETACH DATABASE main",
        "PRAGMA writable_schema = 1",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "PRAGMA optimize",
        "PRAGMA incremental_vacuum",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA foreign_keys = OFF",
        "SELECT fts3_tokenizer('simple', x'0000000000000000')",
        "SELECT load_extension('libc.so.6', 'system')",
    ] {
        let run = run_db(&db, &["query", sql]);
        assert!(!run.ok(), "{sql} was allowed: {}", run.stdout);
        assert!(
            // fts3_tokenizer's two-argument form (a function pointer) is disabled
            // in SQLite itself.
            run.stderr.contains("refused") || run.stderr.contains("fts3tokenize disabled"),
            "{sql}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{sql}: {}", run.stderr);
    }
    assert!(!elsewhere.exists(), "VACUUM INTO wrote a copy");
    assert_eq!(
        (digest(), files()),
        before,
        "the database or its folder changed"
    );
}

/// Every file below `dir`, relative, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn export_paths_cannot_escape_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = traced(
        root,
        &[
            "--db",
            "o.db",
            "import",
            "gv100ad",
            &format!(
                "{}/fixtures/gv100ad/GV100AD_30112025_NI.txt",
                env!("CARGO_MANIFEST_DIR")
            ),
        ],
    );
    assert!(out.status.success(), "{}", all_text(&out));
    let export = |extra: &[&str]| {
        let mut args = vec!["--db", "o.db", "export", "dashboards", "--out", "site/dash"];
        args.extend_from_slice(extra);
        traced(root, &args)
    };
    let first = export(&[]);
    assert!(first.status.success(), "{}", all_text(&first));
    let published = files_below(&root.join("site"));
    assert!(published.iter().any(|f| f.starts_with("dash/gemeinden/")));

    // A municipality whose ARS would climb out of DIR (written behind ozgsync's back:
    // imports validate ARS, so only a tampered database can hold one).
    let conn = rusqlite::Connection::open(root.join("o.db")).unwrap();
    for evil in ["../../../escaped", "/tmp/escaped-abs", "03..0000escaped"] {
        conn.execute(
            "INSERT INTO record_versions (entity, key, valid_from, valid_to, hash, data)
             VALUES ('municipality', 'gemeinde:' || ?1, (SELECT max(release_id) FROM releases), NULL, 'x',
                     json_object('level', 'gemeinde', 'ars', ?1, 'name', 'Evil', 'textkennzeichen', '64',
                                 'gebietsstand', '2025-11-30'))",
            [evil],
        )
        .unwrap();
        // All Länder: with the default (03) two of these are simply out of scope.
        let attempt = export(&["--land", "all"]);
        let text = all_text(&attempt);
        assert!(
            !attempt.status.success(),
            "{evil}: export succeeded: {text}"
        );
        assert!(
            text.contains(evil),
            "{evil}: the message does not name the value: {text}"
        );
        // Nothing written anywhere outside DIR, DIR itself unchanged.
        assert_eq!(files_below(&root.join("site")), published, "{evil}");
        let stray: Vec<String> = files_below(root)
            .into_iter()
            .filter(|f| f.contains("escaped"))
            .collect();
        assert!(stray.is_empty(), "{evil}: {stray:?}");
        assert!(!Path::new("/tmp/escaped-abs.json").exists());
        conn.execute(
            "DELETE FROM record_versions WHERE entity = 'municipality' AND key = 'gemeinde:' || ?1",
            [evil],
        )
        .unwrap();
    }
}
