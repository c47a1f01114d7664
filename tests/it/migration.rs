//! Migrating a database made by an earlier ozgsync (`fixtures/migration/`, schema
//! 12 and schema 15, each written through the real binary of that version) changes
//! nothing a reader sees: every `v_*` view, the history of services and
//! municipalities, `diff` and `search` answer as before, and the search index,
//! rebuilt by migrations 0014 and 0016, follows the next release.

use std::path::Path;

use super::support::*;

/// Every row of every `v_*` view, as text, view by view. `v_releases` only up to
/// `max_release` (the release that triggers the migration adds its own row).
fn views(db: &Path, max_release: i64) -> Vec<(String, Vec<String>)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'view' AND name LIKE 'v\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    names
        .into_iter()
        .map(|name| {
            let filter = if name == "v_releases" {
                format!(" WHERE release_id <= {max_release}")
            } else {
                String::new()
            };
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {name}{filter}"))
                .unwrap();
            let columns = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    (0..columns)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                                rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                rusqlite::types::ValueRef::Text(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                                rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|cells| cells.join("\t"))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows.sort();
            (name, rows)
        })
        .collect()
}

/// The JSON answer of a reading command, as recorded from the earlier ozgsync
/// (`fixtures/migration/EXPECTED/NAME.json`).
fn expected(dir: &str, name: &str) -> serde_json::Value {
    let path = fixture(&format!("migration/{dir}/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[track_caller]
fn answers_as_before(db: &Path, dir: &str, name: &str, args: &[&str]) {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    let run = run_db(db, &args);
    run.assert_ok();
    let got: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", run.stdout));
    assert_eq!(
        got,
        expected(dir, name),
        "{args:?} answers otherwise than before the migration"
    );
}

#[test]
fn a_schema_12_database_migrates_in_place_and_answers_as_before() {
    migrates_in_place_and_answers_as_before("schema12.db", "expected");
}

/// The database of the release before schema 16 (made from the same fixtures with
/// the same commands, see `fixtures/migration/README.md`), against the answers of
/// that release's binary.
#[test]
fn a_schema_15_database_migrates_in_place_and_answers_as_before() {
    migrates_in_place_and_answers_as_before("schema15.db", "expected-schema15");
}

/// The database of the release before schema 18 (made from the same fixtures with
/// the same commands), against the answers of that release's binary.
#[test]
fn a_schema_17_database_migrates_in_place_and_answers_as_before() {
    migrates_in_place_and_answers_as_before("schema17.db", "expected-schema17");
}

/// The release before 0019 (each municipal cell's date, status and previous
/// event packed in `cell`): a database of schema 18.
#[test]
fn a_schema_18_database_migrates_in_place_and_answers_as_before() {
    migrates_in_place_and_answers_as_before("schema18.db", "expected-schema18");
}

/// The release before 0020 (`status_current_rows.cell` checked against the
/// columns it packs): a database of schema 19.
#[test]
fn a_schema_19_database_migrates_in_place_and_answers_as_before() {
    migrates_in_place_and_answers_as_before("schema19.db", "expected-schema19");
}

/// `old_db` in `fixtures/migration/`, migrated by a writing command, answers as
/// `expected` (the answers of the binary that made it) says.
fn migrates_in_place_and_answers_as_before(old_db: &str, expected: &str) {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    std::fs::copy(fixture(&format!("migration/{old_db}")), &db).unwrap();
    let page_size = rows(&db, "PRAGMA page_size");
    let before = views(&db, 10);
    assert!(before
        .iter()
        .any(|(n, rows)| n == "v_services" && rows.len() > 600));

    // A writing command migrates; the payload is the last one applied of its
    // source (the OZG-Leistungen, which no view dates by their last release), so
    // the release is `unchanged` and adds nothing but its row.
    let run = run_db(
        &db,
        &[
            "import",
            "ozg",
            fixture("ozg/ozg_leistungen_nrw2019.csv").to_str().unwrap(),
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("unchanged"), "{run:#?}");
    assert_eq!(
        rows(&db, "PRAGMA user_version"),
        [ozgsync::store::schema_version().to_string()]
    );
    // A database keeps the page size it was made with; only new ones get
    // `NEW_DATABASE_PAGE_SIZE` (schema17.db is one of those, made by a release
    // that had it).
    assert_eq!(rows(&db, "PRAGMA page_size"), page_size);
    // The json_valid CHECK is gone, the search index keeps no copy of its text.
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%json_valid%'"
        ),
        ["0"]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'search_fts_content'"
        ),
        ["0"]
    );
    // The search index is keyed by version id (0016): no registration table.
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'search_docs'"
        ),
        ["0"]
    );
    assert_eq!(rows(&db, "SELECT count(*) FROM record_versions"), ["3248"]);
    // The dashboards' scope-first index (0017) holds every municipal current cell
    // and nothing else, and agrees with its table.
    let municipal = rows(
        &db,
        "SELECT count(*) FROM status_current_rows NOT INDEXED WHERE scope_id > 0",
    );
    assert_ne!(municipal, ["0"]);
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM status_current_rows INDEXED BY status_current_by_scope
             WHERE scope_id > 0"
        ),
        municipal
    );
    // Each current cell's previous event (0018) is its second-latest event.
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM status_current_rows c
              WHERE c.prev_event IS NOT (
                        SELECT e.effective_on * 16 + e.status FROM status_event_rows e
                         WHERE e.subject_id = c.subject_id AND e.scope_id = c.scope_id
                         ORDER BY e.effective_on DESC, e.event_id DESC LIMIT 1 OFFSET 1)"
        ),
        ["0"]
    );
    // Each current cell's `cell` (0019) packs its date, status and previous event.
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM status_current_rows
              WHERE cell IS NOT (((effective_on * 16 + status) << 31) | coalesce(prev_event, 0))"
        ),
        ["0"]
    );
    // ... and cannot be written otherwise (0020): a status set without it is refused.
    let refused = rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE status_current_rows SET status = 1 + status % 8", [])
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("CHECK constraint failed: cell must be"),
        "{refused}"
    );
    assert_eq!(rows(&db, "PRAGMA integrity_check"), ["ok"]);

    let after = views(&db, 10);
    assert_eq!(before.len(), after.len());
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        assert_eq!(old, new, "view {name} reads otherwise after the migration");
    }

    for (name, args) in [
        ("service-99018113000000", &["service", "99018113000000"][..]),
        ("service-99012054000000", &["service", "99012054000000"]),
        ("service-99102047012000", &["service", "99102047012000"]),
        (
            "municipality-031515406001",
            &["municipality", "031515406001"],
        ),
        (
            "municipality-031515406023",
            &["municipality", "031515406023"],
        ),
        ("municipality-adenbuettel", &["municipality", "Adenbüttel"]),
        ("diff-leika", &["diff", "leika"]),
        ("diff-gv100ad", &["diff", "gv100ad"]),
        ("diff-efa", &["diff", "efa"]),
        ("diff-pvog", &["diff", "pvog"]),
        ("search-lohnsteuer", &["search", "Lohnsteuer"]),
        (
            "search-parkmoeglichkeiten",
            &["search", "Parkmöglichkeiten"],
        ),
        (
            "search-parkerleichterungen",
            &["search", "Parkerleichterungen"],
        ),
        (
            "search-pruefsachverstaendiger",
            &["search", "Prüfsachverständiger"],
        ),
        ("search-abfallentsorgung", &["search", "Abfallentsorgung"]),
        ("search-bafoeg", &["search", "BAföG"]),
    ] {
        answers_as_before(&db, expected, name, args);
    }

    // The next release changes 12 services back to their first names: the index
    // built by the migration gives up the documents it holds for them.
    let run = run_db(
        &db,
        &[
            "import",
            "leika",
            fixture("leika/leika_sample_nrw2019.csv").to_str().unwrap(),
        ],
    );
    run.assert_ok();
    for (name, args) in [
        ("after-reimport-diff-leika", &["diff", "leika"][..]),
        (
            "after-reimport-search-lohnsteuerbescheinigung",
            &["search", "Lohnsteuerbescheinigung"],
        ),
        (
            "after-reimport-search-lohnsteuerabzug",
            &["search", "Lohnsteuerabzug"],
        ),
        (
            "after-reimport-search-parkmoeglichkeiten",
            &["search", "Parkmöglichkeiten"],
        ),
        (
            "after-reimport-search-parkerleichterungen",
            &["search", "Parkerleichterungen"],
        ),
    ] {
        answers_as_before(&db, expected, name, args);
    }
    // Every release's range of created versions, filled in by 0024 from the index
    // it then dropped.
    assert_eq!(
        rows(&db, super::support::VERSIONS_OUTSIDE_THEIR_RELEASE),
        ["0"]
    );
    // FTS5's own check of the migrated index against the text of the current
    // versions (`search_content`, schema 0023, through ozgsync's `search_text`).
    let conn = ozgsync::store::open(&db).unwrap();
    conn.execute(
        "INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .unwrap();
}

/// One integer answer, read without `store::open` (which would migrate).
fn read_only(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    ozgsync::fetch::hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

/// The user's worst places for the upgrade: the binary replaced before the backup
/// was taken, and another program holding the file while a writer migrates.
/// Every reading command refuses the old database with the fix named and leaves it
/// byte for byte; `backup` copies it as it is (it refused it before, leaving only
/// the migration without a copy); a writer that meets a `sqlite3` shell's open
/// transaction says so instead of SQLite's bare "database is locked", and the file
/// stays as it was until the migration can run whole.
#[test]
fn an_unmigrated_database_is_refused_by_readers_copied_by_backup_and_migrated_whole() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    std::fs::copy(fixture("migration/schema12.db"), &db).unwrap();
    let sha = sha256(&db);
    let out = dir.path().join("out");
    for args in [
        &["releases"][..],
        &["diff", "leika"],
        &["service", "99018113000000"],
        &["municipality", "031515406001"],
        &["status"],
        &["status", "show", "99018113000000"],
        &["ressort", "list"],
        &["query", "SELECT count(*) FROM record_versions"],
        &["search", "Strasse"],
        &["export", "dashboards", "--out", out.to_str().unwrap()],
    ] {
        let run = run_db(&db, args);
        run.assert_code(1);
        assert!(
            run.stderr.contains("schema version 12")
                && run.stderr.contains("ozgsync sync")
                && run.stderr.contains("ozgsync backup"),
            "{args:?}: {run:#?}"
        );
        assert_eq!(sha256(&db), sha, "{args:?} changed the file");
    }
    assert!(!out.exists());

    let copy = dir.path().join("before-upgrade.db");
    run_db(&db, &["backup", copy.to_str().unwrap()]).assert_ok();
    assert_eq!(sha256(&db), sha);
    assert_eq!(read_only(&copy, "PRAGMA user_version"), 12);
    let versions = "SELECT count(*) FROM record_versions";
    assert_eq!(read_only(&copy, versions), read_only(&db, versions));

    // A `sqlite3` shell in a read transaction: the migration cannot start.
    let shell = rusqlite::Connection::open(&db).unwrap();
    shell
        .execute_batch("BEGIN; SELECT count(*) FROM releases;")
        .unwrap();
    let ozg = fixture("ozg/ozg_leistungen_nrw2019.csv");
    let import = ["import", "ozg", ozg.to_str().unwrap()];
    let run = run_db(&db, &import);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("locked by another program that has it open"),
        "{run:#?}"
    );
    shell.execute_batch("COMMIT").unwrap();
    drop(shell);
    assert_eq!(sha256(&db), sha, "a refused migration changed the file");
    run_db(&db, &import).assert_ok();
    assert_eq!(
        read_only(&db, "PRAGMA user_version"),
        ozgsync::store::schema_version()
    );
    run_db(&db, &["releases"]).assert_ok();
}

#[test]
fn a_new_database_gets_the_large_page_size_and_passes_the_integrity_check() {
    let dir = scratch();
    let db = leika_db(dir.path());
    assert_eq!(
        rows(&db, "PRAGMA page_size"),
        [ozgsync::store::NEW_DATABASE_PAGE_SIZE.to_string()]
    );
    assert_ne!(ozgsync::store::NEW_DATABASE_PAGE_SIZE, 4096);
    assert_eq!(rows(&db, "PRAGMA integrity_check"), ["ok"]);
    // A second writer on the same file keeps it, and the release is there.
    run_db(&db, &["search", "Führerschein"]).assert_ok();
    assert_eq!(
        rows(&db, "PRAGMA page_size"),
        [ozgsync::store::NEW_DATABASE_PAGE_SIZE.to_string()]
    );
    assert!(rows(&db, "SELECT count(*) FROM releases")[0] != "0");
}

/// The indexes (by name) of `db`, SQLite's own automatic ones left out.
fn index_names(db: &Path) -> Vec<String> {
    rows(
        db,
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
}

/// No migration since schema 19 loses an index a reader plans with (0020 rebuilt
/// `status_current_rows` and dropped `status_current_ressort` with it; 0021 makes it
/// again): a schema 19 database keeps every index it had, and a new database has
/// the same indexes as a migrated one.
#[test]
fn migrating_keeps_every_index_and_matches_a_new_database() {
    let dir = scratch();
    let migrated = dir.path().join("migrated.db");
    std::fs::copy(fixture("migration/schema19.db"), &migrated).unwrap();
    let before = index_names(&migrated);
    let fresh = dir.path().join("fresh.db");
    for db in [&migrated, &fresh] {
        run_db(
            db,
            &[
                "import",
                "ozg",
                fixture("ozg/ozg_leistungen_nrw2019.csv").to_str().unwrap(),
            ],
        )
        .assert_ok();
    }
    let after = index_names(&migrated);
    let lost: Vec<_> = before.iter().filter(|i| !after.contains(i)).collect();
    assert!(lost.is_empty(), "indexes lost by migrating: {lost:?}");
    assert!(after.contains(&"status_current_ressort".to_owned()));
    assert_eq!(index_names(&fresh), after);
    // The Ressort read plans with it rather than scanning the municipal cells.
    let plan = rows(
        &fresh,
        "EXPLAIN QUERY PLAN SELECT subject_id, status FROM status_current_rows \
         WHERE scope_id < 0 AND subject_id = 1",
    )
    .join(" ");
    assert!(plan.contains("status_current_ressort"), "{plan}");
}
