//! The SQLite store: opening a database, and the reads and writes of releases and
//! versioned records. Only this module (and the query interface) writes SQL.
//! There are two ways in: [`open_writer`] for commands that write (creates and
//! migrates the database, pragmas per connection, WAL while open, rollback-journal
//! mode again on close) and [`open_reader`] for commands that only read (read-only,
//! never creates or migrates, needs read permission alone).

pub mod annotations;
pub mod backup;
pub mod damage;
pub mod due;
pub mod efa_nachnutzung;
pub mod lock;
pub mod prepare;
pub mod query;
pub mod read;
pub mod release;
pub mod ressort;
pub mod runs;
pub mod search;
pub mod sheet;
mod sidecar;
pub mod statements;
pub mod status;
pub mod tempdir;
mod writeback;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result, ShowPath};

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
        "0008_exports_due",
        include_str!("../../schema/0008_exports_due.sql"),
    ),
    (
        "0009_release_kept",
        include_str!("../../schema/0009_release_kept.sql"),
    ),
    (
        "0010_land_scope",
        include_str!("../../schema/0010_land_scope.sql"),
    ),
    (
        "0011_folded_search_and_planned_renames",
        include_str!("../../schema/0011_folded_search_and_planned_renames.sql"),
    ),
    (
        "0012_efa_nachnutzung",
        include_str!("../../schema/0012_efa_nachnutzung.sql"),
    ),
    (
        "0013_status_integer_storage",
        include_str!("../../schema/0013_status_integer_storage.sql"),
    ),
    (
        "0014_lean_versions_and_search",
        include_str!("../../schema/0014_lean_versions_and_search.sql"),
    ),
    (
        "0015_status_real_dates",
        include_str!("../../schema/0015_status_real_dates.sql"),
    ),
    (
        "0016_search_by_version",
        include_str!("../../schema/0016_search_by_version.sql"),
    ),
    (
        "0017_status_current_by_scope",
        include_str!("../../schema/0017_status_current_by_scope.sql"),
    ),
    (
        "0018_status_previous_event",
        include_str!("../../schema/0018_status_previous_event.sql"),
    ),
    (
        "0019_status_current_cell",
        include_str!("../../schema/0019_status_current_cell.sql"),
    ),
    (
        "0020_status_current_cell_checked",
        include_str!("../../schema/0020_status_current_cell_checked.sql"),
    ),
    (
        "0021_status_current_ressort_again",
        include_str!("../../schema/0021_status_current_ressort_again.sql"),
    ),
    (
        "0022_views_by_subject",
        include_str!("../../schema/0022_views_by_subject.sql"),
    ),
    (
        "0023_search_sizes_from_content",
        include_str!("../../schema/0023_search_sizes_from_content.sql"),
    ),
    (
        "0024_versions_of_a_release_by_id",
        include_str!("../../schema/0024_versions_of_a_release_by_id.sql"),
    ),
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// How long a connection waits for another writer before failing with "busy".
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A database connection of a command that writes. It derefs to the
/// [`Connection`]; when it holds the writer lock and is dropped, it leaves the
/// database in rollback-journal mode if no other process has it open, so that a
/// user with read permission alone can open it afterwards (see [`open_reader`]).
#[derive(Debug)]
pub struct WriterConnection {
    conn: Connection,
    path: std::path::PathBuf,
    /// The writer lock, for writers that take it: released only after the journal
    /// mode was switched on drop (fields drop after `Drop::drop`).
    _lock: Option<lock::WriteLock>,
}

impl WriterConnection {
    /// Keeps `lock` for as long as this connection lives.
    pub fn holding(mut self, lock: lock::WriteLock) -> WriterConnection {
        self._lock = Some(lock);
        self
    }
}

impl std::ops::Deref for WriterConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriterConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for WriterConnection {
    fn drop(&mut self) {
        // A WAL database can be read only by a process that can create or write its
        // `-shm` file; a read-only reader in a directory it cannot write fails with
        // "attempt to write a readonly database". Switching to DELETE checkpoints the
        // WAL and removes `-wal` and `-shm`. It must have the database to itself:
        // SQLite refuses the switch during another connection's transaction, but not
        // beside an idle one (the daemon between jobs keeps its connection open for
        // hours), which would then find its WAL gone. So the switch is made only by
        // the holder of the writer lock, or by a writer without it (`annotations
        // import`, ...) when nobody holds it; and only when the kernel lists no
        // other process's POSIX lock on `-shm` (every connection that has the WAL
        // open holds one). Otherwise the database stays in WAL mode for the others.
        if self._lock.is_none() && lock::holder(&self.path).is_some() {
            return;
        }
        let mut shm = self.path.as_os_str().to_owned();
        shm.push("-shm");
        if lock::used_by_other_processes(std::path::Path::new(&shm)) != Some(false) {
            tracing::debug!("database open elsewhere; left in WAL mode");
            return;
        }
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        match self
            .conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| {
                r.get::<_, String>(0)
            }) {
            Ok(mode) if mode.eq_ignore_ascii_case("delete") => {}
            Ok(mode) => tracing::debug!(%mode, "database left in its journal mode"),
            Err(e) => tracing::debug!(error = %e, "database still in use; left in WAL mode"),
        }
    }
}

/// Opens the database of a command that writes data, creating it (mode 0600) if
/// it does not exist, and migrates it to the newest schema. An existing file that
/// is not an SQLite database is refused before anything touches it; a database
/// from a newer ozgsync is refused.
pub fn open_writer(path: &Path) -> Result<WriterConnection> {
    Ok(WriterConnection {
        conn: open_with(path, Opening::Writer)?,
        path: path.to_owned(),
        _lock: None,
    })
}

/// Like [`open_writer`], for a command whose writes are releases (`import`,
/// `sync`): a database this call creates is left in rollback-journal mode until
/// its first release has committed (`sync` then calls [`enter_wal`] before it
/// writes the next; `import`, whose one release it was, closes it in that mode,
/// as every writer leaves a database). It holds nothing yet a reader could want a snapshot of, and the
/// release then writes each page once: no WAL frame, no checkpoint copying it
/// again (−13 % of the writer's CPU in a cold LeiKa import, benches/HISTORY.md,
/// session 7). A kill leaves a hot journal that the next writer rolls back
/// (RELIABILITY.md). An existing database is opened in WAL mode as by
/// [`open_writer`].
pub fn open_release_writer(path: &Path) -> Result<WriterConnection> {
    Ok(WriterConnection {
        conn: open_with(path, Opening::Release)?,
        path: path.to_owned(),
        _lock: None,
    })
}

/// Like [`open_release_writer`], for `import` into a path where no database
/// existed (its payload fetched first, `sync::prefetch`), whose one release
/// follows at once: a database this call creates gets its schema in that
/// release's transaction ([`create_schema_if_pending`]), not in one of its own, so
/// a crash or a failed release leaves an empty file, never a schema without a
/// release, and the import commits once (the schema's own commit was 4 `fsync`
/// calls on the serial start, benches/HISTORY.md, session 18). Until then the
/// database is at schema version 0 ([`schema_pending`]). An existing database
/// is opened and migrated as by [`open_release_writer`].
pub fn open_new_release_writer(path: &Path) -> Result<WriterConnection> {
    Ok(WriterConnection {
        conn: open_with(path, Opening::FirstRelease)?,
        path: path.to_owned(),
        _lock: None,
    })
}

/// Like [`open_writer`], as a bare connection that leaves the journal mode as it
/// is on close: for tests and tools that hold the database beside a command.
pub fn open(path: &Path) -> Result<Connection> {
    open_with(path, Opening::Writer)
}

/// How a writer opens a database it may create.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// In WAL mode, migrated ([`open_writer`]).
    Writer,
    /// A new database in rollback-journal mode until its first release
    /// ([`open_release_writer`]).
    Release,
    /// [`Opening::Release`], and a new database's schema left to that release
    /// ([`open_new_release_writer`]).
    FirstRelease,
}

/// [`open`], [`open_release_writer`] or [`open_new_release_writer`], as `how` says.
fn open_with(path: &Path, how: Opening) -> Result<Connection> {
    check_database_file(path)?;
    if let Some(problem) = lock::write_access_problem(path) {
        return Err(Error::Database {
            path: path.to_owned(),
            problem,
        });
    }
    restrict_permissions(path)?;
    let read_only_mount = || Error::Database {
        path: path.to_owned(),
        problem: lock::read_only_mount_problem(path, None),
    };
    let mut conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(_) if lock::on_read_only_mount(path) => return Err(read_only_mount()),
        Err(e) => return Err(Error::db(format!("opening {}", path.shown()))(e)),
    };
    // SQLite opens a file it may not write read-only without a word; the first
    // pragma then fails with "attempt to write a readonly database".
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        if lock::on_read_only_mount(path) {
            return Err(read_only_mount());
        }
        return Err(Error::Database {
            path: path.to_owned(),
            problem: "cannot be written by this user (file or directory permissions); run commands that write as the database's owner (the service user). Commands that only read need read permission alone".into(),
        });
    }
    configure(&conn, path, how != Opening::Writer)?;
    // A new database's schema is created by its first release's transaction.
    if how == Opening::FirstRelease && is_new(&conn, path)? {
        return Ok(conn);
    }
    migrate(&mut conn, path)?;
    // A Ressort rename planned for a date that has come takes effect now, before
    // anything reads the Ressorts' current names.
    ressort::apply_due(&mut conn, crate::model::date::today())?;
    Ok(conn)
}

/// Refuses what is not an SQLite database (a directory, or a file SQLite does not
/// recognise) before a writer changes its permissions or a lock file is created
/// beside it. A missing file passes (a writer creates it), and so does an empty
/// one: SQLite treats it as a new database, and it is what a writer killed right
/// after creating the file leaves. The file is probed through SQLite, never with
/// an `open`/`close` of our own: closing any descriptor of a file drops every POSIX
/// lock this process holds on it, including those of an open SQLite connection.
pub fn check_database_file(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    check_is_file(path, &meta)?;
    sidecar::refuse_foreign_wal(path)?;
    if meta.len() == 0 {
        return Ok(());
    }
    let probe = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| c.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0)));
    match probe {
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            Err(not_a_database(path))
        }
        // Anything else (permissions, a busy writer) the real open reports.
        _ => Ok(()),
    }
}

/// The name suffixes of the files SQLite keeps beside a database `X`: `X-wal`,
/// `X-shm`, `X-journal`.
pub const SQLITE_SIBLINGS: &[&str] = &["-wal", "-shm", "-journal"];

/// If `path` does not exist but is named like a file SQLite keeps beside a
/// database that does (`X-journal` beside `X`): the suffix and `X`. A file ozgsync
/// writes there is one SQLite later reads as the database's own: a `-journal` is
/// taken for a hot journal, and every read-only open of `X` fails until a writer
/// removes it.
pub fn sibling_of_existing(path: &Path) -> Option<(&'static str, std::path::PathBuf)> {
    let name = path.file_name()?.to_str()?;
    let suffix = SQLITE_SIBLINGS.iter().find(|s| name.ends_with(**s))?;
    let stem = path.with_file_name(name.strip_suffix(*suffix)?);
    std::fs::symlink_metadata(&stem)
        .is_ok()
        .then_some((*suffix, stem))
}

fn check_is_file(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(Error::Database {
        path: path.to_owned(),
        problem: "is not a file; --db (or OZGSYNC_DB, or the config's `database`) must name an SQLite database file".into(),
    })
}

fn not_a_database(path: &Path) -> Error {
    Error::Database {
        path: path.to_owned(),
        problem: "is not an SQLite database; nothing was changed. Check --db (or OZGSYNC_DB, or the config's `database`)".into(),
    }
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
            path = %path.shown(),
            "database was world-accessible; removed the permissions for others"
        );
    }
    Ok(())
}

/// Opens an existing database for a command that only reads: `SQLITE_OPEN_READ_ONLY`,
/// so read permission is enough and nothing is created. Refuses a missing file
/// (never creates one), a file that is not an SQLite database, and a database
/// not at this build's schema version (a writer migrates it).
pub fn open_reader(path: &Path) -> Result<Connection> {
    let (conn, version) = open_existing_read_only(path)?;
    check_version(version, path)?;
    // An empty file (a `touch`, or a writer killed right after creating it) is no
    // database of an older ozgsync: "migrate" would mislead. Beside the writer
    // that created it (`import` creates the schema in its first release's
    // transaction, `open_new_release_writer`), it is a database not committed yet.
    if version == 0 && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        if let Some(holder) = lock::holder(path) {
            return Err(Error::Database {
                path: path.to_owned(),
                problem: format!(
                    "is being created by {holder}: its first release has not committed yet (the file is empty until then); read again when that command has finished"
                ),
            });
        }
        return Err(Error::Database {
            path: path.to_owned(),
            problem: "is an empty file (0 bytes), not a database yet; check --db (or OZGSYNC_DB, or the config's `database`), or fill it with `ozgsync sync` or `ozgsync import`".into(),
        });
    }
    if version < schema_version() {
        return Err(Error::Database {
            path: path.to_owned(),
            problem: format!(
                "has schema version {version}, this ozgsync expects {}; commands that only read do not migrate: run a writing command once (`ozgsync sync` or `ozgsync import`) to migrate it (`ozgsync backup FILE` copies it as it is first)",
                schema_version()
            ),
        });
    }
    Ok(conn)
}

/// Opens an existing database read-only at whatever schema version it has, for
/// `backup`: a copy of a database not yet migrated (the binary replaced before the
/// backup the upgrade steps ask for) or written by a newer ozgsync is exactly what
/// the user needs before a writer migrates it or an older binary is restored.
pub fn open_for_copy(path: &Path) -> Result<Connection> {
    open_existing_read_only(path).map(|(conn, _)| conn)
}

/// [`open_reader`] without the version check; also returns the version.
fn open_existing_read_only(path: &Path) -> Result<(Connection, i64)> {
    if !path.exists() {
        return Err(Error::Database {
            path: path.to_owned(),
            problem: "does not exist; commands that only read never create one. Check --db, OZGSYNC_DB or the config's `database` (`ozgsync config check` shows which is used), or create it with `ozgsync import` or `ozgsync sync`".into(),
        });
    }
    let meta = std::fs::metadata(path).map_err(Error::io("reading", path))?;
    check_is_file(path, &meta)?;
    sidecar::refuse_foreign_wal(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(Error::db(format!("opening {} read-only", path.shown())))?;
    statements::attach(&conn, path);
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(Error::db("setting busy timeout"))?;
    register_functions(&conn)?;
    let version = match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
        Ok(v) => v,
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            return Err(not_a_database(path))
        }
        Err(e) if hot_journal(path, &e) => {
            return Err(Error::Database {
                path: path.to_owned(),
                problem: format!(
                    "has the journal of a write that did not finish beside it ({db}-journal: a command that created the database was killed while it wrote its first release or its schema), and only a command that writes may roll it back ({e}). Run `ozgsync import` or `ozgsync sync` once as the database's owner: it rolls the unfinished release back first; then read again",
                    db = path.shown(),
                ),
            })
        }
        Err(e) if cannot_create_wal(path, &e) && lock::on_read_only_mount(path) => {
            return Err(Error::Database {
                path: path.to_owned(),
                problem: format!(
                    "is in WAL journal mode but has no -wal/-shm files, and SQLite cannot create them ({e}): it is on a read-only file system. Copy it to a writable place and read the copy (`cp {db} /var/tmp/` and `ozgsync --db /var/tmp/… search …`); a copy made by `ozgsync backup` (or a database left by a writer that finished) is in rollback-journal mode and opens on a read-only file system as it is",
                    db = path.shown(),
                ),
            })
        }
        Err(e) if cannot_create_wal(path, &e) => {
            return Err(Error::Database {
                path: path.to_owned(),
                problem: format!(
                    "is in WAL journal mode but has no -wal/-shm files, and this user cannot create them ({e}); run `ozgsync sync` or `ozgsync import` once as the database's owner: on exit they leave the database in rollback-journal mode, which readers open with read permission alone"
                ),
            })
        }
        Err(e) => return Err(Error::db("reading PRAGMA user_version")(e)),
    };
    Ok((conn, version))
}

/// [`open_reader`] under its earlier name, for callers written before the split.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    open_reader(path)
}

/// True when a read-only open failed because of a hot journal beside the database
/// (SQLite's `SQLITE_READONLY_ROLLBACK`): a writer in rollback-journal mode (the
/// first release of a database it created) was killed, and a read-only connection
/// may not roll it back.
fn hot_journal(path: &Path, e: &rusqlite::Error) -> bool {
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK
    ) && Path::new(&journal).exists()
}

/// True when a read-only open failed because SQLite could not create the `-wal`
/// or `-shm` of a WAL database: the state a read-only user in a directory it
/// cannot write meets.
fn cannot_create_wal(path: &Path, e: &rusqlite::Error) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    ) && !Path::new(&wal).exists()
}

/// The page size of a database ozgsync creates. SQLite's default is 4 KiB; with
/// 16 KiB pages a 100k-row LeiKa import writes a quarter of the pages (and of the
/// WAL frames and `pwrite` calls, each checksummed and copied again by the
/// checkpoint) and splits B-tree pages a quarter as often: 7 % less CPU on the
/// SQLite writer thread, the same on the next release (benches/HISTORY.md, session 6).
/// Every table and index takes at least a page: a new database holding only the
/// GV100AD release is 1.3 MB instead of 0.7 MB.
/// A page size is fixed when the first table is written, so an existing database
/// keeps the one it has (every SQLite reads any page size).
pub const NEW_DATABASE_PAGE_SIZE: i64 = 16384;

fn configure(conn: &Connection, path: &Path, for_release: bool) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(Error::db("setting busy timeout"))?;
    // Before WAL mode is entered: in WAL mode the page size cannot change.
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(Error::db(format!("reading {}", path.shown())))?;
    if pages == 0 {
        conn.pragma_update(None, "page_size", NEW_DATABASE_PAGE_SIZE)
            .map_err(Error::db(format!("configuring {}", path.shown())))?;
    }
    // WAL lets readers (query, export) see a consistent snapshot while a sync writes.
    // A database that `import` or `sync` creates is the exception until its first
    // release has committed ([`open_release_writer`], [`enter_wal`]).
    // FULL makes a committed release survive power loss, at one fsync per release.
    // A 32 MiB page cache keeps a large write's dirty pages (a status report's
    // derived tables) in memory instead of spilling them to the WAL repeatedly;
    // pages are allocated only when used. A catalogue release runs with a smaller
    // one (`release::RELEASE_CACHE_KIB`).
    let journal = if pages == 0 && for_release {
        "DELETE"
    } else {
        "WAL"
    };
    conn.query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
        r.get::<_, String>(0)
    })
    .map_err(Error::db(format!("configuring {}", path.shown())))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -32768;",
    )
    .map_err(Error::db(format!("configuring {}", path.shown())))?;

    // SQLite checkpoints the WAL every 1,000 pages by default: 4 MB with 4 KiB
    // pages, 16 MB with ours. A connection that lives long (the daemon) keeps the
    // byte size SQLite means, whatever the page size.
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(Error::db(format!("reading {}", path.shown())))?;
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        wal_autocheckpoint_pages(page_size),
    )
    .map_err(Error::db(format!("configuring {}", path.shown())))?;
    register_functions(conn)
}

/// Puts a writer connection into WAL mode if it is not: a connection that created
/// its database for a release runs in rollback-journal mode until that release has
/// committed ([`open_release_writer`]); a command that goes on writing (`sync`,
/// before its next source) then joins every other writer in WAL mode, so that
/// readers beside a later release read a snapshot instead of waiting. Not called
/// when nothing more is written: the switch, and the switch back on close
/// ([`WriterConnection`]), are a transaction each that only flips the header. Best effort: a database left in rollback-journal mode is
/// still correct, only readers wait for its writer's commits.
pub fn enter_wal(conn: &Connection) {
    let mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0));
    if matches!(&mode, Ok(m) if m.eq_ignore_ascii_case("wal")) {
        return;
    }
    match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
        Ok(mode) if mode.eq_ignore_ascii_case("wal") => {}
        Ok(mode) => tracing::debug!(%mode, "database left in its journal mode"),
        Err(e) => tracing::debug!(error = %e, "database left in rollback-journal mode"),
    }
}

/// The bytes of WAL after which a connection checkpoints: SQLite's default of
/// 1,000 pages at its default page size of 4 KiB.
const WAL_AUTOCHECKPOINT_BYTES: i64 = 1000 * 4096;

/// `wal_autocheckpoint` in pages for a database with `page_size`-byte pages.
fn wal_autocheckpoint_pages(page_size: i64) -> i64 {
    (WAL_AUTOCHECKPOINT_BYTES / page_size.max(512)).max(1)
}

/// SQL functions ozgsync's own SQL uses: `fold(text)` is [`crate::model::fold`], the
/// one folding of names; `search_text(data, 'name' | 'synonyms')` is the text
/// [`search::document`] indexes a version's JSON `data` with (migrations 0014, 0016
/// and 0023 rebuild the search index with it; the view `search_content`, where
/// `bm25` finds a document's text since 0023, gives it).
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(text_arg(ctx, 0, "fold")?.map(|t| crate::model::fold(&t))),
    )
    .map_err(Error::db("registering SQL function fold"))?;
    // The last version's document: the view `search_content` (0023) asks for a
    // version's name and then its synonyms, one call each, and `bm25` reads the view
    // for every document a search matched; the JSON is parsed once for both.
    let last: std::cell::RefCell<Option<(String, search::DocumentText)>> = Default::default();
    conn.create_scalar_function(
        "search_text",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let Some(data) = text_arg(ctx, 0, "search_text")? else {
                return Ok(None);
            };
            let which = text_arg(ctx, 1, "search_text")?.unwrap_or_default();
            let mut last = last.borrow_mut();
            let (name, synonyms) = match &*last {
                Some((seen, document)) if *seen == data => document,
                _ => {
                    let parsed: serde_json::Value = serde_json::from_str(&data).map_err(|e| {
                        rusqlite::Error::UserFunctionError(
                            format!("search_text(): the first argument is not JSON ({e})").into(),
                        )
                    })?;
                    let document = search::document(&parsed);
                    &last.insert((data, document)).1
                }
            };
            Ok(match which.as_str() {
                "name" => Some(name.clone()),
                "synonyms" => synonyms.clone(),
                other => {
                    return Err(rusqlite::Error::UserFunctionError(
                        format!("search_text: no column {other:?} (name, synonyms)").into(),
                    ))
                }
            })
        },
    )
    .map_err(Error::db("registering SQL function search_text"))
}

/// Argument `i` of SQL function `func` as text, as SQLite's own `lower()` takes
/// it: NULL stays NULL, a number is its decimal text, a BLOB holding UTF-8 is that
/// text. A BLOB or text that is not UTF-8 (`fold(x'ff')`) is an error naming the
/// function and what it takes, instead of SQLite's "Invalid function parameter
/// type" (a `query` user sees this text).
fn text_arg(
    ctx: &rusqlite::functions::Context<'_>,
    i: usize,
    func: &str,
) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    let (bytes, kind) = match ctx.get_raw(i) {
        ValueRef::Null => return Ok(None),
        ValueRef::Integer(n) => return Ok(Some(n.to_string())),
        ValueRef::Real(x) => return Ok(Some(x.to_string())),
        ValueRef::Text(t) => (t, "text"),
        ValueRef::Blob(b) => (b, "a BLOB"),
    };
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Some(text.to_owned())),
        Err(_) => Err(rusqlite::Error::UserFunctionError(
            format!(
                "{func}(): argument {} is {kind} of {} byte(s) that is not UTF-8; {func} takes UTF-8 text \
                 (a number or NULL also do)",
                i + 1,
                bytes.len()
            )
            .into(),
        )),
    }
}

/// The number of migrations applied to the database (`PRAGMA user_version`).
pub fn user_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::db("reading PRAGMA user_version"))
}

fn check_version(found: i64, path: &Path) -> Result<()> {
    if found > schema_version() {
        return Err(Error::NewerSchema {
            path: path.shown().to_string(),
            found,
            supported: schema_version(),
        });
    }
    Ok(())
}

/// Applies every migration the database has not seen, each in its own transaction
/// (all in one for a new database, see [`migrate_to`]).
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    migrate_to(conn, path, schema_version())
}

/// The migration a new database's schema snapshot stands for: `schema/snapshots/`
/// holds the schema and rows that migrations 0001 to this one leave in an empty
/// database, which a new database gets in one step (see [`migrate_to`]).
pub const SNAPSHOT_VERSION: i64 = 24;

/// The schema snapshot of [`SNAPSHOT_VERSION`]: what the test
/// `snapshot_is_what_the_migrations_make` generates from a database the
/// migrations made, and checks against both ways of making one.
const SNAPSHOT: &str = include_str!("../../schema/snapshots/0024.sql");

/// Migrates up to `target` migrations (tests use this to build older databases).
///
/// A database with migrations applied gets each pending one in its own
/// transaction, so a failing one leaves the ones before it applied. A new
/// database (no migration applied, no table) gets all of them in one: it has
/// nothing to keep half-way, and one commit instead of one per migration spares
/// the first import ~34 `fsync` calls and journal files before it starts. A new
/// database migrated to [`SNAPSHOT_VERSION`] or beyond starts from the schema
/// snapshot instead of migrations 0001 to 0024 (the same tables, views, triggers,
/// indexes and rows; SQLite parsed every migration's tables and views again and
/// again, ~25 ms of CPU time before every first import), then takes the
/// migrations after it.
pub fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    migrate_with(conn, path, target, true)
}

/// [`migrate_to`], with the schema snapshot for a new database or without it
/// (`snapshot` false: the test that compares the two ways).
fn migrate_with(conn: &mut Connection, path: &Path, target: i64, snapshot: bool) -> Result<()> {
    let found = user_version(conn)?;
    check_version(found, path)?;
    // Migrations may call ozgsync's SQL functions (0014 rebuilds the search index
    // with `search_text`), also on a connection not opened through `open`.
    register_functions(conn)?;
    let pending: Vec<(i64, &str, &str)> = MIGRATIONS
        .iter()
        .enumerate()
        .take(usize::try_from(target).unwrap_or(0))
        .map(|(index, (name, sql))| (index as i64 + 1, *name, *sql))
        .filter(|(version, _, _)| *version > found)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let fresh = found == 0 && is_new(conn, path)?;
    if fresh && snapshot && target >= SNAPSHOT_VERSION {
        return create_from_snapshot(conn, &pending);
    }
    let groups: Vec<&[(i64, &str, &str)]> = if fresh {
        vec![&pending[..]]
    } else {
        pending.chunks(1).collect()
    };
    for group in groups {
        let Some(&(last, last_name, _)) = group.last() else {
            continue;
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(Error::db(format!("starting migration {last_name}")))?;
        for &(version, name, sql) in group {
            tx.execute_batch(sql)
                .map_err(|e| migration_error(e, name, version - 1, path, fresh))?;
        }
        tx.pragma_update(None, "user_version", last)
            .map_err(Error::db(format!("recording migration {last_name}")))?;
        tx.commit()
            .map_err(Error::db(format!("committing migration {last_name}")))?;
        for &(_, name, _) in group {
            tracing::info!(migration = name, "database migrated");
        }
    }
    Ok(())
}

/// The error of migration `name` on a database at schema version `before`. An
/// SQL error (no such index, a duplicate column) on a database that had its
/// schema already means another program changed that schema (a table, column,
/// index or trigger added, altered or dropped by hand or by a tool writing to
/// the file): said so, with what to do. Other errors (busy, disk full) and a
/// new database's keep their own words.
fn migration_error(e: rusqlite::Error, name: &str, before: i64, path: &Path, fresh: bool) -> Error {
    let schema_error = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::Unknown
    );
    if fresh || !schema_error {
        return Error::db(format!("applying migration {name}"))(e);
    }
    Error::Database {
        path: path.to_owned(),
        problem: format!(
            "migration {name} failed: {e}; nothing was changed (the database stays at \
             schema version {before}). Its schema is not the one ozgsync's migrations \
             made: another program added, altered or dropped the table, column, index \
             or trigger named. Undo that change (compare with a database a fresh \
             `ozgsync import` makes) or restore a backup, then run the command again"
        ),
    }
}

/// True when the database has no schema object at all (no table, view, index or
/// trigger): a file this command created, or an empty one.
fn is_new(conn: &Connection, path: &Path) -> Result<bool> {
    conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM sqlite_schema)", [], |r| {
        r.get::<_, bool>(0)
    })
    .map_err(Error::db(format!("reading {}", path.shown())))
}

/// A new database in one transaction: the schema snapshot, then the `pending`
/// migrations after [`SNAPSHOT_VERSION`].
fn create_from_snapshot(conn: &mut Connection, pending: &[(i64, &str, &str)]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(Error::db("starting to create the database"))?;
    create_schema(&tx, pending)?;
    tx.commit()
        .map_err(Error::db("committing the schema of the new database"))
}

/// The schema snapshot and the `pending` migrations after it, in the caller's
/// transaction.
fn create_schema(tx: &Connection, pending: &[(i64, &str, &str)]) -> Result<()> {
    tx.execute_batch(SNAPSHOT).map_err(Error::db(format!(
        "creating the schema of migration {SNAPSHOT_VERSION:04} (schema/snapshots)"
    )))?;
    let mut last = SNAPSHOT_VERSION;
    for &(version, name, sql) in pending.iter().filter(|(v, _, _)| *v > SNAPSHOT_VERSION) {
        tx.execute_batch(sql)
            .map_err(Error::db(format!("applying migration {name}")))?;
        last = version;
    }
    tx.pragma_update(None, "user_version", last)
        .map_err(Error::db(
            "recording the schema version of the new database",
        ))?;
    tracing::info!(
        snapshot = SNAPSHOT_VERSION,
        schema_version = last,
        "database created"
    );
    Ok(())
}

/// True when `conn`'s database still waits for its schema: opened by
/// [`open_new_release_writer`] as a new file, before its first release. Every
/// other writer's open migrates, so only such a database is at version 0.
pub fn schema_pending(conn: &Connection) -> Result<bool> {
    Ok(user_version(conn)? == 0)
}

/// Creates the schema of a database [`open_new_release_writer`] left without one,
/// inside the caller's (the first release's) transaction `tx`; nothing for any
/// other database.
pub fn create_schema_if_pending(tx: &Connection) -> Result<()> {
    if !schema_pending(tx)? {
        return Ok(());
    }
    let pending: Vec<(i64, &str, &str)> = MIGRATIONS
        .iter()
        .enumerate()
        .map(|(index, (name, sql))| (index as i64 + 1, *name, *sql))
        .collect();
    create_schema(tx, &pending)
}

/// The current UTC time as stored (RFC 3339, seconds, `Z`).
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each embedded migration is numbered by its place in `MIGRATIONS`, its name is
    /// its file's, and its first line says that number (`-- NNNN: ...`), so a header
    /// cannot name another file (as 0004/0005 once did). Every `schema/*.sql` file is
    /// embedded.
    #[test]
    fn every_migration_header_names_its_file() {
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
            let number = format!("{:04}", index + 1);
            assert!(
                name.starts_with(&format!("{number}_")),
                "MIGRATIONS[{index}] is {name}, expected schema/{number}_*.sql"
            );
            let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("schema")
                .join(format!("{name}.sql"));
            let text =
                std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.shown()));
            assert_eq!(&text, sql, "{name} is embedded from another file");
            let first = sql.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(&format!("-- {number}: ")),
                "schema/{name}.sql: the header's first line must start with `-- {number}: `, \
                 found {first:?}"
            );
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".sql") {
                assert!(
                    MIGRATIONS.iter().any(|(name, _)| *name == stem),
                    "schema/{file} is not in store::MIGRATIONS"
                );
            }
        }
    }

    /// The first column of every row `sql` gives, as text.
    fn texts(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The text of a schema snapshot of the database `conn`: a header, each schema
    /// object's SQL in the order SQLite keeps them (a virtual table's own tables are
    /// made by the virtual table), then the rows of every ordinary table that has any.
    fn snapshot_text(conn: &Connection, version: i64) -> String {
        let mut out = format!(
            "-- Schema snapshot: an empty database as migrations 0001 to {version:04} leave \
             it,\n-- made in one step for a new database (store::migrate_to). Generated by \
             the\n-- test store::tests::snapshot_is_what_the_migrations_make from a database \
             the\n-- migrations made; not edited by hand. Later migrations run on top of it.\n"
        );
        let objects: Vec<(String, String, String)> = conn
            .prepare(
                r"SELECT type, name, sql FROM sqlite_schema s WHERE sql IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM sqlite_schema v
                                   WHERE v.sql LIKE 'CREATE VIRTUAL TABLE%'
                                     AND s.name LIKE v.name || '\_%' ESCAPE '\')
                 ORDER BY rowid",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (_, _, sql) in &objects {
            out.push_str(sql);
            out.push_str(";\n");
        }
        for (kind, name, sql) in &objects {
            if kind != "table" || sql.starts_with("CREATE VIRTUAL TABLE") {
                continue;
            }
            let mut rows: Vec<String> = texts(
                conn,
                &format!(
                    "SELECT 'INSERT INTO \"{name}\" VALUES (' || {} || ');' FROM \"{name}\"",
                    columns_quoted(conn, name)
                ),
            );
            rows.sort();
            for row in rows {
                out.push_str(&row);
                out.push('\n');
            }
        }
        out
    }

    /// `quote(a) || ', ' || quote(b) ...` over the columns of `table`.
    fn columns_quoted(conn: &Connection, table: &str) -> String {
        let columns: Vec<String> = texts(
            conn,
            &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
        );
        columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ', ' || ")
    }

    /// Everything of a database a reader or writer could tell apart: the schema
    /// objects (type, name, table, SQL), every table's rows (the virtual table's own
    /// tables too) and the schema version.
    fn database_contents(conn: &Connection) -> Vec<String> {
        let mut out: Vec<String> = texts(conn, "SELECT type || ' ' || name || ' ' || tbl_name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name");
        let tables: Vec<String> = texts(
            conn,
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage > 0 ORDER BY name",
        );
        for table in tables {
            let mut rows: Vec<String> = texts(
                conn,
                &format!(
                    "SELECT '{table}: ' || {} FROM \"{table}\"",
                    columns_quoted(conn, &table)
                ),
            );
            rows.sort();
            out.extend(rows);
        }
        out.push(format!("user_version {}", user_version(conn).unwrap()));
        out
    }

    /// A new database made from the schema snapshot is the database the migrations
    /// make (schema, rows, version), and the snapshot file is what the generator
    /// makes of the latter: a snapshot cannot drift from the migrations it stands
    /// for. On a mismatch the generated text is written next to the test's
    /// database, to be looked at and copied over `schema/snapshots/`.
    #[test]
    fn snapshot_is_what_the_migrations_make() {
        let dir = tempfile::tempdir().unwrap();
        let migrated_path = dir.path().join("migrated.db");
        let mut migrated = Connection::open(&migrated_path).unwrap();
        migrate_with(&mut migrated, &migrated_path, SNAPSHOT_VERSION, false).unwrap();
        let snapshot_path = dir.path().join("snapshot.db");
        let mut snapshot = Connection::open(&snapshot_path).unwrap();
        migrate_with(&mut snapshot, &snapshot_path, SNAPSHOT_VERSION, true).unwrap();
        let generated = snapshot_text(&migrated, SNAPSHOT_VERSION);
        if generated != SNAPSHOT {
            let keep =
                std::env::temp_dir().join(format!("ozgsync-snapshot-{SNAPSHOT_VERSION:04}.sql"));
            std::fs::write(&keep, &generated).unwrap();
            panic!(
                "schema/snapshots/{SNAPSHOT_VERSION:04}.sql is not what the migrations make; \
                 the generated text is in {}",
                keep.shown()
            );
        }
        assert_eq!(
            database_contents(&migrated),
            database_contents(&snapshot),
            "a new database from schema/snapshots/{SNAPSHOT_VERSION:04}.sql differs from one the migrations made"
        );
        // And the whole way, with the migrations after the snapshot: the same
        // database as every migration one by one from an empty file.
        let full_path = dir.path().join("full.db");
        let mut full = Connection::open(&full_path).unwrap();
        migrate_with(&mut full, &full_path, schema_version(), false).unwrap();
        let new_path = dir.path().join("new.db");
        let new = open(&new_path).unwrap();
        assert_eq!(database_contents(&full), database_contents(&new));
    }

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
    fn the_wal_checkpoints_at_the_same_byte_size_whatever_the_page_size() {
        let pragma = |conn: &Connection, name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        // A new database: 16 KiB pages, 250 of them.
        let conn = open(&dir.path().join("new.db")).unwrap();
        assert_eq!(pragma(&conn, "page_size"), 16384);
        assert_eq!(pragma(&conn, "wal_autocheckpoint"), 250);
        // A database made before the page size changed: 4 KiB, SQLite's 1,000.
        let path = dir.path().join("old.db");
        let mut old = Connection::open(&path).unwrap();
        old.pragma_update(None, "page_size", 4096).unwrap();
        migrate_to(&mut old, &path, 1).unwrap();
        drop(old);
        let conn = open(&path).unwrap();
        assert_eq!(pragma(&conn, "page_size"), 4096);
        assert_eq!(pragma(&conn, "wal_autocheckpoint"), 1000);
    }

    #[test]
    fn gemeinde_codes_in_sql_are_those_of_the_model() {
        // One list in Rust, one table in SQL: they must not drift apart.
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT textkennzeichen FROM gemeinde_textkennzeichen ORDER BY 1")
            .unwrap();
        let sql: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(sql, crate::model::GEMEINDE_TEXTKENNZEICHEN);
    }

    #[test]
    fn municipal_rule_in_sql_is_that_of_the_model() {
        // `annotations.kommunal` (0013) is the SQL side of Vollzug::is_municipal.
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        let mut values: Vec<Option<&str>> = crate::model::Vollzug::ALL
            .iter()
            .map(|v| Some(v.as_str()))
            .collect();
        values.push(None);
        for (i, vollzug) in values.into_iter().enumerate() {
            let key = format!("{:014}", 99_000_000_000_000_u64 + i as u64);
            conn.execute(
                "INSERT INTO annotations (leistungsschluessel, vollzug, updated_at, updated_by)
                 VALUES (?1, ?2, 't', 'test')",
                rusqlite::params![key, vollzug],
            )
            .unwrap();
            let kommunal: i64 = conn
                .query_row(
                    "SELECT kommunal FROM annotations WHERE leistungsschluessel = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(
                kommunal == 1,
                crate::model::Vollzug::is_municipal_code(vollzug),
                "{vollzug:?}"
            );
        }
    }

    #[test]
    fn status_codes_in_sql_are_the_ordinals_of_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT code, status FROM status_codes ORDER BY code")
            .unwrap();
        let sql: Vec<(i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let model: Vec<(i64, String)> = crate::status::Status::ALL
            .iter()
            .map(|s| (s.ordinal(), s.as_str().to_owned()))
            .collect();
        assert_eq!(sql, model);
        for (code, status) in &model {
            assert_eq!(
                crate::status::Status::from_ordinal(*code).map(|s| s.as_str()),
                Some(status.as_str())
            );
        }
        assert_eq!(crate::status::Status::from_ordinal(0), None);
        assert_eq!(crate::status::Status::from_ordinal(9), None);
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
    fn only_a_database_created_for_a_release_waits_for_it_in_rollback_journal_mode() {
        let journal = |conn: &Connection| -> String {
            conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // Created for a release: rollback journal until `enter_wal`.
        let conn = open_release_writer(&path).unwrap();
        assert_eq!(journal(&conn), "delete");
        enter_wal(&conn);
        assert_eq!(journal(&conn), "wal");
        drop(conn);
        // Existing: WAL at once, for a release too.
        let conn = open_release_writer(&path).unwrap();
        assert_eq!(journal(&conn), "wal");
        drop(conn);
        // Created by any other writer: WAL at once.
        let other = dir.path().join("other.db");
        assert_eq!(journal(&open_writer(&other).unwrap()), "wal");
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
