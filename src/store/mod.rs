//! The SQLite store: opening a database (pragmas per connection, embedded
//! append-only migrations), and the reads and writes of releases and versioned
//! records. Only this module (and the query interface) writes SQL.

pub mod annotations;
pub mod lock;
pub mod query;
pub mod read;
pub mod release;
pub mod ressort;
pub mod runs;
pub mod search;
pub mod status;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// Embedded migrations, in order. Append only: never edit or reorder a shipped one.
/// `PRAGMA user_version` holds the number of migrations applied.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_core", include_str!("../../schema/0001_core.sql")),
    (
        "0002_coordination",
        include_str!("../../schema/0002_coordination.sql"),
    ),
    (
        "0003_catalogs",
        include_str!("../../schema/0003_catalogs.sql"),
    ),
    ("0004_runs", include_str!("../../schema/0004_runs.sql")),
    ("0005_status", include_str!("../../schema/0005_status.sql")),
    (
        "0006_status_storage",
        include_str!("../../schema/0006_status_storage.sql"),
    ),
    (
        "0007_status_tuning",
        include_str!("../../schema/0007_status_tuning.sql"),
    ),
    (
        "0013_folded_search_and_planned_renames",
        include_str!("../../schema/0013_folded_search_and_planned_renames.sql"),
    ),
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// How long a connection waits for another writer before failing with "busy".
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens (creating if needed) the database read-write and migrates it to the newest
/// schema. A database from a newer ozgsync is refused.
pub fn open(path: &Path) -> Result<Connection> {
    restrict_permissions(path)?;
    let mut conn =
        Connection::open(path).map_err(Error::db(format!("opening {}", path.display())))?;
    configure(&conn, path)?;
    migrate(&mut conn, path)?;
    // A Ressort rename planned for a date that has come takes effect now, before
    // anything reads the Ressorts' current names.
    ressort::apply_due(&mut conn, crate::status::today())?;
    Ok(conn)
}

/// The database is internal data (payloads, rejects, coordinators' notes), so it
/// is never world-readable: a new file is created with mode 0600 before SQLite opens
/// it, and an existing one loses any "other" permission bits (group bits are the
/// administrator's choice and stay). SQLite creates `-wal` and `-shm` with the main
/// file's mode, so they follow.
fn restrict_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        // Let SQLite report a missing directory or a read-only disk in its words.
        Err(_) => return Ok(()),
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = meta.permissions().mode();
    if meta.is_file() && mode & 0o007 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o007))
            .map_err(Error::io("restricting permissions of", path))?;
        tracing::warn!(
            path = %path.display(),
            "database was world-accessible; removed the permissions for others"
        );
    }
    Ok(())
}

/// Opens an existing database read-only (for queries and exports). Refuses a
/// database that is missing or not at this build's schema version.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "database {} does not exist; run `ozgsync sync` or `ozgsync import` first, or pass --db",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(Error::db(format!("opening {} read-only", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(Error::db("setting busy timeout"))?;
    register_functions(&conn)?;
    let version = user_version(&conn)?;
    check_version(version, path)?;
    if version < schema_version() {
        return Err(Error::Invalid(format!(
            "database {} has schema version {version}, this ozgsync expects {}; open it once read-write (e.g. `ozgsync releases`) to migrate it",
            path.display(),
            schema_version()
        )));
    }
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(Error::db("setting busy timeout"))?;
    // WAL lets readers (query, export) see a consistent snapshot while a sync writes;
    // FULL makes a committed release survive power loss, at one fsync per release.
    // A 32 MiB page cache keeps a large release's dirty pages in memory instead of
    // spilling them to the WAL repeatedly; pages are allocated only when used.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -32768;",
    )
    .map_err(Error::db(format!("configuring {}", path.display())))?;
    register_functions(conn)
}

/// SQL functions ozgsync's own SQL uses: `fold(text)` is [`crate::model::fold`], the
/// one folding of names (the search index is built with it).
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text: Option<String> = ctx.get(0)?;
            Ok(text.map(|t| crate::model::fold(&t)))
        },
    )
    .map_err(Error::db("registering SQL function fold"))
}

fn user_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::db("reading PRAGMA user_version"))
}

fn check_version(found: i64, path: &Path) -> Result<()> {
    if found > schema_version() {
        return Err(Error::NewerSchema {
            path: path.display().to_string(),
            found,
            supported: schema_version(),
        });
    }
    Ok(())
}

/// Applies every migration the database has not seen, each in its own transaction.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    migrate_to(conn, path, schema_version())
}

/// Migrates up to `target` migrations (tests use this to build older databases).
pub fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    let found = user_version(conn)?;
    check_version(found, path)?;
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().take(target as usize) {
        let version = index as i64 + 1;
        if version <= found {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(Error::db(format!("starting migration {name}")))?;
        tx.execute_batch(sql)
            .map_err(Error::db(format!("applying migration {name}")))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(Error::db(format!("recording migration {name}")))?;
        tx.commit()
            .map_err(Error::db(format!("committing migration {name}")))?;
        tracing::info!(migration = name, "database migrated");
    }
    Ok(())
}

/// The current UTC time as stored (RFC 3339, seconds, `Z`).
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_and_every_earlier_version() {
        for start in 0..=schema_version() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.db");
            let mut conn = Connection::open(&path).unwrap();
            migrate_to(&mut conn, &path, start).unwrap();
            assert_eq!(user_version(&conn).unwrap(), start);
            drop(conn);
            let conn = open(&path).unwrap();
            assert_eq!(user_version(&conn).unwrap(), schema_version());
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
            // the query contract's views exist and run
            for view in [
                "v_services",
                "v_municipalities",
                "v_releases",
                "v_efa_services",
                "v_efa_leika",
                "v_ozg_leistungen",
                "v_leika_ozg",
                "v_annotations",
                "v_ressorts",
                "v_status_current",
                "v_status_history",
                "v_ministry_progress",
                "v_municipality_coverage",
                "v_availability",
                "v_reconciliation",
            ] {
                conn.prepare(&format!("SELECT * FROM {view}")).unwrap();
            }
        }
    }

    #[test]
    fn status_events_checks_refuse_what_is_not_vocabulary() {
        // 0007 rewrote the CHECKs as OR chains; they must refuse the same values.
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
             VALUES ('test', '2026-01-01T00:00:00Z', 'test', 10)",
        )
        .unwrap();
        let insert = |id: i64, subject_kind: &str, scope_kind: &str, status: &str| {
            conn.execute(
                "INSERT INTO status_events (subject_kind, subject, scope_kind, scope,
                     effective_on, event_id, status, batch_id)
                 VALUES (?1, '99000000000001', ?2, '031010000000', '2025-01-01', ?3, ?4, 1)",
                rusqlite::params![subject_kind, scope_kind, id, status],
            )
        };
        for (id, status) in (1..).zip(crate::status::Status::ALL) {
            insert(id, "leika", "ars", status.as_str()).unwrap();
        }
        for (subject_kind, scope_kind, status) in [
            ("leika", "ars", "live"),
            ("leika", "ars", "Produktiv"),
            ("ozg", "ars", "produktiv"),
            ("leika", "kreis", "produktiv"),
        ] {
            let err = insert(9, subject_kind, scope_kind, status).unwrap_err();
            assert!(
                err.to_string().contains("CHECK constraint failed"),
                "{subject_kind} {scope_kind} {status}: {err}"
            );
        }
    }

    #[test]
    fn database_and_its_wal_are_never_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path).unwrap();
        conn.execute_batch("CREATE TABLE x(a); INSERT INTO x VALUES (1);")
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
        assert_eq!(mode(&path.with_extension("db-shm")), 0o600);
        drop(conn);
        // An existing world-readable database loses the "other" bits only.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        open(&path).unwrap();
        assert_eq!(mode(&path), 0o660);
    }

    #[test]
    fn refuses_a_database_from_a_newer_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        open(&path)
            .unwrap()
            .pragma_update(None, "user_version", schema_version() + 1)
            .unwrap();
        let err = open(&path).unwrap_err();
        assert!(matches!(err, Error::NewerSchema { .. }), "{err}");
        assert!(err.to_string().contains("upgrade ozgsync"), "{err}");
    }
}
