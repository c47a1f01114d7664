//! The writer lock: at most one daemon or `sync`/`import` writes a database at a
//! time. It is an `flock` on `<database>.lock` beside the database, named after the
//! database's resolved path, so two paths to one database (a symlink) take the same
//! lock. The kernel drops it when the holder exits in any way (kill -9 included), so
//! a stale lock cannot exist and no heartbeat is needed.
//!
//! The lock file is opened with `O_NOFOLLOW` and created 0600: a symlink planted at
//! its path is refused, never followed (its target would be truncated). Its content
//! (pid, command, since when) is shown to a second instance only when
//! `/proc/locks` confirms that this pid holds the lock now. A root run hands a lock
//! file it creates to the database's owner, so it never shuts out the service user;
//! a lock file another user left anyway is reported with what to do. The file is
//! never deleted: deleting a lock file while another process waits on it would let
//! two holders in.

use crate::error::ShowPath;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "database {db} is being written by another ozgsync ({holder}); \
         only one daemon or sync may write a database at a time \
         (lock file {lock}): stop the other one or wait for it"
    )]
    Held {
        db: String,
        lock: String,
        holder: String,
    },
    #[error(
        "lock file {path} is a symbolic link (or not a regular file); ozgsync never \
         follows one there, since writing the lock would overwrite the link's target. \
         Remove it (`rm {path}`) and run again"
    )]
    NotAFile { path: String },
    #[error(
        "lock file {path} belongs to uid {owner} (a run as another user, e.g. root, left \
         it) and this user (uid {me}) cannot open it: {source}. When no ozgsync is \
         running, give it to this user (`chown {me} {path}`) or remove it \
         (`rm {path}`); run ozgsync as the service user to avoid this"
    )]
    Foreign {
        path: String,
        owner: u32,
        me: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("database {}: {}", db.shown(), read_only_mount_problem(db, Some(lock)))]
    ReadOnlyMount { db: PathBuf, lock: PathBuf },
    #[error("database {}: {problem}", db.shown())]
    NoWriteAccess { db: PathBuf, problem: String },
    #[error("locking {}: {source}", path.shown())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as the value lives; dropping it (or exiting) releases the lock.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
    path: PathBuf,
}

impl WriteLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The database's path with symlinks resolved: the file itself when it exists,
/// else its resolved directory and its name (a writer is about to create it).
/// Falls back to the path as given when the directory does not exist either (the
/// open then fails with SQLite's words).
fn resolved(db: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(db) {
        return path;
    }
    let parent = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), db.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => db.to_owned(),
    }
}

/// The lock file of a database: `<database>.lock` beside the resolved database
/// file, so that systemd's `ReadWritePaths` for the data directory covers it and
/// every path to the database names the same lock.
pub fn lock_path(db: &Path) -> PathBuf {
    let db = resolved(db);
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// Takes the writer lock of `db` without waiting; `what` names the holder (e.g.
/// `daemon`, `sync`) for the message another instance shows.
pub fn acquire(db: &Path, what: &str) -> Result<WriteLock, LockError> {
    if let Some(problem) = write_access_problem(db) {
        return Err(LockError::NoWriteAccess {
            db: db.to_owned(),
            problem,
        });
    }
    let path = lock_path(db);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = open_lock_file(&path, db)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut note = String::new();
            let _ = file.read_to_string(&mut note);
            let holder = file
                .metadata()
                .ok()
                .and_then(|meta| live_holder(&meta))
                .map(|pid| describe_holder(pid, &note))
                .unwrap_or_else(|| "a process that did not say who it is".into());
            return Err(LockError::Held {
                db: db.shown().to_string(),
                lock: path.shown().to_string(),
                holder,
            });
        }
        Err(e) => return Err(io(e.into())),
    }
    let note = format!(
        "{what}, pid {}, since {}",
        std::process::id(),
        crate::store::now_utc()
    );
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(note.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(WriteLock { _file: file, path })
}

/// Opens (creating 0600 if needed) the lock file without following a symlink at
/// its path. A file this process creates as root is handed to the owner of the
/// database (or of its directory), so the service user can take the lock later.
fn open_lock_file(path: &Path, db: &Path) -> Result<File, LockError> {
    let io = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(no_follow());
    let file = match options.clone().create_new(true).open(path) {
        Ok(file) => {
            hand_over(&file, path, db).map_err(io)?;
            file
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            options.open(path).map_err(|e| refusal(path, db, e))?
        }
        Err(e) => return Err(refusal(path, db, e)),
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(LockError::NotAFile {
            path: path.shown().to_string(),
        });
    }
    Ok(file)
}

/// A new lock file created by root belongs to the database's owner (or, for a new
/// database, its directory's owner): a `sudo ozgsync sync` must not leave a lock
/// the service user cannot open.
fn hand_over(file: &File, path: &Path, db: &Path) -> std::io::Result<()> {
    if file.metadata()?.uid() != 0 {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let owner = std::fs::metadata(db).or_else(|_| std::fs::metadata(dir))?;
    if owner.uid() != 0 {
        std::os::unix::fs::fchown(file, Some(owner.uid()), Some(owner.gid()))?;
    }
    Ok(())
}

/// `O_NOFOLLOW` as `OpenOptionsExt::custom_flags` takes it.
fn no_follow() -> i32 {
    // The same bits as libc's O_NOFOLLOW (0o400000 on Linux); `open(2)` takes the
    // flags as a C int, so the reinterpretation is the kernel's own.
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Why a lock file could not be opened, with what to do.
fn refusal(path: &Path, db: &Path, e: std::io::Error) -> LockError {
    if e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error()) {
        return LockError::ReadOnlyMount {
            db: db.to_owned(),
            lock: path.to_owned(),
        };
    }
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return LockError::NotAFile {
            path: path.shown().to_string(),
        };
    }
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            let me = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
            if meta.uid() != me {
                return LockError::Foreign {
                    path: path.shown().to_string(),
                    owner: meta.uid(),
                    me,
                    source: e,
                };
            }
        }
    }
    LockError::Io {
        path: path.to_owned(),
        source: e,
    }
}

/// True when `db` (or, while it does not exist, its directory) lies on a file
/// system mounted read-only: no permission or owner change lets a command write
/// there, so the messages must not send the operator to `chown`.
pub fn on_read_only_mount(db: &Path) -> bool {
    use rustix::fs::StatVfsMountFlags;
    let probe = if db.exists() {
        db
    } else {
        match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    };
    rustix::fs::statvfs(probe).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY))
}

/// The one message (after "database PATH: ") for a writing command on a database whose file system is
/// mounted read-only (a snapshot, a backup volume, a container's read-only
/// layer): the cause and the two ways out, copying the database somewhere writable
/// or staying with the commands that only read.
pub fn read_only_mount_problem(db: &Path, lock: Option<&PathBuf>) -> String {
    let failed = lock.map_or_else(String::new, |lock| {
        format!(
            " (creating or opening its lock file {} failed)",
            lock.shown()
        )
    });
    if !db.exists() {
        return format!(
            "does not exist and cannot be created: its directory is on a read-only file system{failed}. \
             Point --db (or OZGSYNC_DB, or the config's `database`) at a writable place, or remount the file system read-write"
        );
    }
    let name = db
        .file_name()
        .map_or_else(|| "ozgsync.db".into(), |n| n.to_string_lossy());
    format!(
        "is on a read-only file system{failed}, so no command can write it there. \
         To change it, copy it to a writable place and point --db at the copy \
         (`cp {db} /var/tmp/{name}` and `ozgsync --db /var/tmp/{name} …`), or remount the file system read-write; \
         commands that only read (search, query, service, municipality, status show, export, backup) work on it where it is",
        db = db.shown(),
    )
}

/// Why this user cannot write `db`, with the ways out (after "database PATH: "):
/// a writer needs the file writable and its folder too (the lock file, SQLite's
/// journal and a new database are created there). None when it can, and when the
/// check cannot tell (a read-only mount): the open then reports it. A missing
/// folder is named too (SQLite would say "unable to open database file"). Root passes (`access(2)` grants it everything but a read-only mount).
pub fn write_access_problem(db: &Path) -> Option<String> {
    use rustix::fs::{access, Access};
    let denied = |path: &Path, how| access(path, how) == Err(rustix::io::Errno::ACCESS);
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let exists = std::fs::metadata(db).is_ok();
    if !exists && std::fs::metadata(dir).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Some(format!(
            "does not exist, and neither does its folder {}: create the folder (`mkdir -p {}`) \
             or point --db (or OZGSYNC_DB, or the config's `database`) at an existing one",
            dir.shown(),
            dir.shown()
        ));
    }
    let file_denied = exists && denied(db, Access::WRITE_OK);
    let dir_denied = denied(dir, Access::WRITE_OK | Access::EXEC_OK);
    if !(file_denied || dir_denied) || on_read_only_mount(db) {
        return None;
    }
    let me = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    let owner_of = |path: &Path| std::fs::metadata(path).map_or(u32::MAX, |m| m.uid());
    if !exists {
        return Some(format!(
            "does not exist and cannot be created: this user ({}) may not write in its folder {}. \
             Point --db (or OZGSYNC_DB, or the config's `database`) at a place this user can write, \
             or run as the folder's owner ({})",
            user_name(me),
            dir.shown(),
            user_name(owner_of(dir)),
        ));
    }
    let why = if file_denied {
        "the file is not writable for this user".to_owned()
    } else {
        format!(
            "its folder {} is not writable for this user (a writer creates its lock and journal files there)",
            dir.shown()
        )
    };
    let name = db
        .file_name()
        .map_or_else(|| "ozgsync.db".into(), |n| n.to_string_lossy());
    let owner = owner_of(db);
    let sudo_user = passwd_name(owner).unwrap_or_else(|| format!("#{owner}"));
    Some(format!(
        "cannot be written by this user ({me}): {why}. Run commands that write as the database's owner \
         ({owner}: `sudo -u {sudo_user} ozgsync …`), or copy it to a place this user can write \
         (`ozgsync --db {db} backup /var/tmp/{name}`) and point --db at the copy; commands that only read \
         (search, query, service, municipality, status show, export, backup) work on it where it is",
        me = user_name(me),
        owner = user_name(owner),
        db = db.shown(),
    ))
}

/// A user as a message names it: `ozgsync, uid 998`, or `uid 998` without an
/// entry in /etc/passwd.
fn user_name(uid: u32) -> String {
    match passwd_name(uid) {
        Some(name) => format!("{name}, uid {uid}"),
        None => format!("uid {uid}"),
    }
}

/// The name of `uid` in /etc/passwd.
fn passwd_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// Who holds the writer lock of `db` now, for messages of commands that do not
/// take it (`annotations import`, `status import`, ...) and meet a busy database.
/// None when nobody holds it, or when it cannot be told.
pub fn holder(db: &Path) -> Option<String> {
    let path = lock_path(db);
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow())
        .open(path)
        .ok()?;
    let pid = live_holder(&file.metadata().ok()?)?;
    let mut note = String::new();
    let _ = file.read_to_string(&mut note);
    Some(describe_holder(pid, &note))
}

/// The lock file's note when it was written by `pid` (the holder now), else only
/// the pid: a note left by an earlier holder must not name the wrong process.
fn describe_holder(pid: u32, note: &str) -> String {
    let note = note.trim();
    if note_pid(note) == Some(pid) {
        note.to_owned()
    } else {
        format!("pid {pid}")
    }
}

/// The pid in a note written by [`acquire`] (`sync, pid 42, since ...`).
fn note_pid(note: &str) -> Option<u32> {
    let rest = note.split(", pid ").nth(1)?;
    rest.split(',').next()?.trim().parse().ok()
}

/// The pid that holds an `flock` on the file with metadata `meta` now, from the
/// kernel's `/proc/locks`; None when nobody does or it cannot be read.
fn live_holder(meta: &std::fs::Metadata) -> Option<u32> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let (major, minor) = major_minor(meta.dev());
    flock_holder(&locks, major, minor, meta.ino())
}

/// Whether another process holds a POSIX (`fcntl`) lock on the file at `path`, as
/// SQLite does on a WAL database's `-shm` for as long as it has the WAL open.
/// Some(false) for a missing file; None when `/proc/locks` cannot be read.
pub fn used_by_other_processes(path: &Path) -> Option<bool> {
    let me = std::process::id();
    posix_locked_by(path, |pid| pid != me)
}

/// Whether any process, this one included, holds a POSIX (`fcntl`) lock on the
/// file at `path`: a connection with a transaction open on a database, or with
/// the WAL open (`-shm`). Some(false) for a missing file; None when
/// `/proc/locks` cannot be read.
pub fn used_by_any_process(path: &Path) -> Option<bool> {
    posix_locked_by(path, |_| true)
}

/// Whether a process that `counts` holds a POSIX or open-file-description lock on
/// the file at `path`, from the kernel's `/proc/locks`.
fn posix_locked_by(path: &Path, counts: impl Fn(u32) -> bool) -> Option<bool> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(false),
        Err(_) => return None,
    };
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let (major, minor) = major_minor(meta.dev());
    let mut holders = holders(&locks, &["POSIX", "OFDLCK"], major, minor, meta.ino());
    Some(holders.any(counts))
}

/// Major and minor number of a device as `/proc/locks` shows them.
fn major_minor(dev: u64) -> (u64, u64) {
    (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    )
}

/// Finds the holder of an `flock` on device `major:minor`, inode `ino` in the text
/// of `/proc/locks` (`1: FLOCK  ADVISORY  WRITE 4711 08:01:1234 0 EOF`; lines of
/// waiting processes carry `->` and are skipped).
fn flock_holder(locks: &str, major: u64, minor: u64, ino: u64) -> Option<u32> {
    holders(locks, &["FLOCK"], major, minor, ino).next()
}

/// The pids holding (not waiting for) a lock of one of `kinds` on device
/// `major:minor`, inode `ino`, in the text of `/proc/locks`.
fn holders<'a>(
    locks: &'a str,
    kinds: &'a [&str],
    major: u64,
    minor: u64,
    ino: u64,
) -> impl Iterator<Item = u32> + 'a {
    locks.lines().filter_map(move |line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !kinds.contains(fields.get(1)?) {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut id = fields.get(5)?.split(':');
        let file_major = u64::from_str_radix(id.next()?, 16).ok()?;
        let file_minor = u64::from_str_radix(id.next()?, 16).ok()?;
        let file_ino: u64 = id.next()?.parse().ok()?;
        (file_major == major && file_minor == minor && file_ino == ino).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ozgsync.db");
        assert_eq!(
            lock_path(&db),
            std::fs::canonicalize(dir.path())
                .unwrap()
                .join("ozgsync.db.lock")
        );
        let first = acquire(&db, "daemon").unwrap();
        let err = acquire(&db, "sync").unwrap_err().to_string();
        assert!(
            err.contains(&format!("daemon, pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("only one daemon or sync"), "{err}");
        let shown = holder(&db).unwrap();
        assert!(
            shown.starts_with(&format!("daemon, pid {}, since", std::process::id())),
            "{shown}"
        );
        drop(first);
        assert_eq!(holder(&db), None);
        acquire(&db, "sync").unwrap();
    }

    #[test]
    fn reads_the_holder_from_proc_locks() {
        let locks = "1: POSIX  ADVISORY  WRITE 11 08:01:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4711 fd:01:1234 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 4712 fd:01:1234 0 EOF\n";
        assert_eq!(flock_holder(locks, 0xfd, 1, 1234), Some(4711));
        assert_eq!(flock_holder(locks, 8, 1, 77), None);
        assert_eq!(
            holders(locks, &["POSIX"], 8, 1, 77).collect::<Vec<_>>(),
            [11]
        );
        assert_eq!(flock_holder(locks, 0xfd, 1, 99), None);
    }

    #[test]
    fn a_note_is_shown_only_for_the_pid_that_holds_the_lock() {
        let note = "sync, pid 42, since 2026-01-01T00:00:00Z";
        assert_eq!(note_pid(note), Some(42));
        assert_eq!(describe_holder(42, note), note);
        assert_eq!(describe_holder(43, note), "pid 43");
        assert_eq!(describe_holder(43, "garbage"), "pid 43");
    }
}
