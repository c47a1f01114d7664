//! Atomic publishing of a file set into a directory served by a web server.
//!
//! The new set is written into a temporary directory beside DIR (same file
//! system), then swapped in with one `renameat2(RENAME_EXCHANGE)`: a reader sees
//! either the complete old set or the complete new one, never a mix, and DIR stays
//! a plain directory (no symlink the server must be told to follow). Where the
//! kernel or file system cannot exchange (ENOSYS/EINVAL, e.g. some network file
//! systems, or not Linux), we fall back to two renames (DIR → old, new → DIR) with
//! a window of a few microseconds in which DIR does not exist (a 404, never a mix).
//!
//! Files whose bytes did not change are hard-linked from the old set into the new
//! one, so they keep their inode, bytes and mtime (caches and ETags stay valid);
//! where hard links are refused, the old file is copied and its mtime set back. If
//! no file changed at all (apart from the `volatile` ones, i.e. `meta.json` with its
//! time stamp), nothing is written. Any failure before the swap removes the
//! temporary directory and leaves DIR untouched. An advisory lock beside DIR keeps
//! two exports from publishing into the same DIR at once; with it held, leftovers
//! of a crashed run are removed. New files are flushed with one `syncfs` before the
//! swap, so a power loss cannot publish empty files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ExportError;

#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Also write a deterministic `.gz` sibling of every file.
    pub gzip: bool,
    /// Files whose change alone does not count as a change of the set.
    pub volatile: Vec<String>,
    /// Test hook: fail after writing this many new files (simulates a crash mid-write).
    #[doc(hidden)]
    pub fail_after_writes: Option<usize>,
}

/// What a publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishSummary {
    /// Files written anew (including `.gz` siblings).
    pub written: usize,
    /// Files kept from the old set (hard-linked or copied with their mtime).
    pub kept: usize,
    /// Files of the old set no longer in the new one.
    pub removed: usize,
    /// True when nothing changed and DIR was not touched at all.
    pub unchanged: bool,
}

/// Publishes `files` (relative `/`-separated path → bytes) as the complete content
/// of `dir`.
pub fn publish(
    dir: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    opts: &PublishOptions,
) -> Result<PublishSummary, ExportError> {
    for path in files.keys() {
        check_relative(path)?;
    }
    let set = files;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            ExportError::Invalid(format!("{}: not a usable directory name", dir.display()))
        })?
        .to_owned();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io("creating", &parent))?;
    let _lock = DirLock::acquire(&parent.join(format!(".{name}.lock")))?;
    remove_leftovers(&parent, &name);

    let old_exists = dir.is_dir();
    let old_files: BTreeSet<String> = if old_exists {
        list_files(dir)?
    } else {
        BTreeSet::new()
    };

    // Which files differ from the old set? Gzip siblings follow their file. The
    // size decides most changed files without reading them; the rest are compared
    // byte for byte, on every core.
    let entries: Vec<(&String, &Vec<u8>)> = set.iter().collect();
    let same_flags = super::par_map(&entries, |(path, bytes)| {
        old_files.contains(*path) && same_content(&dir.join(path), bytes)
    });
    let same: BTreeSet<&str> = entries
        .iter()
        .zip(same_flags)
        .filter(|(_, same)| *same)
        .map(|((path, _), _)| path.as_str())
        .collect();
    let mut wanted: BTreeSet<String> = set.keys().cloned().collect();
    if opts.gzip {
        wanted.extend(set.keys().map(|p| format!("{p}.gz")));
    }
    let changed = set
        .keys()
        .any(|p| !same.contains(p.as_str()) && !opts.volatile.contains(p));
    if old_exists && !changed && wanted == old_files {
        return Ok(PublishSummary {
            kept: old_files.len(),
            unchanged: true,
            ..PublishSummary::default()
        });
    }

    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let guard = TempDir(Some(tmp.clone()));
    fs::create_dir(&tmp).map_err(io("creating", &tmp))?;
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for path in set.keys() {
        if let Some(p) = tmp.join(path).parent() {
            dirs.insert(p.to_path_buf());
        }
    }
    for d in &dirs {
        fs::create_dir_all(d).map_err(io("creating", d))?;
    }
    let writes = AtomicUsize::new(0);
    let write_new = |target: &Path, bytes: &[u8]| {
        let n = writes.fetch_add(1, Ordering::SeqCst);
        if opts.fail_after_writes.is_some_and(|max| n >= max) {
            return Err(ExportError::Invalid(format!(
                "simulated failure before writing {}",
                target.display()
            )));
        }
        write_file(target, bytes)
    };
    // Each file (and its gzip sibling) is kept or written on its own, on every
    // core: compressing is the expensive part of `--gzip`.
    let counts = super::par_map(&entries, |(path, bytes)| {
        let (mut written, mut kept) = (0usize, 0usize);
        let target = tmp.join(path);
        let keep = same.contains(path.as_str());
        if keep {
            keep_old(&dir.join(path), &target)?;
            kept += 1;
        } else {
            write_new(&target, bytes)?;
            written += 1;
        }
        if opts.gzip {
            let gz_rel = format!("{path}.gz");
            let gz_target = tmp.join(&gz_rel);
            if keep && old_files.contains(&gz_rel) {
                keep_old(&dir.join(&gz_rel), &gz_target)?;
                kept += 1;
            } else {
                write_new(&gz_target, &gzip(bytes)?)?;
                written += 1;
            }
        }
        Ok::<_, ExportError>((written, kept))
    });
    let mut summary = PublishSummary::default();
    for c in counts {
        let (written, kept) = c?;
        summary.written += written;
        summary.kept += kept;
    }
    summary.removed = old_files.difference(&wanted).count();
    sync_fs(&tmp);

    if old_exists {
        match exchange(&tmp, dir) {
            Ok(()) => {}
            Err(e) if exchange_unsupported(&e) => {
                let old = parent.join(format!(".{name}.old-{}", std::process::id()));
                fs::rename(dir, &old).map_err(io("moving away", dir))?;
                if let Err(e) = fs::rename(&tmp, dir) {
                    // Put the old set back rather than leave DIR missing.
                    let _ = fs::rename(&old, dir);
                    return Err(io("renaming into place", dir)(e));
                }
                let _ = fs::remove_dir_all(&old);
                guard.disarm();
                sync_dir(&parent);
                return Ok(summary);
            }
            Err(e) => return Err(io("swapping in", dir)(e)),
        }
        // After the exchange the temporary path holds the old set: the guard removes it.
    } else {
        fs::rename(&tmp, dir).map_err(io("renaming into place", dir))?;
        guard.disarm();
    }
    sync_dir(&parent);
    Ok(summary)
}

/// A relative path that stays inside DIR: normal components only, no `..`, no
/// root, no empty parts, no backslashes or NULs.
pub fn check_relative(path: &str) -> Result<(), ExportError> {
    let bad = || ExportError::Invalid(format!("unsafe file path in export set: {path:?}"));
    if path.is_empty() || path.contains('\\') || path.contains('\0') || path.starts_with('/') {
        return Err(bad());
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad());
        }
    }
    if !Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(bad());
    }
    Ok(())
}

/// Deterministic gzip: no file name, mtime 0, fixed level.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::new(6),
    );
    enc.write_all(bytes).map_err(ExportError::Gzip)?;
    enc.finish().map_err(ExportError::Gzip)
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |source| ExportError::Io {
        action,
        path,
        source,
    }
}

/// Whether the file at `path` holds exactly `bytes`: the size first, so a changed
/// file is rarely read.
fn same_content(path: &Path, bytes: &[u8]) -> bool {
    match fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {
            fs::read(path).is_ok_and(|old| old == bytes)
        }
        _ => false,
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    fs::write(path, bytes).map_err(io("writing", path))
}

/// Puts the old file into the new set without changing its bytes or mtime.
fn keep_old(old: &Path, new: &Path) -> Result<(), ExportError> {
    if fs::hard_link(old, new).is_ok() {
        return Ok(());
    }
    fs::copy(old, new).map_err(io("copying", old))?;
    let mtime = fs::metadata(old)
        .and_then(|m| m.modified())
        .map_err(io("reading mtime of", old))?;
    fs::File::options()
        .write(true)
        .open(new)
        .and_then(|f| f.set_modified(mtime))
        .map_err(io("setting mtime of", new))
}

/// Every regular file below `dir`, as relative `/`-separated paths.
fn list_files(dir: &Path) -> Result<BTreeSet<String>, ExportError> {
    let mut out = BTreeSet::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, rel)) = stack.pop() {
        for entry in fs::read_dir(&abs).map_err(io("listing", &abs))? {
            let entry = entry.map_err(io("listing", &abs))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(io("inspecting", &entry.path()))?;
            if kind.is_dir() {
                stack.push((entry.path(), child_rel));
            } else {
                out.insert(child_rel);
            }
        }
    }
    Ok(out)
}

/// Removes temporary and old directories of crashed runs (we hold the lock).
fn remove_leftovers(parent: &Path, name: &str) {
    let tmp_prefix = format!(".{name}.tmp-");
    let old_prefix = format!(".{name}.old-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if n.starts_with(&tmp_prefix) || n.starts_with(&old_prefix) {
            tracing::warn!(path = %entry.path().display(), "removing leftover of an interrupted export");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the temporary directory unless disarmed (after it became DIR).
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// An exclusive advisory lock (flock) on a file beside DIR, released on drop.
struct DirLock(#[allow(dead_code)] fs::File);

impl DirLock {
    fn acquire(path: &Path) -> Result<DirLock, ExportError> {
        let file = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io("opening lock", path))?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a file descriptor we own; no memory is shared.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                return Err(io("locking", path)(std::io::Error::last_os_error()));
            }
        }
        Ok(DirLock(file))
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

fn exchange_unsupported(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::ENOTSUP)
    ) {
        return true;
    }
    e.kind() == std::io::ErrorKind::Unsupported
}

/// Flushes the file system holding `dir` (one call instead of one fsync per file).
fn sync_fs(dir: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(f) = fs::File::open(dir) {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs on a descriptor we own.
        unsafe { libc::syncfs(f.as_raw_fd()) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
}

/// Makes the rename durable.
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn set(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
            .collect()
    }

    fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        list_files(dir)
            .unwrap()
            .into_iter()
            .map(|p| {
                let bytes = fs::read(dir.join(&p)).unwrap();
                (p, bytes)
            })
            .collect()
    }

    #[test]
    fn relative_paths_cannot_escape() {
        let check = |p: &str, ok: bool| assert_eq!(check_relative(p).is_ok(), ok, "{p}");
        check("gemeinden/031010000000.json", true);
        check("index.json", true);
        check("../x.json", false);
        check("a/../../x", false);
        check("/etc/passwd", false);
        check("a//b", false);
        check("./a", false);
        check("a\\b", false);
        check("", false);
    }

    #[test]
    fn first_publish_then_partial_change_keeps_unchanged_inodes() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let opts = PublishOptions {
            gzip: true,
            volatile: vec!["meta.json".into()],
            ..Default::default()
        };
        let v1 = set(&[
            ("a/1.json", "eins"),
            ("a/2.json", "zwei"),
            ("meta.json", "t1"),
        ]);
        let s = publish(&dir, &v1, &opts).unwrap();
        assert_eq!(s.written, 6);
        let ino = |p: &str| fs::metadata(dir.join(p)).unwrap().ino();
        let before = (ino("a/1.json"), ino("a/1.json.gz"), ino("a/2.json"));

        // Only the volatile file differs: nothing is touched.
        let v1b = set(&[
            ("a/1.json", "eins"),
            ("a/2.json", "zwei"),
            ("meta.json", "t2"),
        ]);
        let s = publish(&dir, &v1b, &opts).unwrap();
        assert!(s.unchanged);
        assert_eq!(fs::read(dir.join("meta.json")).unwrap(), b"t1");

        let v2 = set(&[
            ("a/1.json", "eins"),
            ("a/3.json", "drei"),
            ("meta.json", "t3"),
        ]);
        let s = publish(&dir, &v2, &opts).unwrap();
        assert_eq!((s.written, s.kept, s.removed), (4, 2, 2));
        assert_eq!((ino("a/1.json"), ino("a/1.json.gz")), (before.0, before.1));
        assert!(!dir.join("a/2.json").exists());
        let mut expected = v2.clone();
        for (p, b) in &v2 {
            expected.insert(format!("{p}.gz"), gzip(b).unwrap());
        }
        assert_eq!(read_all(&dir), expected);
        // No temporary or old directories are left beside DIR.
        let leftovers: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_failure_mid_write_leaves_the_old_set_complete() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let v1 = set(&[("a.json", "1"), ("b.json", "2"), ("c.json", "3")]);
        publish(&dir, &v1, &PublishOptions::default()).unwrap();
        let v2 = set(&[("a.json", "x"), ("b.json", "y"), ("c.json", "z")]);
        let failing = PublishOptions {
            fail_after_writes: Some(2),
            ..Default::default()
        };
        assert!(publish(&dir, &v2, &failing).is_err());
        assert_eq!(read_all(&dir), v1);
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            2,
            "only DIR and its lock file"
        );
        // The next run goes through.
        publish(&dir, &v2, &PublishOptions::default()).unwrap();
        assert_eq!(read_all(&dir), v2);
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        let a = gzip(b"hallo welt").unwrap();
        assert_eq!(a, gzip(b"hallo welt").unwrap());
        // Header: magic, method, flags 0 (no name), mtime 0.
        assert_eq!(&a[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&a[..]), &mut out).unwrap();
        assert_eq!(out, "hallo welt");
    }
}
