//! The SQLite store: opening a database (pragmas per connection, embedded
//! append-only migrations), and the reads and writes of releases and versioned
//! records. Only this module (and the query interface) writes SQL.

pub mod annotations;
pub mod read;
pub mod release;
pub mod ressort;

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
    let mut conn =
        Connection::open(path).map_err(Error::db(format!("opening {}", path.display())))?;
    configure(&conn, path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
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
    Ok(())
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
            ] {
                conn.prepare(&format!("SELECT * FROM {view}")).unwrap();
            }
        }
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
