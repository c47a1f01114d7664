//! What an export may write over, and with which permissions. An export replaces
//! only what it wrote itself: never an SQLite database (recognised by its 16-byte
//! header, by the `-wal`/`-shm`/`-journal` names beside one, or as the very file
//! the export reads), never through a symbolic link, never a device, FIFO or
//! directory standing where a file should go. Files and directories get explicit
//! modes (0644/0755 unless configured), because the process umask is not a
//! publishing decision: the shipped units' `UMask=0077` would make dashboards
//! unreadable to the web server, a umask of 000 world-writable.

use crate::error::ShowPath;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::ExportError;
// Files SQLite keeps beside a database; deleting one loses committed data.
use crate::store::SQLITE_SIBLINGS;

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The path that means standard output for single-file outputs.
pub const STDOUT: &str = "-";

/// The names of standard output a Unix user also writes: links to the process's
/// descriptor 1, which an export would otherwise refuse as "a symbolic link" (and
/// tell to remove).
const STDOUT_NAMES: [&str; 3] = ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"];

/// Whether `--out` names standard output rather than a file: `-`, or one of
/// [`STDOUT_NAMES`].
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == STDOUT || STDOUT_NAMES.iter().any(|name| path.as_os_str() == *name)
}

/// Permissions of what an export writes (Unix mode bits, at most 0o777).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    pub file: u32,
    pub dir: u32,
}

impl Default for Modes {
    /// Readable by everyone (the web server), writable by the owner only.
    fn default() -> Self {
        Modes {
            file: 0o644,
            dir: 0o755,
        }
    }
}

/// Reads a mode written in octal (`0644`, `644`, `0o644`).
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if !digits.is_empty() && mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{text:?} is not a permission mode: expected octal digits up to 0777, e.g. 0644"
        )),
    }
}

/// How an export writes its output.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    pub modes: Modes,
    /// Dashboards may be published into a DIR that holds files ozgsync did not
    /// write; those files are kept as they are.
    pub allow_foreign_files: bool,
    /// A stop request (SIGTERM, SIGINT to the `export` command): checked before
    /// each file is written and before anything is published, so a stopped export
    /// leaves what was published before and no staging files.
    pub stop: Option<crate::stop::Stop>,
}

/// Identity (device, inode) of files that must never be replaced or removed: the
/// database an export reads, wherever DIR or `--out` points.
#[derive(Debug, Clone, Default)]
pub struct Protected(Vec<(u64, u64)>);

impl Protected {
    /// The files at `paths` that exist (a path that does not exist protects nothing).
    pub fn of(paths: &[PathBuf]) -> Protected {
        use std::os::unix::fs::MetadataExt;
        Protected(
            paths
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .map(|m| (m.dev(), m.ino()))
                .collect(),
        )
    }

    fn contains(&self, meta: &fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.0.contains(&(meta.dev(), meta.ino()))
    }
}

/// Why the existing entry at `path` (its metadata not following links) is a
/// database ozgsync must not touch, if it is one.
pub fn database_reason(path: &Path, meta: &fs::Metadata, protected: &Protected) -> Option<String> {
    if protected.contains(meta) {
        return Some("the database this export reads".into());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned())?;
    if let Some(suffix) = SQLITE_SIBLINGS.iter().find(|s| name.ends_with(**s)) {
        return Some(format!("a file SQLite keeps beside a database ({suffix})"));
    }
    if meta.is_file() {
        let mut head = [0u8; 16];
        let read = fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
        if read.is_ok() && &head == SQLITE_HEADER {
            return Some("an SQLite database".into());
        }
    }
    None
}

/// Checks that a single output file may be (re)placed at `path` by `bytes`:
/// absent, or a regular file that is not a database and starts like `bytes` (see
/// [`written_here_before`]). Never follows a symbolic link.
pub fn check_replaceable(
    path: &Path,
    protected: &Protected,
    bytes: &[u8],
) -> Result<(), ExportError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match crate::store::sibling_of_existing(path) {
                Some((suffix, stem)) => Err(ExportError::invalid(format!(
                    "{} is where SQLite keeps the {suffix} file of {}; a file written there \
                     breaks that database's readers: choose another path",
                    path.shown(),
                    stem.shown()
                ))),
                None => Ok(()),
            };
        }
        Err(source) => return Err(super::io_error("inspecting", path)(source)),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(path).unwrap_or_default();
        // `/dev/stderr`, `/proc/self/fd/2`: the system's links, not the user's to
        // remove.
        let system = path.starts_with("/dev") || path.starts_with("/proc");
        let way_out = if system {
            "give a file path, or `-` for standard output"
        } else {
            "give the real path, or remove the link"
        };
        return Err(ExportError::invalid(format!(
            "{} is a symbolic link (to {}); ozgsync does not write through links: {way_out}",
            path.shown(),
            target.shown()
        )));
    }
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(ExportError::invalid(format!(
            "{} is {what}; ozgsync writes only regular files: choose a file path \
             (or `-` for standard output)",
            path.shown()
        )));
    }
    if let Some(reason) = database_reason(path, &meta, protected) {
        return Err(ExportError::invalid(format!(
            "{} is {reason}; ozgsync never writes over a database: choose another path",
            path.shown()
        )));
    }
    if !written_here_before(path, bytes) {
        return Err(ExportError::invalid(format!(
            "{} exists and does not start like the file this command writes, so ozgsync did not \
             write it (an export replaces only its own earlier output: `--out /etc/passwd` as root \
             must not replace the system's file): choose another path, or remove the file first",
            path.shown()
        )));
    }
    Ok(())
}

/// Whether the regular file at `path` is empty or starts like `new` does: the
/// earlier output of the same command (a report, a template) is replaced, a file
/// of another kind (a configuration, a source CSV, `/etc/passwd`) is not. Compared
/// are the 4 bytes of a ZIP header for a workbook (the bytes after it change with
/// every write), else the first line up to 16 bytes (a CSV header, `{`,
/// `<!DOCTYPE html>`, `# Onlinedienste-`), which no Land or date changes.
fn written_here_before(path: &Path, new: &[u8]) -> bool {
    const ZIP: &[u8] = b"PK\x03\x04";
    let len = if new.starts_with(ZIP) {
        ZIP.len()
    } else {
        let line = new.iter().position(|b| *b == b'\n').unwrap_or(new.len());
        line.min(16)
    };
    let mut head = Vec::with_capacity(len);
    let Ok(file) = fs::File::open(path) else {
        // Unreadable here: the replace itself reports what is wrong.
        return true;
    };
    if file.take(len as u64 + 1).read_to_end(&mut head).is_err() {
        return true;
    }
    head.is_empty() || head.get(..len) == new.get(..len)
}

/// Sets `mode` on a file or directory ozgsync just created (not masked by umask).
pub fn set_mode(path: &Path, mode: u32) -> Result<(), ExportError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(super::io_error("setting the permissions of", path))
}

/// [`create_dirs`] for the folder an output goes into (`--out`'s folder, or the
/// parent of a directory `--out` names): the folders it creates are said on stderr
/// (`info`, so not with `--quiet`), since a mistyped path would otherwise grow a
/// new tree without a word.
pub fn create_out_dirs(dir: &Path, mode: u32) -> Result<(), ExportError> {
    let mut top = None;
    let mut current = Some(dir);
    while let Some(d) = current.filter(|d| !d.as_os_str().is_empty()) {
        // Only a folder that is surely missing (not one this user cannot look into).
        if !fs::symlink_metadata(d).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            break;
        }
        top = Some(d);
        current = d.parent();
    }
    create_dirs(dir, mode)?;
    if let Some(top) = top {
        tracing::info!(
            folder = %dir.shown(),
            from = %top.shown(),
            "created missing folders for the output"
        );
    }
    Ok(())
}

/// Creates the missing directories of `dir` with `mode`; existing ones are left
/// as they are (they are not ozgsync's to change).
pub fn create_dirs(dir: &Path, mode: u32) -> Result<(), ExportError> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(d) = current.filter(|d| !d.as_os_str().is_empty()) {
        if fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d);
        current = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => set_mode(d, mode)?,
            // Another export created it meanwhile: not ours to change.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(super::io_error("creating", d)(source)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        for bad in ["", "0o", "0999", "rw-r--r--", "01000", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn databases_are_recognised_by_header_name_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, bytes: &[u8], protect: &[PathBuf]| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            let meta = fs::symlink_metadata(&path).unwrap();
            database_reason(&path, &meta, &Protected::of(protect)).is_some()
        };
        assert!(check("backup.bin", b"SQLite format 3\0rest of page", &[]));
        assert!(check("x.db-wal", b"", &[]));
        assert!(check("x.db-journal", b"", &[]));
        assert!(!check("index.json", b"{}", &[]));
        assert!(!check("short", b"SQLite", &[]));
        let empty_db = dir.path().join("new.db");
        assert!(check("new.db", b"", &[empty_db]));
    }
}
