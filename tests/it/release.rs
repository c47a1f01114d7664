//! Release semantics of the store, driven with hand-made parser output: full
//! releases retire by absence, incremental ones only upsert, identical records are
//! unchanged, duplicates are rejected, and a payload error rolls everything back.

use std::io::Write;

use ozgsync::fetch::{Payload, Validators};
use ozgsync::model::{Entity, ServiceRecord};
use ozgsync::parse::{Change, Item, Items, ParseError, Reject};
use ozgsync::store::{self, read, release};
use release::{Mode, ReleaseMeta, ReleaseStatus};

use super::support::database;

fn service(key: &str, name: &str) -> ServiceRecord {
    ServiceRecord {
        leistungsschluessel: key.into(),
        bezeichnung: name.into(),
        leistungstyp: ozgsync::model::leistungstyp_of(key).into(),
        typisierung: vec!["4".into()],
        ..Default::default()
    }
}

fn payload(content: &str) -> Payload {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    Payload {
        file: file.into(),
        sha256: Some(format!("{:064x}", content.len())),
        size: content.len() as u64,
        validators: Validators::default(),
        origin: "test".into(),
    }
}

fn meta(mode: Mode) -> ReleaseMeta {
    ReleaseMeta {
        source: "leika".into(),
        kind: "leika".into(),
        entity: Entity::Service,
        mode,
        location: "test".into(),
        fetched_at: store::now_utc(),
        max_retire_share: 1.0,
        check_edition: false,
    }
}

fn upserts(records: Vec<ServiceRecord>) -> Items<'static, ServiceRecord> {
    Box::new(records.into_iter().enumerate().map(|(i, r)| {
        Ok(Item::Record {
            position: format!("line {}", i + 2),
            change: Change::Upsert(r),
        })
    }))
}

fn current(conn: &rusqlite::Connection) -> Vec<(String, String, bool)> {
    let mut stmt = conn
        .prepare("SELECT leistungsschluessel, bezeichnung, retired FROM v_services ORDER BY 1")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Applies `services` as a full LeiKa release from a payload holding `content`.
fn full(
    conn: &mut rusqlite::Connection,
    content: &str,
    services: Vec<ServiceRecord>,
) -> ozgsync::Result<release::ReleaseSummary> {
    release::apply(
        conn,
        &meta(Mode::Full),
        &mut payload(content),
        upserts(services),
    )
}

const A: &str = "99001001001000";
const B: &str = "99001001002000";
const C: &str = "99001001003000";

#[test]
fn full_release_adds_changes_and_retires_and_keeps_history() {
    let (_dir, _, mut conn) = database();
    let r1 = full(
        &mut conn,
        "1",
        vec![service(A, "Alpha"), service(B, "Beta")],
    )
    .unwrap();
    assert_eq!(
        (r1.counts.added, r1.counts.changed, r1.counts.retired),
        (2, 0, 0)
    );

    let r2 = full(
        &mut conn,
        "2",
        vec![service(A, "Alpha neu"), service(C, "Gamma")],
    )
    .unwrap();
    assert_eq!(
        (
            r2.counts.added,
            r2.counts.changed,
            r2.counts.retired,
            r2.counts.unchanged
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(
        current(&conn),
        vec![
            (A.into(), "Alpha neu".into(), false),
            (B.into(), "Beta".into(), true),
            (C.into(), "Gamma".into(), false)
        ]
    );
    // history is kept: A has two versions, B keeps its closed one
    assert_eq!(read::history(&conn, Entity::Service, A).unwrap().len(), 2);
    let b = read::history(&conn, Entity::Service, B).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].valid_to, Some(r2.release_id));

    let (before, after) =
        read::states_between(&conn, Entity::Service, Some(r1.release_id), r2.release_id).unwrap();
    let d = ozgsync::diff::diff(&before, &after, &[]);
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.retired.len(), 1);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].fields[0].field, "bezeichnung");
}

#[test]
fn incremental_release_only_upserts_and_honours_explicit_retirements() {
    let (_dir, _, mut conn) = database();
    full(
        &mut conn,
        "1",
        vec![service(A, "Alpha"), service(B, "Beta")],
    )
    .unwrap();
    let items: Items<'static, ServiceRecord> = Box::new(
        vec![
            Ok(Item::Record {
                position: "record 1".into(),
                change: Change::Upsert(service(C, "Gamma")),
            }),
            Ok(Item::Record {
                position: "record 2".into(),
                change: Change::Retire { key: B.into() },
            }),
            Ok(Item::Record {
                position: "record 3".into(),
                change: Change::Retire {
                    key: "99999999999999".into(),
                },
            }),
        ]
        .into_iter(),
    );
    let r = release::apply(
        &mut conn,
        &meta(Mode::Incremental),
        &mut payload("2"),
        items,
    )
    .unwrap();
    assert_eq!((r.counts.added, r.counts.retired), (1, 1));
    let rows = current(&conn);
    assert_eq!(rows.iter().filter(|r| !r.2).count(), 2, "{rows:?}"); // A and C current
}

#[test]
fn identical_records_are_unchanged_and_duplicates_rejected() {
    let (_dir, _, mut conn) = database();
    full(&mut conn, "1", vec![service(A, "Alpha")]).unwrap();
    let r = full(
        &mut conn,
        "2",
        vec![service(A, "Alpha"), service(A, "Alpha doppelt")],
    )
    .unwrap();
    assert_eq!(
        (r.counts.unchanged, r.counts.rejected, r.counts.added),
        (1, 1, 0)
    );
    let rejects = read::rejects(&conn, r.release_id).unwrap();
    assert_eq!(rejects[0].position, "line 3");
    assert!(
        rejects[0].reason.contains("first at line 2"),
        "{}",
        rejects[0].reason
    );
    assert_eq!(read::history(&conn, Entity::Service, A).unwrap().len(), 1);
}

#[test]
fn rejects_are_stored_and_a_payload_error_rolls_back_everything() {
    let (_dir, _, mut conn) = database();
    full(&mut conn, "1", vec![service(A, "Alpha")]).unwrap();
    let snapshot = current(&conn);

    let items: Items<'static, ServiceRecord> = Box::new(
        vec![
            Ok(Item::Record {
                position: "line 2".into(),
                change: Change::Upsert(service(B, "Beta")),
            }),
            Ok(Item::Reject(Reject::reject(
                "line 3",
                Some("x".into()),
                "bad key",
            ))),
            Err(ParseError::not_format("LeiKa CSV", "line 4", "truncated")),
        ]
        .into_iter(),
    );
    let err = release::apply(&mut conn, &meta(Mode::Full), &mut payload("2"), items).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(current(&conn), snapshot);
    assert_eq!(read::releases(&conn, None).unwrap().len(), 1);
    let payloads: i64 = conn
        .query_row("SELECT count(*) FROM payloads", [], |r| r.get(0))
        .unwrap();
    assert_eq!(payloads, 1);
}

#[test]
fn unchanged_release_writes_only_its_row() {
    let (_dir, _, mut conn) = database();
    let r1 = full(&mut conn, "1", vec![service(A, "Alpha")]).unwrap();
    let state = release::source_state(&conn, "leika").unwrap();
    let r2 = release::record_unchanged(
        &mut conn,
        &meta(Mode::Full),
        &Validators::default(),
        state.last_sha256.as_deref(),
    )
    .unwrap();
    assert_eq!(r2.status, ReleaseStatus::Unchanged);
    assert!(r2.release_id > r1.release_id);
    let versions: i64 = conn
        .query_row("SELECT count(*) FROM record_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 1);
}

#[test]
fn an_empty_full_release_is_refused_instead_of_retiring_everything() {
    let (_dir, _, mut conn) = database();
    full(&mut conn, "1", vec![service(A, "Alpha")]).unwrap();
    let err = full(&mut conn, "2", vec![]).unwrap_err();
    assert!(
        matches!(err, ozgsync::Error::EmptyRelease { current: 1, .. }),
        "{err}"
    );
    assert_eq!(current(&conn), vec![(A.into(), "Alpha".into(), false)]);
    assert_eq!(read::releases(&conn, None).unwrap().len(), 1);
}

#[test]
fn a_change_in_volatile_fields_alone_makes_no_new_version() {
    use ozgsync::model::{Level, MunicipalityRecord};
    let (_dir, _, mut conn) = database();
    let gemeinde = |name: &str, stand: &str| MunicipalityRecord {
        level: Level::Gemeinde,
        ars: "032410001001".into(),
        ags: Some("03241001".into()),
        name: name.into(),
        textkennzeichen: Some("63".into()),
        kreis_ars: None,
        verband_ars: None,
        gebietsstand: stand.into(),
        sitz: None,
    };
    let meta = ReleaseMeta {
        entity: Entity::Municipality,
        ..meta(Mode::Full)
    };
    let items = |r: MunicipalityRecord| -> Items<'static, MunicipalityRecord> {
        Box::new(std::iter::once(Ok(Item::Record {
            position: "line 1".into(),
            change: Change::Upsert(r),
        })))
    };
    release::apply(
        &mut conn,
        &meta,
        &mut payload("1"),
        items(gemeinde("Hannover", "2025-11-30")),
    )
    .unwrap();
    let r = release::apply(
        &mut conn,
        &meta,
        &mut payload("2"),
        items(gemeinde("Hannover", "2025-12-31")),
    )
    .unwrap();
    assert_eq!((r.counts.unchanged, r.counts.changed), (1, 0));
    let r = release::apply(
        &mut conn,
        &meta,
        &mut payload("3"),
        items(gemeinde("Hannover, Landeshauptstadt", "2026-03-31")),
    )
    .unwrap();
    assert_eq!(r.counts.changed, 1);
    let versions = read::history(&conn, Entity::Municipality, "gemeinde:032410001001").unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1].data["gebietsstand"], "2026-03-31");
}

/// The version insert is prepared once per connection and keeps the entity and the
/// release bound between rows (`VersionWriter::new` binds them, each row only its
/// key, hash and data): releases of two entities through one connection, one after
/// the other, each write their versions under their own entity and release.
#[test]
fn each_release_writes_its_versions_under_its_own_entity_and_release() {
    use ozgsync::model::{Level, MunicipalityRecord};
    let (_dir, _, mut conn) = database();
    let gemeinde = MunicipalityRecord {
        level: Level::Gemeinde,
        ars: "032410001001".into(),
        ags: Some("03241001".into()),
        name: "Hannover".into(),
        textkennzeichen: Some("63".into()),
        kreis_ars: None,
        verband_ars: None,
        gebietsstand: "2025-11-30".into(),
        sitz: None,
    };
    let r1 = full(
        &mut conn,
        "1",
        vec![service(A, "Alpha"), service(B, "Beta")],
    )
    .unwrap();
    let r2 = release::apply(
        &mut conn,
        &ReleaseMeta {
            source: "gv100ad".into(),
            entity: Entity::Municipality,
            ..meta(Mode::Full)
        },
        &mut payload("2"),
        Box::new(std::iter::once(Ok(Item::Record {
            position: "line 1".into(),
            change: Change::Upsert(gemeinde),
        }))),
    )
    .unwrap();
    let r3 = full(
        &mut conn,
        "3",
        vec![service(A, "Alpha neu"), service(B, "Beta")],
    )
    .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT entity, key, valid_from, valid_to FROM record_versions
             ORDER BY version_id",
        )
        .unwrap();
    let versions: Vec<(String, String, i64, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let service = Entity::Service.as_str().to_owned();
    let municipality = Entity::Municipality.as_str().to_owned();
    assert_eq!(
        versions,
        vec![
            (
                service.clone(),
                A.into(),
                r1.release_id,
                Some(r3.release_id)
            ),
            (service.clone(), B.into(), r1.release_id, None),
            (
                municipality,
                "gemeinde:032410001001".into(),
                r2.release_id,
                None
            ),
            (service, A.into(), r3.release_id, None),
        ]
    );
}

/// The payload is compressed on a thread of its own while the records are written
/// and stored in the release's transaction: through the binary, the stored gzip
/// data is the file byte for byte under its SHA-256, which the release row names;
/// a payload that fails stores nothing, and one stored before is not stored twice.
#[test]
fn the_payload_is_stored_compressed_with_its_release_and_only_with_it() {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let dir = super::support::scratch();
    let db = dir.path().join("ozgsync.db");
    let file = super::support::fixture("leika/leika_sample_nrw2019.csv");
    super::support::run_db(&db, &["import", "leika", file.to_str().unwrap()]).assert_ok();
    let bytes = std::fs::read(&file).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (sha, size, codec, data): (String, i64, String, Vec<u8>) = conn
        .query_row(
            "SELECT p.sha256, p.size, p.codec, p.data FROM payloads p
             JOIN releases r ON r.sha256 = p.sha256 WHERE r.release_id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(codec, "gzip");
    assert_eq!(size, bytes.len() as i64);
    assert_eq!(sha, ozgsync::fetch::hex(&Sha256::digest(&bytes)));
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&data[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert!(unpacked == bytes, "the stored payload is not the file");
    drop(conn);

    // Not the format: the release and its payload roll back together.
    let html = super::support::fixture("leika/html_error_page.csv");
    super::support::run_db(&db, &["import", "leika", html.to_str().unwrap()]).assert_code(1);
    // The same content under another name: stored once.
    let copy = dir.path().join("copy.csv");
    std::fs::copy(&file, &copy).unwrap();
    let other = dir.path().join("other.csv");
    std::fs::copy(super::support::fixture("leika/leika_release2.csv"), &other).unwrap();
    super::support::run_db(&db, &["import", "leika", other.to_str().unwrap()]).assert_ok();
    super::support::run_db(&db, &["import", "leika", copy.to_str().unwrap()]).assert_ok();
    assert_eq!(
        super::support::rows(&db, "SELECT count(*), count(DISTINCT sha256) FROM payloads"),
        ["2 2"]
    );
    assert_eq!(
        super::support::rows(
            &db,
            "SELECT count(*) FROM releases WHERE status = 'applied'"
        ),
        ["3"]
    );
    // A copied regular file is hashed beside the release (`fetch::read_file`):
    // each release row still names the SHA-256 of the file it applied.
    let sha =
        |path: &std::path::Path| ozgsync::fetch::hex(&Sha256::digest(std::fs::read(path).unwrap()));
    assert_eq!(
        super::support::rows(
            &db,
            "SELECT sha256 FROM releases WHERE status = 'applied' ORDER BY release_id"
        ),
        [sha(&file), sha(&other), sha(&copy)]
    );
}

/// The indexes of `record_versions` as the migrations made them: name and SQL.
fn version_indexes(db: &std::path::Path) -> Vec<String> {
    super::support::rows(
        db,
        "SELECT name || ': ' || sql FROM sqlite_schema
         WHERE type = 'index' AND tbl_name = 'record_versions' AND sql IS NOT NULL
         ORDER BY name",
    )
}

/// The first release into an empty version table builds the table's indexes after
/// its rows (`release::DeferredIndexes`), in its own transaction: afterwards they
/// are exactly the migrations' indexes and enforce what they did; a first release
/// that fails leaves them in place.
#[test]
fn a_first_release_builds_the_version_indexes_after_its_rows_and_a_failed_one_keeps_them() {
    use super::support::{fixture, rows, run_db, scratch};
    let dir = scratch();
    let pristine = dir.path().join("pristine.db");
    let expected = version_indexes(&pristine);
    // The unique key and the partial `record_versions_to` (the index by
    // `valid_from` went with schema 0024).
    assert_eq!(expected.len(), 2, "{expected:#?}");

    // A first release that fails inside its transaction, after the indexes were
    // dropped (a LeiKa header and no row: refused by the writer at the end) rolls
    // them back with everything else.
    let db = dir.path().join("ozgsync.db");
    let first = fixture("leika/leika_sample_nrw2019.csv");
    let text = std::fs::read(&first).unwrap();
    let header_end = text.iter().position(|b| *b == b'\n').unwrap() + 1;
    let header_only = dir.path().join("header.csv");
    std::fs::write(&header_only, &text[..header_end]).unwrap();
    let failed = run_db(&db, &["import", "leika", header_only.to_str().unwrap()]);
    assert!(!failed.ok(), "{failed:#?}");
    assert_eq!(rows(&db, "SELECT count(*) FROM record_versions"), ["0"]);
    assert_eq!(version_indexes(&db), expected);

    // A first release that succeeds has the same indexes, built over its rows.
    run_db(&db, &["import", "leika", first.to_str().unwrap()]).assert_ok();
    assert_eq!(version_indexes(&db), expected);
    assert_eq!(rows(&db, "PRAGMA integrity_check"), ["ok"]);
    let versions = rows(&db, "SELECT count(*) FROM record_versions")[0]
        .parse::<i64>()
        .unwrap();
    assert!(versions > 100, "{versions}");
    // The unique index holds: a second copy of a version is refused.
    let conn = ozgsync::store::open(&db).unwrap();
    let duplicate = conn.execute(
        "INSERT INTO record_versions (entity, key, valid_from, hash, data)
         SELECT entity, key, valid_from, hash, data FROM record_versions LIMIT 1",
        [],
    );
    assert!(duplicate.is_err(), "{duplicate:?}");
    drop(conn);

    // The next release reads through them: the same file is unchanged throughout,
    // the second edition closes and adds versions.
    let again = run_db(&db, &["import", "leika", first.to_str().unwrap()]);
    again.assert_ok();
    assert!(again.stdout.contains("unchanged"), "{again:#?}");
    run_db(
        &db,
        &[
            "import",
            "leika",
            fixture("leika/leika_release2.csv").to_str().unwrap(),
        ],
    )
    .assert_ok();
    assert_eq!(version_indexes(&db), expected);
    assert_eq!(rows(&db, "PRAGMA integrity_check"), ["ok"]);
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM (SELECT entity, key FROM record_versions
             WHERE valid_to IS NULL GROUP BY entity, key HAVING count(*) > 1)"
        ),
        ["0"]
    );
}

/// A database created for a release stays in rollback-journal mode after that
/// release: the release does not switch it to WAL (and so `import` does not switch
/// it back on close), a caller that writes more releases does (`sync`), and the
/// next release then runs in WAL mode.
#[test]
fn a_first_release_leaves_the_journal_mode_to_the_caller() {
    use super::support::{fixture, import};
    use ozgsync::sync::SourceKind;
    let journal = |conn: &rusqlite::Connection| -> String {
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let mut conn = store::open_release_writer(&path).unwrap();
    let first = import(
        &mut conn,
        SourceKind::Leika,
        &fixture("leika/leika_sample_nrw2019.csv"),
    )
    .unwrap();
    assert_eq!(first.status, ReleaseStatus::Applied);
    assert_eq!(journal(&conn), "delete");
    store::enter_wal(&conn);
    assert_eq!(journal(&conn), "wal");
    let next = import(
        &mut conn,
        SourceKind::Leika,
        &fixture("leika/leika_release2.csv"),
    )
    .unwrap();
    assert_eq!(next.status, ReleaseStatus::Applied);
    assert_eq!(journal(&conn), "wal");
}

/// `records` as items of a full release, `between` done after the first is read:
/// what another program does to the file while its release reads it.
fn upserts_then(
    records: Vec<ServiceRecord>,
    between: impl FnOnce() + 'static,
) -> Items<'static, ServiceRecord> {
    let mut between = Some(between);
    Box::new(upserts(records).enumerate().map(move |(i, item)| {
        if i == 1 {
            if let Some(between) = between.take() {
                between();
            }
        }
        item
    }))
}

/// The error of a full release of `items` from `local`, which must fail.
fn refused(
    conn: &mut rusqlite::Connection,
    local: &mut Payload,
    items: Items<'static, ServiceRecord>,
) -> ozgsync::Error {
    release::apply(conn, &meta(Mode::Full), local, items).unwrap_err()
}

/// A regular local file is read where it lies, not copied: applied as it was
/// opened, the release stores its own hash; written to or renamed over while its
/// release reads it (here, between two records), or replaced before the release
/// opens it again (by another file, or a FIFO, which is not waited on), the
/// release is refused, saying so, and nothing is applied. A file that says it is
/// empty (one of /proc) is copied as before, content and all.
#[test]
fn a_local_file_changed_while_its_release_reads_it_is_refused() {
    let (dir, _, mut conn) = database();
    let path = dir.path().join("leika.csv");
    let policy = ozgsync::fetch::FetchPolicy::default();
    let local_payload = |path: &std::path::Path| ozgsync::fetch::read_file(path, &policy).unwrap();
    std::fs::write(&path, "first edition").unwrap();
    let r1 = release::apply(
        &mut conn,
        &meta(Mode::Full),
        &mut local_payload(&path),
        upserts(vec![service(A, "Alpha")]),
    )
    .unwrap();
    assert_eq!(r1.status, ReleaseStatus::Applied);
    let stored: String = conn
        .query_row("SELECT sha256 FROM releases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, ozgsync::fetch::hash_file(&path, &policy).unwrap());
    let snapshot = current(&conn);

    std::fs::write(&path, "second edition").unwrap();
    let mut local = local_payload(&path);
    let writer = path.clone();
    let items = upserts_then(vec![service(A, "Alpha 2"), service(B, "Beta")], move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&writer)
            .unwrap();
        file.write_all(b", and more").unwrap();
    });
    let err = refused(&mut conn, &mut local, items);
    assert!(
        matches!(err, ozgsync::Error::PayloadChanged { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("leika.csv: the file changed while it was read (14 bytes when it was opened, 24 now); nothing was applied"),
        "{message}"
    );
    assert_eq!(current(&conn), snapshot);
    assert_eq!(read::releases(&conn, None).unwrap().len(), 1);

    // Renamed over between two records: the file read is whole, but no longer
    // the one at its path; its status time moved (a link count's change).
    let mut local = local_payload(&path);
    let (replacement, target) = (dir.path().join("next.csv"), path.clone());
    std::fs::write(&replacement, "an edition put in its place").unwrap();
    let items = upserts_then(vec![service(A, "Alpha 3"), service(B, "Beta")], move || {
        std::fs::rename(&replacement, &target).unwrap();
    });
    let err = refused(&mut conn, &mut local, items);
    assert!(
        err.to_string()
            .contains("(written to, replaced or removed since it was opened); nothing was applied"),
        "{err}"
    );
    assert_eq!(current(&conn), snapshot);

    // Replaced before the release opens it again: by another file, then by a
    // FIFO, which is refused at once, not waited on for a writer.
    let replaced = "the path names another file than when the import began";
    let mut local = local_payload(&path);
    let new = dir.path().join("new.csv");
    std::fs::write(&new, "third edition").unwrap();
    std::fs::rename(&new, &path).unwrap();
    let err = refused(&mut conn, &mut local, upserts(vec![service(C, "Gamma")]));
    assert!(err.to_string().contains(replaced), "{err}");
    assert_eq!(current(&conn), snapshot);
    assert_eq!(read::releases(&conn, None).unwrap().len(), 1);

    let mut local = local_payload(&path);
    std::fs::remove_file(&path).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap()
        .success());
    let err = refused(&mut conn, &mut local, upserts(vec![service(C, "Gamma")]));
    assert!(err.to_string().contains(replaced), "{err}");
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "third edition").unwrap();

    let proc = local_payload(std::path::Path::new("/proc/self/status"));
    assert!(matches!(proc.file, ozgsync::fetch::PayloadFile::Temp(_)));
    assert!(proc.size > 0 && proc.sha256.is_some(), "{proc:?}");
    assert!(matches!(
        local_payload(&path).file,
        ozgsync::fetch::PayloadFile::Local(_)
    ));
}
