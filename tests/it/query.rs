//! The read-only query interface and full-text search through the real binary: every
//! kind of change is refused with a clear message and leaves the database as it was;
//! the output formats; search folds case, umlauts and ß.

use super::support::{apply, rows, run_db, service, setup};

#[test]
fn refuses_every_change() {
    let (_dir, db) = setup();
    let before = rows(&db, "SELECT count(*) FROM record_versions");
    let check = |sql: &str, expected: &str| {
        let run = run_db(&db, &["query", sql]);
        assert!(!run.ok(), "{sql} was allowed: {}", run.stdout);
        assert!(run.stderr.contains(expected), "{sql}: {}", run.stderr);
    };
    check(
        "INSERT INTO sources VALUES ('x','x','x',NULL,NULL,'x')",
        "query refused: writing (INSERT into sources) is not allowed",
    );
    check(
        "UPDATE releases SET status = 'applied'",
        "query refused: writing (UPDATE of releases) is not allowed",
    );
    check(
        "DELETE FROM record_versions",
        "query refused: writing (DELETE from record_versions) is not allowed",
    );
    check(
        "DROP TABLE releases",
        "query refused: changing the schema (CREATE, DROP, ALTER) is not allowed",
    );
    check("CREATE TABLE t (x)", "query refused:");
    check(
        "ATTACH DATABASE '/tmp/other.db' AS o",
        "query refused: ATTACH (\"/tmp/other.db\") is not allowed",
    );
    check(
        "PRAGMA user_version = 99",
        "query refused: PRAGMA user_version = 99 is not allowed",
    );
    check(
        "PRAGMA query_only = 0",
        "query refused: PRAGMA query_only = 0 is not allowed",
    );
    check(
        "PRAGMA journal_mode = DELETE",
        "query refused: PRAGMA journal_mode = DELETE is not allowed",
    );
    check(
        "SELECT load_extension('/tmp/evil.so')",
        "query refused: loading extensions is not allowed",
    );
    check("BEGIN", "query refused: transactions are not allowed");
    check("SELECT 1; DELETE FROM releases", "query refused");
    assert_eq!(rows(&db, "SELECT count(*) FROM record_versions"), before);
    assert_eq!(rows(&db, "PRAGMA user_version").len(), 1);
}

#[test]
fn formats() {
    let (_dir, db) = setup();
    let sql = "SELECT ars, name FROM v_municipality_coverage WHERE ars = '031010000000'";
    let check = |format: &str, expected: &str| {
        let run = run_db(&db, &["query", sql, "--format", format]);
        assert!(run.ok(), "{}", run.stderr);
        assert_eq!(run.stdout, expected, "{format}");
    };
    check(
        "table",
        "ars           name\n031010000000  Braunschweig, Stadt\n",
    );
    check("csv", "ars,name\n031010000000,\"Braunschweig, Stadt\"\n");
    check(
        "json",
        "[\n{\"ars\":\"031010000000\",\"name\":\"Braunschweig, Stadt\"}\n]\n",
    );
    check(
        "ndjson",
        "{\"ars\":\"031010000000\",\"name\":\"Braunschweig, Stadt\"}\n",
    );
    let run = run_db(&db, &["query", "SELECT 1 AS a WHERE 0", "--format", "csv"]);
    assert_eq!(run.stdout, "a\n");
    let run = run_db(
        &db,
        &[
            "query",
            "PRAGMA table_info(status_events)",
            "--format",
            "csv",
        ],
    );
    assert!(
        run.ok() && run.stdout.contains("effective_on"),
        "{}",
        run.stderr
    );
}

#[test]
fn search_folds_case_umlauts_and_sharp_s() {
    let (_dir, db) = setup();
    let check = |text: &str, expected: &[&str]| {
        let run = run_db(&db, &["search", text, "--format", "csv"]);
        assert!(run.ok(), "{}", run.stderr);
        let keys: Vec<&str> = run
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').nth(1))
            .collect();
        assert_eq!(keys, expected, "{text}");
    };
    check("Strasse", &["99102013000000"]);
    check("straße", &["99102013000000"]);
    check("STRASSENVERKEHRSBEHOERDE", &["99102013000000"]);
    check("Strassenverkehrsbehorde", &["99102013000000"]);
    check("AUSWEIS", &["99012001001000"]);
    check("perso", &["99012001001000"]);
    check("hund anmelden", &["99041006017000"]);
    check("Melderegister", &[]);
}

#[test]
fn search_index_follows_releases() {
    use ozgsync::model::Entity;
    let (_dir, db) = setup();
    let mut conn = ozgsync::store::open(&db).unwrap();
    // The next full release renames one service and drops another.
    apply(
        &mut conn,
        "leika",
        Entity::Service,
        vec![
            service("99041006017000", "Hundesteuer Abmeldung", &[]),
            service(
                "99102013000000",
                "Straßenverkehrsbehörde Sondernutzung",
                &[],
            ),
        ],
    );
    // The index is refreshed lazily, before a search.
    ozgsync::store::search::refresh(&mut conn).unwrap();
    let hits = |text: &str| -> Vec<String> {
        ozgsync::store::search::search(&conn, text, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.key)
            .collect()
    };
    assert_eq!(hits("Abmeldung"), ["99041006017000"]);
    assert!(hits("Anmeldung").is_empty());
    assert!(hits("Ausweis").is_empty());
    // The index holds the two current names, and FTS5 finds it equal to their text.
    let documents: std::collections::BTreeSet<String> = index_instances(&conn)
        .iter()
        .map(|i| i.split(' ').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(documents.len(), 2, "{documents:?}");
    assert_eq!(rows(&db, "SELECT count(*) FROM search_fts"), ["2"]);
    conn.execute(
        "INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .unwrap();
}

use super::support::gen;

/// Every term of the search index with the document, column and position it
/// occurs at (FTS5's own view of the index, which keeps no text), sorted.
fn index_instances(conn: &rusqlite::Connection) -> Vec<String> {
    conn.execute_batch(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_terms
             USING fts5vocab(main, search_fts, 'instance')",
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT term, doc, col, offset FROM temp.search_terms")
        .unwrap();
    let mut all: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    all.sort();
    all
}

#[test]
fn a_release_larger_than_one_index_chunk_keeps_the_index_exact() {
    // Releases write the index a chunk of documents at a time, and remove a changed
    // or retired version's document with the text it was indexed with. After a
    // cold import and a next release that changes and retires across many chunks,
    // the index holds exactly what one rebuilt from the current versions holds.
    let dir = super::support::scratch();
    let db = dir.path().join("ozgsync.db");
    let first = gen::leika_release(30_000, 7);
    let (next, _) = gen::leika_next_release(&first, 0.3, 7);
    for (name, release) in [("first.csv", &first), ("next.csv", &next)] {
        let path = dir.path().join(name);
        std::fs::write(&path, release.to_csv_utf8()).unwrap();
        run_db(&db, &["import", "leika", path.to_str().unwrap()]).assert_ok();
    }
    let changed = rows(
        &db,
        "SELECT count(*) FROM record_versions WHERE entity = 'service' AND valid_to IS NOT NULL",
    );
    assert!(
        changed[0].parse::<usize>().unwrap() > 2 * 4096,
        "{changed:?}"
    );
    let mut conn = ozgsync::store::open(&db).unwrap();
    // FTS5's own check of the index against the text of the current versions
    // (`search_content`, schema 0023).
    conn.execute(
        "INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .unwrap();
    let incremental = index_instances(&conn);
    assert!(incremental.len() > 100_000, "{}", incremental.len());
    // Each release's new versions lie in the range of ids it recorded, which
    // `diff` reads them by (schema 0024).
    assert_eq!(
        rows(&db, super::support::VERSIONS_OUTSIDE_THEIR_RELEASE),
        ["0"]
    );
    // Rebuilt: what an index that missed releases gets (`store::search::refresh`).
    conn.execute("UPDATE search_state SET indexed_release = 0", [])
        .unwrap();
    assert_eq!(ozgsync::store::search::refresh(&mut conn).unwrap(), 2);
    assert_eq!(index_instances(&conn), incremental);
}
