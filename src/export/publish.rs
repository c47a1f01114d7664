//! Atomic publishing of a file set into a directory served by a web server.
//!
//! The new set is written into a temporary directory beside DIR (same file
//! system) file by file as the caller builds it ([`Staging`]: the set is never
//! held in memory, each file is compared with the published one as it arrives),
//! then swapped in with one `renameat2(RENAME_EXCHANGE)`: a reader sees
//! either the complete old set or the complete new one, never a mix, and DIR stays
//! a plain directory (no symlink the server must be told to follow). Where the
//! kernel or file system cannot exchange (ENOSYS/EINVAL, e.g. some network file
//! systems, or not Linux), we fall back to two renames (DIR → old, new → DIR) with
//! a window of a few microseconds in which DIR does not exist (a 404, never a mix).
//!
//! Only what ozgsync published may be replaced or removed. Every set carries a
//! manifest ([`MANIFEST`]) listing its files; a set from before manifests is
//! recognised by the caller's [`Legacy`] rule. Anything else in DIR is foreign: a
//! DIR with foreign entries is refused unless the caller allows them, and then (or
//! when the user added files inside a published set) the swap would drop them, so
//! the set is updated in place instead: the changed files, staged beside DIR, are
//! moved in one by one (each to a temporary name inside DIR, then renamed over its
//! file), foreign entries untouched. A DIR holding an SQLite database is refused
//! always.
//!
//! Files whose bytes did not change are hard-linked from the old set into the new
//! one, so they keep their inode, bytes and mtime (caches and ETags stay valid);
//! where hard links are refused, the old file is copied and its mtime set back. If
//! no file changed at all (apart from the `volatile` ones, i.e. `meta.json` with its
//! time stamp), DIR is not touched (the staging directory is removed). Any failure before the swap removes the
//! temporary directory and leaves DIR untouched. An advisory lock beside DIR keeps
//! two exports from publishing into the same DIR at once; with it held, leftovers
//! of a crashed run are removed. New files are flushed with one `syncfs` before the
//! swap, so a power loss cannot publish empty files. The set's top-level
//! directories are made where the file system spreads new directories
//! ([`spread_dir`]), away from the inodes a deleted set just freed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::target::{self, Modes, Protected};
use super::ExportError;
use crate::error::ShowPath;

/// The manifest of a published set: what the next publish may replace or remove.
pub const MANIFEST: &str = ".ozgsync-published";

/// The manifest's first line, so a file of that name written by someone else is
/// not taken for one.
const MANIFEST_HEADER: &str = "# ozgsync published set 1: the next export replaces or removes exactly the files below, nothing else";

/// Part of the name of a temporary file written inside DIR (file-by-file mode).
const TEMP_MARK: &str = ".ozgsync-tmp-";

/// How many foreign names an error quotes.
const QUOTED_NAMES: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Also write a deterministic `.gz` sibling of every file.
    pub gzip: bool,
    /// Files whose change alone does not count as a change of the set.
    pub volatile: Vec<String>,
    /// Permissions of the files and directories written.
    pub modes: Modes,
    /// Publish into a DIR that holds entries ozgsync did not write, keeping them.
    pub allow_foreign_files: bool,
    /// Files never to be published over (the database the export reads).
    pub protect: Vec<PathBuf>,
    /// Recognises a set published before manifests existed.
    pub legacy: Option<Legacy>,
    /// A stop request, checked before each file is staged and before the swap: a
    /// stopped export removes its staging directory like any failed one.
    pub stop: Option<crate::stop::Stop>,
    /// Test hook: fail after writing this many new files (simulates a crash mid-write).
    #[doc(hidden)]
    pub fail_after_writes: Option<usize>,
    /// Test hook: called with DIR just before the swap (another program writing).
    #[doc(hidden)]
    pub before_swap: Option<fn(&Path)>,
}

/// A set published by an ozgsync without manifests: how to recognise one, and
/// which of its paths ozgsync wrote.
#[derive(Debug, Clone, Copy)]
pub struct Legacy {
    pub recognise: fn(&Path) -> bool,
    pub owns: fn(&str) -> bool,
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
    /// True when the set was recognised as current before any file was built
    /// ([`unchanged_set`]); `unchanged` then too.
    pub current: bool,
}

/// Publishes `files` (relative `/`-separated path → bytes) as the complete content
/// of `dir`: a [`Staging`] with every file put (on every core), then finished.
pub fn publish(
    dir: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    opts: &PublishOptions,
) -> Result<PublishSummary, ExportError> {
    for path in files.keys() {
        check_path(path)?;
    }
    let staging = Staging::begin(dir, opts)?;
    let entries: Vec<(&String, &Vec<u8>)> = files.iter().collect();
    for put in super::par_map(&entries, |(path, bytes)| staging.put(path, bytes)) {
        put?;
    }
    staging.finish()
}

/// A path the caller may put into a set: inside DIR, not the manifest's name.
fn check_path(path: &str) -> Result<(), ExportError> {
    check_relative(path)?;
    if path == MANIFEST {
        return Err(ExportError::invalid(format!(
            "{MANIFEST} is the publisher's own file name"
        )));
    }
    Ok(())
}

/// A publish under way: the files of the new set go into a staging directory
/// beside DIR as they are built ([`Staging::put`], callable from several threads),
/// so the set is never held in memory; [`Staging::finish`] then swaps it in, or
/// replaces the changed files in place, or leaves DIR untouched when nothing
/// changed. Each put file is compared with the old set's file of that name on the
/// spot: an unchanged one is hard-linked from the old set (keeping its inode and
/// mtime) instead of written. Dropping a `Staging` without finishing (an error
/// while building) removes the staging directory and leaves DIR untouched.
pub struct Staging<'a> {
    dir: PathBuf,
    parent: PathBuf,
    name: String,
    opts: &'a PublishOptions,
    survey: Survey,
    old_exists: bool,
    /// The staging directory: the new set in swap mode, the changed files only in
    /// place.
    tmp: PathBuf,
    state: Mutex<Staged>,
    writes: AtomicUsize,
    /// Declared before the lock: the staging directory goes before the lock is
    /// released.
    guard: TempDir,
    _lock: DirLock,
}

/// `dir` without `.` components after its first and without repeated or trailing
/// slashes (`q/.` and `q//` are `q`), as [`Path::components`] reads it.
fn lexical(dir: &Path) -> PathBuf {
    dir.components().collect()
}

/// Why DIR (`.`, `..`, `/`, a path ending in one of them) cannot be published
/// into: the set replaces DIR as a whole, by its name in its parent. Names a
/// folder to give instead that is not refused in turn: the folder itself by its
/// name when it could take the set (empty, a set published before, or foreign
/// files allowed), else a folder of its own below it (the folder holds the
/// database, or files ozgsync did not write).
fn no_folder_name(dir: &Path, opts: &PublishOptions) -> String {
    let abs = std::env::current_dir()
        .ok()
        .map(|cwd| lexical(&cwd.join(dir)))
        .and_then(|abs| abs.canonicalize().ok().or(Some(abs)))
        .filter(|abs| abs.file_name().is_some());
    let hint = match abs {
        None => ": choose a folder below it, e.g. --out dashboards".to_owned(),
        Some(abs) => {
            let below = abs.join("dashboards");
            match Survey::of(&abs, opts) {
                Ok(s) if s.recognised || s.foreign.is_empty() || opts.allow_foreign_files => {
                    format!(": give the folder by its name, --out {}", abs.shown())
                }
                Ok(_) => format!(
                    ": {} holds files ozgsync did not write, so give a folder of its own \
                     below it, e.g. --out {}",
                    abs.shown(),
                    below.shown()
                ),
                Err(_) => format!(
                    ": {} cannot take the set itself (it holds a database, or cannot be \
                     read), so give a folder of its own below it, e.g. --out {}",
                    abs.shown(),
                    below.shown()
                ),
            }
        }
    };
    format!(
        "--out {} names no folder: dashboards replace DIR as a whole, by its name in its \
         parent, so DIR cannot be `.`, `..` or `/`{hint}",
        dir.shown()
    )
}

/// What the puts so far did.
#[derive(Debug, Default)]
struct Staged {
    /// Every path put.
    names: BTreeSet<String>,
    /// The put paths whose bytes and mode equal the old set's file.
    same: BTreeSet<String>,
    /// The files written into the staging directory (`.gz` siblings included).
    staged: BTreeSet<String>,
    /// The directories made in the staging directory (relative paths).
    dirs: BTreeSet<String>,
    written: usize,
    kept: usize,
}

impl<'a> Staging<'a> {
    /// Checks DIR (a link, a non-directory, a database or foreign files are
    /// refused as by [`publish`]), takes the lock beside it, removes a crashed
    /// run's leftovers and creates the staging directory.
    pub fn begin(dir: &Path, opts: &'a PublishOptions) -> Result<Staging<'a>, ExportError> {
        // `q/.` is the folder `q` (its name and parent say so already); renaming
        // the set onto `q/.` itself fails with EBUSY.
        let dir = &lexical(dir);
        let name = dir
            .file_name()
            .ok_or_else(|| ExportError::invalid(no_folder_name(dir, opts)))?;
        // The lock, staging and leftover names are made from DIR's name as text.
        let name = name
            .to_str()
            .ok_or_else(|| {
                ExportError::invalid(format!(
                    "--out {}: the folder's name {name:?} is not UTF-8 text (bytes from \
                     another encoding, such as Latin-1); dashboards are served under that \
                     name on the web: give a folder whose name is UTF-8",
                    dir.shown()
                ))
            })?
            .to_owned();
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let old_exists = match fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(dir).unwrap_or_default();
                return Err(ExportError::invalid(format!(
                    "{} is a symbolic link (to {}); dashboards replace DIR as a whole and never \
                     follow a link: pass the real directory, --out {}",
                    dir.shown(),
                    to.shown(),
                    to.shown()
                )));
            }
            Ok(m) if !m.is_dir() => {
                return Err(ExportError::invalid(format!(
                    "{} exists and is not a directory; choose a directory for --out",
                    dir.shown()
                )));
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io("inspecting", dir)(e)),
        };
        target::create_out_dirs(&parent, opts.modes.dir)?;
        let lock = DirLock::acquire(&parent.join(format!(".{name}.lock")))?;
        remove_leftovers(&parent, &name);

        let survey = if old_exists {
            Survey::of(dir, opts)?
        } else {
            Survey::default()
        };
        if !survey.foreign.is_empty() && !survey.recognised && !opts.allow_foreign_files {
            return Err(ExportError::invalid(format!(
                "{} holds files ozgsync did not publish ({}); dashboards go into an empty or new \
                 directory or one ozgsync published before. Choose such a directory for --out, or \
                 pass --allow-foreign-files to publish beside these files (they are kept as they are)",
                dir.shown(),
                quote(&survey.foreign)
            )));
        }
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        fs::create_dir(&tmp).map_err(io("creating", &tmp))?;
        let guard = TempDir(Some(tmp.clone()));
        target::set_mode(&tmp, opts.modes.dir)?;
        Ok(Staging {
            dir: dir.to_path_buf(),
            parent,
            name,
            opts,
            survey,
            old_exists,
            tmp,
            state: Mutex::new(Staged::default()),
            writes: AtomicUsize::new(0),
            guard,
            _lock: lock,
        })
    }

    /// Adds the file `path` (relative, `/`-separated) with `bytes` to the new set,
    /// and its `.gz` sibling with `--gzip`: hard-linked from the old set where the
    /// bytes and mode are the same (in swap mode; in place the old file simply
    /// stays), else written into the staging directory. A path may be put once.
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<(), ExportError> {
        ExportError::unless_stopped(self.opts.stop.as_ref())?;
        check_path(path)?;
        if !self.staged().names.insert(path.to_owned()) {
            return Err(ExportError::invalid(format!(
                "{path} is twice in the export set"
            )));
        }
        // In swap mode the staging directory becomes DIR: unchanged files go in too.
        let keep = self.survey.foreign.is_empty();
        let old = self.dir.join(path);
        let new = self.tmp.join(path);
        if let Some((dir, _)) = path.rsplit_once('/') {
            self.make_dirs(dir)?;
        }
        let same =
            self.survey.owned.contains(path) && same_content(&old, bytes, self.opts.modes.file);
        let (mut written, mut kept, mut staged) = (0usize, 0usize, Vec::new());
        if same {
            if keep {
                keep_old(&old, &new)?;
            }
            kept += 1;
        } else {
            self.write_new(&new, bytes)?;
            written += 1;
            staged.push(path.to_owned());
        }
        if self.opts.gzip {
            let gz_rel = format!("{path}.gz");
            let old_gz = self.dir.join(&gz_rel);
            if same
                && self.survey.owned.contains(&gz_rel)
                && has_mode(&old_gz, self.opts.modes.file)
            {
                if keep {
                    keep_old(&old_gz, &self.tmp.join(&gz_rel))?;
                }
                kept += 1;
            } else {
                self.write_new(&self.tmp.join(&gz_rel), &gzip(bytes)?)?;
                written += 1;
                staged.push(gz_rel);
            }
        }
        let mut state = self.staged();
        if same {
            state.same.insert(path.to_owned());
        }
        state.staged.extend(staged);
        state.written += written;
        state.kept += kept;
        Ok(())
    }

    /// Makes the staging directory's directory `dir` (relative) and its parents,
    /// once: a directory right under the staging directory (`gemeinden`, `kreise`
    /// …) where the file system spreads new top-level directories
    /// ([`spread_dir`]).
    fn make_dirs(&self, dir: &str) -> Result<(), ExportError> {
        let mut state = self.staged();
        if state.dirs.contains(dir) {
            return Ok(());
        }
        let top = dir.split('/').next().unwrap_or(dir);
        if !state.dirs.contains(top) {
            spread_dir(&self.tmp, top, self.opts.modes.dir)?;
            state.dirs.insert(top.to_owned());
        }
        target::create_dirs(&self.tmp.join(dir), self.opts.modes.dir)?;
        state.dirs.insert(dir.to_owned());
        Ok(())
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Staged> {
        // A panicking put cannot leave the bookkeeping half-updated in a way that
        // matters: the panic ends the export.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the files put as the complete content of DIR.
    pub fn finish(self) -> Result<PublishSummary, ExportError> {
        ExportError::unless_stopped(self.opts.stop.as_ref())?;
        let state = std::mem::take(&mut *self.staged());
        let opts = self.opts;
        let mut wanted = state.names.clone();
        if opts.gzip {
            wanted.extend(state.names.iter().map(|p| format!("{p}.gz")));
        }
        let manifest = manifest_text(&wanted);
        wanted.insert(MANIFEST.into());
        let clashes = self.survey.clashes(&wanted);
        if !clashes.is_empty() {
            return Err(ExportError::invalid(format!(
                "{} holds files ozgsync did not publish where the new set has files of the same \
                 name ({}); ozgsync never replaces them: move them away or choose another --out",
                self.dir.shown(),
                quote(&clashes)
            )));
        }
        let old_files = &self.survey.owned;
        // Did any file change? Gzip siblings follow their file; the manifest counts
        // too. A file with other permissions counted as changed when it was put.
        let volatile = |p: &str| opts.volatile.iter().any(|v| v == p);
        let manifest_same = old_files.contains(MANIFEST)
            && same_content(
                &self.dir.join(MANIFEST),
                manifest.as_bytes(),
                opts.modes.file,
            );
        let changed = (!manifest_same && !volatile(MANIFEST))
            || state
                .names
                .iter()
                .any(|p| !state.same.contains(p) && !volatile(p));
        // In a DIR of its own the set owns DIR's permissions too.
        let dir_mode_ok = !self.survey.foreign.is_empty()
            || fs::symlink_metadata(&self.dir)
                .is_ok_and(|m| m.permissions().mode() & 0o7777 == opts.modes.dir);
        if self.old_exists && !changed && dir_mode_ok && wanted == *old_files {
            return Ok(PublishSummary {
                kept: old_files.len().saturating_sub(1),
                unchanged: true,
                ..PublishSummary::default()
            });
        }
        let removed = old_files.difference(&wanted).count();
        let (written, kept) = (state.written, state.kept);
        if self.survey.foreign.is_empty() {
            self.swap(&manifest)?;
        } else {
            self.in_place(&state.staged, &wanted)?;
        }
        Ok(PublishSummary {
            written,
            kept,
            removed,
            ..PublishSummary::default()
        })
    }
}

/// Whether DIR still holds, untouched, the set ozgsync last published there, so
/// that publishing the same files again would change nothing: `Some` (the summary
/// an unchanged publish gives) when DIR is a real directory with the configured
/// mode holding exactly the files its manifest lists (no foreign entry, no link),
/// each a regular file with the configured mode and not modified after the
/// manifest was written (every publish writes the manifest last), and `made_from`
/// accepts the listed file `description` (the set's `meta.json`). `None` sends the caller the full way, which repairs
/// whatever differs. Checked under the publisher's lock, with the leftovers of a
/// crashed run removed as a publish would. A file replaced with the same name,
/// mode and an mtime older than the manifest's is not noticed (the check reads no
/// file contents); the caller documents that.
pub fn unchanged_set(
    dir: &Path,
    opts: &PublishOptions,
    description: &str,
    made_from: impl Fn(&[u8]) -> bool,
) -> Result<Option<PublishSummary>, ExportError> {
    let dir = &lexical(dir);
    let (Some(name), Some(parent)) = (
        dir.file_name().and_then(|n| n.to_str()),
        dir.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .or(Some(Path::new("."))),
    ) else {
        return Ok(None);
    };
    let own_dir = fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o7777 == opts.modes.dir);
    if !own_dir {
        return Ok(None);
    }
    let _lock = DirLock::acquire(&parent.join(format!(".{name}.lock")))?;
    remove_leftovers(parent, name);
    let Some(listed) = read_manifest(dir)? else {
        return Ok(None);
    };
    let Ok(manifest_mtime) = fs::symlink_metadata(dir.join(MANIFEST)).and_then(|m| m.modified())
    else {
        return Ok(None);
    };
    let mut found = BTreeSet::new();
    if !only_files(dir, "", &mut found) || found.len() != listed.len() + 1 {
        return Ok(None);
    }
    for rel in &listed {
        if !found.contains(rel) {
            return Ok(None);
        }
        let intact = fs::symlink_metadata(dir.join(rel)).is_ok_and(|m| {
            m.is_file()
                && m.permissions().mode() & 0o7777 == opts.modes.file
                && m.modified().is_ok_and(|t| t <= manifest_mtime)
        });
        if !intact {
            return Ok(None);
        }
    }
    let described = listed.contains(description)
        && fs::read(dir.join(description)).is_ok_and(|bytes| made_from(&bytes));
    if !described {
        return Ok(None);
    }
    Ok(Some(PublishSummary {
        kept: listed.len(),
        unchanged: true,
        current: true,
        ..PublishSummary::default()
    }))
}

/// Adds the regular files below `abs` to `found`; false when it meets anything
/// else (a link, a device, an empty or unreadable directory), which only a full
/// publish decides about.
fn only_files(abs: &Path, rel: &str, found: &mut BTreeSet<String>) -> bool {
    let Ok(entries) = fs::read_dir(abs) else {
        return false;
    };
    let mut any = false;
    for entry in entries {
        let Ok(entry) = entry else { return false };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return false;
        };
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_file() => {
                found.insert(child);
            }
            Ok(t) if t.is_dir() => {
                if !only_files(&entry.path(), &child, found) {
                    return false;
                }
            }
            _ => return false,
        }
        any = true;
    }
    any
}

/// What DIR holds: the files of the published set, and the rest.
#[derive(Debug, Default)]
struct Survey {
    /// Regular files the manifest (or the legacy rule) names.
    owned: BTreeSet<String>,
    /// Top-most entries ozgsync did not publish (directories end in `/`).
    foreign: Vec<String>,
    /// Whether DIR is a set ozgsync published (manifest or legacy rule).
    recognised: bool,
}

impl Survey {
    /// Walks DIR without following links; refuses any database in it.
    fn of(dir: &Path, opts: &PublishOptions) -> Result<Survey, ExportError> {
        let manifest = read_manifest(dir)?;
        let legacy = opts
            .legacy
            .filter(|l| manifest.is_none() && (l.recognise)(dir));
        let claims = |rel: &str| match (&manifest, legacy) {
            (Some(listed), _) => rel == MANIFEST || listed.contains(rel),
            (None, Some(l)) => (l.owns)(rel),
            (None, None) => false,
        };
        let mut survey = Survey {
            recognised: manifest.is_some() || legacy.is_some(),
            ..Survey::default()
        };
        let protected = Protected::of(&opts.protect);
        survey.walk(dir, dir, "", &claims, Some(&protected))?;
        Ok(survey)
    }

    /// The entries of an old set (swapped out of DIR) that it did not have when it
    /// was surveyed: written into DIR by someone else in the meantime.
    fn strays(old_set: &Path, owned: &BTreeSet<String>) -> Result<Vec<String>, ExportError> {
        let claims = |rel: &str| rel == MANIFEST || owned.contains(rel);
        let mut survey = Survey::default();
        survey.walk(old_set, old_set, "", &claims, None)?;
        Ok(survey.foreign)
    }

    /// Adds the entries below `abs` (relative path `rel`); returns whether any of
    /// them is owned.
    fn walk(
        &mut self,
        root: &Path,
        abs: &Path,
        rel: &str,
        claims: &dyn Fn(&str) -> bool,
        protected: Option<&Protected>,
    ) -> Result<bool, ExportError> {
        let mut any_owned = false;
        for entry in fs::read_dir(abs).map_err(io("listing", abs))? {
            let entry = entry.map_err(io("listing", abs))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(io("inspecting", &path))?;
            let database = protected.and_then(|p| target::database_reason(&path, &meta, p));
            if let Some(reason) = database {
                return Err(ExportError::invalid(format!(
                    "{} holds {reason} ({}); ozgsync never publishes into a directory with a \
                     database, whatever the flags: choose another --out directory",
                    root.shown(),
                    path.shown()
                )));
            }
            if meta.is_dir() {
                let mut inner = Survey::default();
                if inner.walk(root, &path, &child, claims, protected)? {
                    self.owned.append(&mut inner.owned);
                    self.foreign.append(&mut inner.foreign);
                    any_owned = true;
                } else {
                    self.foreign.push(format!("{child}/"));
                }
            } else if meta.is_file() && claims(&child) {
                self.owned.insert(child);
                any_owned = true;
            } else {
                self.foreign.push(child);
            }
        }
        Ok(any_owned)
    }

    /// Foreign entries standing where the new set puts a file or a directory.
    fn clashes(&self, wanted: &BTreeSet<String>) -> Vec<String> {
        let foreign: BTreeSet<&str> = self
            .foreign
            .iter()
            .map(|f| f.trim_end_matches('/'))
            .collect();
        let mut out = BTreeSet::new();
        for path in wanted {
            let mut prefix = String::new();
            for part in path.split('/') {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if foreign.contains(prefix.as_str()) {
                    out.insert(prefix.clone());
                    break;
                }
            }
        }
        out.into_iter().collect()
    }
}

/// The manifest's text for the set of published paths.
fn manifest_text(paths: &BTreeSet<String>) -> String {
    let mut text = format!("{MANIFEST_HEADER}\n");
    for p in paths {
        text.push_str(p);
        text.push('\n');
    }
    text
}

/// The paths the manifest in `dir` lists; None when there is none (or a file of
/// that name that is not ours).
fn read_manifest(dir: &Path) -> Result<Option<BTreeSet<String>>, ExportError> {
    let path = dir.join(MANIFEST);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(None),
    }
    let text = fs::read_to_string(&path).map_err(io("reading", &path))?;
    let mut lines = text.lines();
    if lines.next() != Some(MANIFEST_HEADER) {
        return Ok(None);
    }
    let mut listed = BTreeSet::new();
    for (i, line) in lines.enumerate() {
        check_relative(line).map_err(|_| {
            ExportError::invalid(format!(
                "{} line {}: {line:?} is not a path inside DIR; the manifest is damaged. \
                 Remove the files it lists by hand or choose a new --out directory",
                path.shown(),
                i + 2
            ))
        })?;
        listed.insert(line.to_owned());
    }
    Ok(Some(listed))
}

/// A few names for a message, with how many more there are.
fn quote(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(QUOTED_NAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > QUOTED_NAMES {
        text.push_str(&format!(" and {} more", names.len() - QUOTED_NAMES));
    }
    text
}

impl Staging<'_> {
    /// Writes `bytes` as a new file (never through an existing entry) with the
    /// configured mode.
    fn write_new(&self, target: &Path, bytes: &[u8]) -> Result<(), ExportError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if self.opts.fail_after_writes.is_some_and(|max| n >= max) {
            return Err(ExportError::invalid(format!(
                "simulated failure before writing {}",
                target.shown()
            )));
        }
        let file = write_file(target, bytes, self.opts.modes.file)?;
        if bytes.len() >= WRITEBACK_MIN_BYTES {
            start_writeback(&file);
        }
        Ok(())
    }

    /// DIR holds only the published set: the staging directory holds the whole
    /// new one; swap it in.
    fn swap(self, manifest: &str) -> Result<(), ExportError> {
        let (dir, parent, name, tmp) = (&self.dir, &self.parent, &self.name, &self.tmp);
        // The manifest is written anew and last, so no file of the set is newer
        // than it: what `unchanged_set` relies on to notice a file changed by hand.
        self.write_new(&tmp.join(MANIFEST), manifest.as_bytes())?;
        sync_fs(tmp);

        if let Some(hook) = self.opts.before_swap {
            hook(dir);
        }
        if self.old_exists {
            match exchange(tmp, dir) {
                Ok(()) => {
                    if !self.rescue(tmp) {
                        self.guard.disarm();
                    }
                }
                Err(e) if exchange_unsupported(&e) => {
                    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
                    fs::rename(dir, &old).map_err(io("moving away", dir))?;
                    if let Err(e) = fs::rename(tmp, dir) {
                        // Put the old set back rather than leave DIR missing.
                        let _ = fs::rename(&old, dir);
                        return Err(io("renaming into place", dir)(e));
                    }
                    if self.rescue(&old) {
                        let _ = fs::remove_dir_all(&old);
                    }
                    self.guard.disarm();
                    sync_dir(parent);
                    return Ok(());
                }
                Err(e) => return Err(io("swapping in", dir)(e)),
            }
            // After the exchange the temporary path holds the old set, which had
            // nothing but published files (and anything rescued went back): the
            // guard removes it.
        } else {
            fs::rename(tmp, dir).map_err(io("renaming into place", dir))?;
            self.guard.disarm();
        }
        sync_dir(parent);
        Ok(())
    }

    /// Moves back into DIR what someone wrote into it between the survey and the
    /// swap (it went out with the old set). Returns whether the old set may be
    /// removed; when something cannot go back, the old set is kept beside DIR as
    /// `.NAME.kept-PID` and a warning names it.
    fn rescue(&self, old_set: &Path) -> bool {
        let strays = match Survey::strays(old_set, &self.survey.owned) {
            Ok(strays) if strays.is_empty() => return true,
            Ok(strays) => strays,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the replaced set");
                vec![String::new()]
            }
        };
        let mut all_back = true;
        for stray in strays.iter().filter(|s| !s.is_empty()) {
            let rel = stray.trim_end_matches('/');
            let (from, to) = (old_set.join(rel), self.dir.join(rel));
            let parent_ok = to
                .parent()
                .is_none_or(|p| target::create_dirs(p, self.opts.modes.dir).is_ok());
            let back =
                parent_ok && fs::symlink_metadata(&to).is_err() && fs::rename(&from, &to).is_ok();
            if back {
                tracing::warn!(path = %to.shown(), "moved back a file written into DIR during the export");
            }
            all_back &= back;
        }
        if all_back && !strays.iter().any(String::is_empty) {
            return true;
        }
        let kept = self
            .parent
            .join(format!(".{}.kept-{}", self.name, std::process::id()));
        match fs::rename(old_set, &kept) {
            Ok(()) => tracing::warn!(
                path = %kept.shown(),
                "the replaced set holds files written during the export that could not go back; kept it"
            ),
            Err(e) => tracing::warn!(
                path = %old_set.shown(),
                error = %e,
                "the replaced set holds files written during the export; left it in place"
            ),
        }
        false
    }

    /// DIR holds foreign entries too, which a swap would drop: replace the changed
    /// files one by one (each with a rename) and remove the old set's leftovers,
    /// touching nothing else. The manifest first grows to cover every name this
    /// run may leave behind, so a crash midway loses track of nothing. The changed
    /// files (`staged`) come from the staging directory, each moved to a temporary
    /// name inside DIR first.
    fn in_place(
        &self,
        staged: &BTreeSet<String>,
        wanted: &BTreeSet<String>,
    ) -> Result<(), ExportError> {
        let dir = self.dir.as_path();
        let old_files = &self.survey.owned;
        let pid = std::process::id();
        let temp_of = |rel: &str| match rel.rsplit_once('/') {
            Some((d, f)) => format!("{d}/.{f}{TEMP_MARK}{pid}"),
            None => format!(".{rel}{TEMP_MARK}{pid}"),
        };
        // Temporary files of a crashed run are listed in its manifest: remove them
        // first, or one with our process id (a container's pids repeat) would be
        // taken for this run's.
        for rel in old_files.difference(wanted) {
            if rel.contains(TEMP_MARK) {
                let path = dir.join(rel);
                if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    fs::remove_file(&path).map_err(io("removing", &path))?;
                }
            }
        }
        // Anything still at a temporary name is not ours: never write, list or
        // clean up over it.
        let taken: Vec<String> = wanted
            .iter()
            .map(|p| temp_of(p))
            .filter(|t| fs::symlink_metadata(dir.join(t)).is_ok())
            .collect();
        if !taken.is_empty() {
            return Err(ExportError::invalid(format!(
                "{} holds files at the names ozgsync uses for its temporary files ({}); \
                 move them away",
                dir.shown(),
                quote(&taken)
            )));
        }
        let mut covering: BTreeSet<String> = old_files.union(wanted).cloned().collect();
        covering.remove(MANIFEST);
        covering.extend(
            wanted
                .iter()
                .filter(|p| p.as_str() != MANIFEST)
                .map(|p| temp_of(p)),
        );
        self.write_manifest(&covering)?;

        for rel in wanted {
            if let Some((d, _)) = rel.rsplit_once('/') {
                target::create_dirs(&dir.join(d), self.opts.modes.dir)?;
            }
        }
        let moved = staged.iter().try_for_each(|rel| {
            move_new(
                &self.tmp.join(rel),
                &dir.join(temp_of(rel)),
                self.opts.modes.file,
            )
        });
        if let Err(e) = moved {
            for rel in wanted {
                let _ = fs::remove_file(dir.join(temp_of(rel)));
            }
            return Err(e);
        }
        sync_fs(dir);
        for rel in wanted {
            let temp = dir.join(temp_of(rel));
            if fs::symlink_metadata(&temp).is_ok() {
                let to = dir.join(rel);
                fs::rename(&temp, &to).map_err(io("renaming into place", &to))?;
            }
        }
        for rel in old_files.difference(wanted) {
            let path = dir.join(rel);
            // Still the regular file we published (not replaced by someone meanwhile).
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                fs::remove_file(&path).map_err(io("removing", &path))?;
            }
            // A directory that held only published files goes with them; one with
            // anything else in it stays (remove_dir refuses a non-empty one).
            if let Some(d) = Path::new(rel)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                let _ = fs::remove_dir(dir.join(d));
            }
        }
        let mut published = wanted.clone();
        published.remove(MANIFEST);
        self.write_manifest(&published)?;
        sync_dir(dir);
        Ok(())
    }

    /// Replaces the manifest in DIR atomically (its temporary file lives beside DIR,
    /// where leftovers are cleaned up).
    fn write_manifest(&self, paths: &BTreeSet<String>) -> Result<(), ExportError> {
        let tmp = self.parent.join(format!(
            ".{}.tmp-manifest-{}",
            self.name,
            std::process::id()
        ));
        write_file(&tmp, manifest_text(paths).as_bytes(), self.opts.modes.file)?;
        let to = self.dir.join(MANIFEST);
        fs::rename(&tmp, &to).map_err(io("renaming into place", &to))
    }
}

/// Moves the staged file `from` to `to`, never replacing an entry there: a rename
/// that refuses to replace where the kernel has one, else (another file system,
/// no such rename) a copy into a newly created file with `mode`.
fn move_new(from: &Path, to: &Path, mode: u32) -> Result<(), ExportError> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                return Err(io("moving into place", to)(std::io::Error::from(
                    std::io::ErrorKind::AlreadyExists,
                )))
            }
            Err(_) => {}
        }
    }
    let bytes = fs::read(from).map_err(io("reading", from))?;
    write_file(to, &bytes, mode).map(drop)
}

/// A relative path that stays inside DIR: normal components only, no `..`, no
/// root, no empty parts, no backslashes or NULs.
pub fn check_relative(path: &str) -> Result<(), ExportError> {
    let bad = || ExportError::invalid(format!("unsafe file path in export set: {path:?}"));
    if path.is_empty() || path.contains(['\\', '\0', '\n', '\r']) || path.starts_with('/') {
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
    super::io_error(action, path)
}

/// Whether the file at `path` holds exactly `bytes` with permissions `mode`: the
/// size first, so a changed file is rarely read.
fn same_content(path: &Path, bytes: &[u8], mode: u32) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m)
            if m.is_file()
                && m.len() == bytes.len() as u64
                && m.permissions().mode() & 0o7777 == mode =>
        {
            fs::read(path).is_ok_and(|old| old == bytes)
        }
        _ => false,
    }
}

/// Whether `path` is a regular file with permissions `mode`.
fn has_mode(path: &Path, mode: u32) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == mode)
}

/// Creates `path` (never opening an existing entry, so never through a link) with
/// `bytes` and permissions `mode`, whatever the umask; returns the open file.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<fs::File, ExportError> {
    let mut file = fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("creating", path))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io("setting the permissions of", path))?;
    file.write_all(bytes).map_err(io("writing", path))?;
    Ok(file)
}

/// The smallest staged file whose writeback is started as it is written
/// ([`start_writeback`]). Each call costs about the same whatever the size (Linux
/// drains the page lists of every core when dirty pages cannot be dropped), so
/// for small files it costs more than the early writeback saves: the national
/// set at 26 keys is 12,342 files of about 3 KB. Smaller files are written back
/// by the `syncfs` before the swap, as every file is.
const WRITEBACK_MIN_BYTES: usize = 64 * 1024;

/// Starts writing a staged file's pages to disk now, without waiting for them:
/// the `syncfs` before the swap then finds the set (264 MB for Lower Saxony)
/// mostly written while the files were still being built, instead of writing it
/// all while the export waits. Linux's `POSIX_FADV_DONTNEED` starts the
/// writeback of the range's dirty pages (`WB_SYNC_NONE`, no wait) and drops only
/// pages already clean, which these are not yet. Best effort: durability still
/// comes from `syncfs` (and the per-directory fsync) before the set is swapped in.
fn start_writeback(file: &fs::File) {
    #[cfg(target_os = "linux")]
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Makes the directory `name` in the staging directory `tmp`, on ext4 in a block
/// group of its own choosing rather than beside `tmp`.
///
/// ext4 without a journal (this project's bench machine) does not reuse an inode
/// freed in the last 30 s (5.5 minutes while its inode table block is dirty): for
/// every new file it walks the free inodes of the directory's group from the
/// first and checks each (`find_inode_bit` → `recently_deleted`). A new set written
/// beside one just deleted (the previous export's, or anything else's in that
/// group) paid that walk over thousands of freed inodes for each of its 1,107
/// files: +0.1 to +0.5 s for Lower Saxony's dashboards (benches/HISTORY.md,
/// "Session 11, engineer dash"). ext4 places a directory made in a directory flagged
/// `FS_TOPDIR_FL` as it places one in the root (Orlov: a group with few
/// directories and above-average free inodes, searched from a hash of the name),
/// so `name` is made under a name of this run's own with the flag set on `tmp`
/// for that one `mkdir`, then renamed to `name`; its files follow it into that
/// group. Nothing else changes: where the flag cannot be set (another file
/// system, not Linux) the directory is made in place, as before.
fn spread_dir(tmp: &Path, name: &str, mode: u32) -> Result<(), ExportError> {
    let to = tmp.join(name);
    #[cfg(target_os = "linux")]
    if let Ok(parent) = fs::File::open(tmp) {
        use rustix::fs::{ioctl_getflags, ioctl_setflags, renameat_with, IFlags, RenameFlags, CWD};
        if let Ok(flags) = ioctl_getflags(&parent) {
            if ioctl_setflags(&parent, flags | IFlags::TOPDIR).is_ok() {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let own = tmp.join(format!(".{name}.{}-{nanos}", std::process::id()));
                let made = fs::create_dir(&own);
                let _ = ioctl_setflags(&parent, flags);
                if made.is_ok() {
                    if renameat_with(CWD, &own, CWD, &to, RenameFlags::NOREPLACE).is_ok() {
                        return target::set_mode(&to, mode);
                    }
                    let _ = fs::remove_dir(&own);
                }
            }
        }
    }
    target::create_dirs(&to, mode)
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

/// Removes temporary and old directories (and manifest files) of crashed runs (we
/// hold the lock).
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
        if !(n.starts_with(&tmp_prefix) || n.starts_with(&old_prefix)) {
            continue;
        }
        tracing::warn!(path = %entry.path().shown(), "removing leftover of an interrupted export");
        // Our leftovers are directories, and the manifest's temporary file; a link
        // of that name is not followed (remove_dir_all would only unlink it, but it
        // is not ours to unlink either).
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                let _ = fs::remove_dir_all(entry.path());
            }
            Ok(t) if t.is_file() && n.starts_with(&format!(".{name}.tmp-manifest-")) => {
                let _ = fs::remove_file(entry.path());
            }
            _ => {}
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

/// An exclusive advisory lock (flock) on a file `.DIR.lock` beside DIR. The file is
/// removed again on drop, with the lock still held, so an export leaves nothing
/// in the user's folder but DIR. Two exports racing stay apart: one that waited
/// on a file that was removed meanwhile finds the name gone or naming another
/// file once it has the lock, and starts over on the file now there. A file of
/// that name with bytes in it is not one ozgsync made (its lock files are empty):
/// it is locked but never removed.
struct DirLock {
    file: fs::File,
    path: PathBuf,
}

impl DirLock {
    fn acquire(path: &Path) -> Result<DirLock, ExportError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        loop {
            // Not through a link: a link planted at the name must not choose the
            // file that is created (or later removed).
            let file = fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(path)
                .map_err(io("opening lock", path))?;
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
                .map_err(|e| io("locking", path)(e.into()))?;
            let held = file.metadata().map_err(io("inspecting lock", path))?;
            match fs::symlink_metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(DirLock {
                        file,
                        path: path.to_path_buf(),
                    })
                }
                // Removed (or replaced) by the export that held it before us.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("inspecting lock", path)(e)),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        // Still locked here: the file closes (and unlocks) after this body.
        let ours = self.file.metadata().ok();
        let still_ours = ours
            .as_ref()
            .zip(fs::symlink_metadata(&self.path).ok())
            .is_some_and(|(held, now)| {
                held.len() == 0 && now.dev() == held.dev() && now.ino() == held.ino()
            });
        if still_ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

fn exchange_unsupported(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        if let Some(code) = e.raw_os_error() {
            let errno = Errno::from_raw_os_error(code);
            if errno == Errno::NOSYS || errno == Errno::INVAL || errno == Errno::NOTSUP {
                return true;
            }
        }
    }
    e.kind() == std::io::ErrorKind::Unsupported
}

/// Flushes the file system holding `dir` (one call instead of one fsync per file).
fn sync_fs(dir: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(f) = fs::File::open(dir) {
        // Best effort, as before: a failed syncfs leaves the per-directory fsync.
        let _ = rustix::fs::syncfs(&f);
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

    /// Every regular file below `dir` but the manifest, with its bytes.
    /// Asserts that publishing left nothing beside `out` and the lock files in `root`
    /// (no staging directory, no temporary file).
    fn assert_nothing_beside(root: &Path) {
        let beside: Vec<_> = fs::read_dir(root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "out" && !n.ends_with(".lock"))
            .collect();
        assert!(beside.is_empty(), "{beside:?}");
    }

    fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((abs, rel)) = stack.pop() {
            for entry in fs::read_dir(&abs).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if entry.file_type().unwrap().is_dir() {
                    stack.push((entry.path(), child));
                } else if child != MANIFEST {
                    out.insert(child, fs::read(entry.path()).unwrap());
                }
            }
        }
        out
    }

    /// A scratch directory with DIR `www` holding foreign files (path, text).
    fn foreign_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("www");
        fs::create_dir(&dir).unwrap();
        for (path, text) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        (root, dir)
    }

    fn allow_foreign() -> PublishOptions {
        PublishOptions {
            allow_foreign_files: true,
            ..Default::default()
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
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
        check("a\nb", false);
        check("", false);
    }

    /// Every directory below `dir` (relative paths), with its mode.
    fn dirs_of(dir: &Path) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((abs, rel)) = stack.pop() {
            for entry in fs::read_dir(&abs).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let child = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    out.insert(child.clone(), mode(&entry.path()));
                    stack.push((entry.path(), child));
                }
            }
        }
        out
    }

    #[test]
    fn directories_are_made_once_by_their_names_with_the_mode_and_no_flag_left() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let opts = PublishOptions {
            modes: Modes {
                file: 0o640,
                dir: 0o750,
            },
            ..Default::default()
        };
        let files = set(&[
            ("gemeinden/1.json", "eins"),
            ("gemeinden/2.json", "zwei"),
            ("kreise/3.json", "drei"),
            ("schema/a/b/c.json", "tief"),
            ("index.json", "i"),
        ]);
        // Many puts on every core, so threads meet at the first file of a directory.
        let many: BTreeMap<String, Vec<u8>> = (0..200)
            .map(|i| (format!("d{}/f{i}.json", i % 3), vec![b'x'; i]))
            .chain(files.clone())
            .collect();
        publish(&dir, &many, &opts).unwrap();
        assert_eq!(read_all(&dir), many);
        let expected: BTreeMap<String, u32> = [
            "d0",
            "d1",
            "d2",
            "gemeinden",
            "kreise",
            "schema",
            "schema/a",
            "schema/a/b",
        ]
        .into_iter()
        .map(|d| (d.to_owned(), 0o750))
        .collect();
        // No directory under a name of its own left behind, every one with the mode.
        assert_eq!(dirs_of(&dir), expected);
        assert_nothing_beside(root.path());
        // The flag that spreads the top-level directories is not left on DIR (where
        // the file system has flags at all).
        #[cfg(target_os = "linux")]
        if let Ok(flags) = rustix::fs::ioctl_getflags(fs::File::open(&dir).unwrap()) {
            assert!(!flags.contains(rustix::fs::IFlags::TOPDIR), "{flags:?}");
        }
        // Publishing again into the same DIR (the old set hard-linked) works alike.
        publish(&dir, &files, &opts).unwrap();
        assert_eq!(read_all(&dir), files);
        assert_nothing_beside(root.path());
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
            1,
            "only DIR: the lock file is removed"
        );
        // The next run goes through.
        publish(&dir, &v2, &PublishOptions::default()).unwrap();
        assert_eq!(read_all(&dir), v2);
    }

    /// Files put one at a time: each unchanged one is linked from the old set as it
    /// arrives, a path put twice is refused, and a staging dropped unfinished (an
    /// error while building) leaves DIR as it was and nothing beside it.
    #[test]
    fn files_put_one_by_one_are_compared_on_arrival_and_dropping_cleans_up() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let v1 = set(&[("a/1.json", "eins"), ("b.json", "zwei")]);
        publish(&dir, &v1, &PublishOptions::default()).unwrap();
        let ino = |p: &str| fs::metadata(dir.join(p)).unwrap().ino();
        let kept_ino = ino("a/1.json");

        let opts = PublishOptions::default();
        let staging = Staging::begin(&dir, &opts).unwrap();
        staging.put("a/1.json", b"eins").unwrap();
        // Already linked into the staging directory: same inode there.
        let staged = root
            .path()
            .join(format!(".out.tmp-{}/a/1.json", std::process::id()));
        assert_eq!(fs::metadata(&staged).unwrap().ino(), kept_ino);
        let err = staging.put("a/1.json", b"eins").unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
        staging.put("b.json", b"neu").unwrap();
        drop(staging);
        assert_eq!(read_all(&dir), v1);
        assert_nothing_beside(root.path());

        let staging = Staging::begin(&dir, &opts).unwrap();
        staging.put("b.json", b"neu").unwrap();
        staging.put("a/1.json", b"eins").unwrap();
        let s = staging.finish().unwrap();
        assert_eq!((s.written, s.kept, s.removed), (1, 1, 0));
        assert_eq!(ino("a/1.json"), kept_ino);
        assert_eq!(
            read_all(&dir),
            set(&[("a/1.json", "eins"), ("b.json", "neu")])
        );
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

    #[test]
    fn a_foreign_directory_is_refused_unless_allowed_and_then_kept() {
        let (_root, dir) = foreign_dir(&[("index.html", "eigene Seite"), ("sub/bild.png", "png")]);
        let v1 = set(&[("index.json", "1"), ("a/b.json", "2")]);
        let err = publish(&dir, &v1, &PublishOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("index.html") && err.contains("sub/"), "{err}");
        assert!(err.contains("--allow-foreign-files"), "{err}");

        let allowed = PublishOptions {
            gzip: true,
            ..allow_foreign()
        };
        let s = publish(&dir, &v1, &allowed).unwrap();
        assert_eq!(s.written, 4);
        let ino = fs::metadata(dir.join("index.html")).unwrap().ino();
        // The set is now recognised by its manifest: no flag needed any more, and a
        // change replaces and removes published files only.
        let v2 = set(&[("index.json", "1"), ("c.json", "3")]);
        let s = publish(
            &dir,
            &v2,
            &PublishOptions {
                gzip: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((s.written, s.kept, s.removed), (2, 2, 2));
        assert_eq!(fs::metadata(dir.join("index.html")).unwrap().ino(), ino);
        let mut expected = BTreeMap::new();
        expected.insert("index.html".to_string(), b"eigene Seite".to_vec());
        expected.insert("sub/bild.png".to_string(), b"png".to_vec());
        for (p, b) in &v2 {
            expected.insert(p.clone(), b.clone());
            expected.insert(format!("{p}.gz"), gzip(b).unwrap());
        }
        assert_eq!(read_all(&dir), expected);
        assert!(
            !dir.join("a").exists(),
            "the emptied published directory goes"
        );
    }

    #[test]
    fn a_failure_in_place_leaves_old_and_foreign_files_and_is_cleaned_up_next_time() {
        let (_root, dir) = foreign_dir(&[("keep.txt", "mine")]);
        let allowed = allow_foreign();
        let v1 = set(&[("a.json", "1"), ("b.json", "2"), ("c.json", "3")]);
        publish(&dir, &v1, &allowed).unwrap();
        let v2 = set(&[("a.json", "x"), ("b.json", "y"), ("c.json", "z")]);
        let failing = PublishOptions {
            fail_after_writes: Some(2),
            ..Default::default()
        };
        assert!(publish(&dir, &v2, &failing).is_err());
        let mut expected = v1.clone();
        expected.insert("keep.txt".into(), b"mine".to_vec());
        assert_eq!(read_all(&dir), expected);
        publish(&dir, &v2, &PublishOptions::default()).unwrap();
        let mut expected = v2.clone();
        expected.insert("keep.txt".into(), b"mine".to_vec());
        assert_eq!(read_all(&dir), expected);
    }

    #[test]
    fn a_killed_runs_temporary_files_are_removed_not_published() {
        let (_root, dir) = foreign_dir(&[("keep.txt", "mine")]);
        let allowed = allow_foreign();
        let v1 = set(&[("a.json", "1"), ("b.json", "2")]);
        publish(&dir, &v1, &allowed).unwrap();
        // What a run killed midway leaves, under this process's id (pids repeat in
        // a container): a temporary file, listed in the grown manifest.
        let stale = format!(".a.json{TEMP_MARK}{}", std::process::id());
        fs::write(dir.join(&stale), "half-written").unwrap();
        let mut listed = read_manifest(&dir).unwrap().unwrap();
        listed.insert(stale.clone());
        fs::write(dir.join(MANIFEST), manifest_text(&listed)).unwrap();

        let v2 = set(&[("a.json", "1"), ("b.json", "neu")]);
        publish(&dir, &v2, &PublishOptions::default()).unwrap();
        let mut expected = v2.clone();
        expected.insert("keep.txt".into(), b"mine".to_vec());
        assert_eq!(read_all(&dir), expected);
        assert!(!read_manifest(&dir).unwrap().unwrap().contains(&stale));
    }

    #[test]
    fn files_written_into_dir_during_the_swap_are_moved_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let v1 = set(&[("a/1.json", "1"), ("b/2.json", "2")]);
        publish(&dir, &v1, &PublishOptions::default()).unwrap();
        let racing = PublishOptions {
            before_swap: Some(|dir| {
                fs::write(dir.join("late.txt"), "late").unwrap();
                fs::write(dir.join("b/late.txt"), "later").unwrap();
            }),
            ..Default::default()
        };
        let v2 = set(&[("a/1.json", "eins")]);
        publish(&dir, &v2, &racing).unwrap();
        let mut expected = v2.clone();
        expected.insert("late.txt".into(), b"late".to_vec());
        expected.insert("b/late.txt".into(), b"later".to_vec());
        assert_eq!(read_all(&dir), expected);
        assert_nothing_beside(root.path());
    }

    #[test]
    fn a_foreign_file_at_a_temporary_name_is_neither_used_nor_removed() {
        let odd = format!(".a.json{TEMP_MARK}{}", std::process::id());
        let (_root, dir) = foreign_dir(&[(&odd, "someone else's")]);
        let odd = dir.join(odd);
        let err = publish(&dir, &set(&[("a.json", "1")]), &allow_foreign())
            .unwrap_err()
            .to_string();
        assert!(err.contains("temporary files"), "{err}");
        assert_eq!(fs::read(&odd).unwrap(), b"someone else's");
        assert!(read_manifest(&dir).unwrap().is_none());
    }

    #[test]
    fn foreign_files_where_the_set_puts_its_own_are_never_replaced() {
        let (_root, dir) = foreign_dir(&[
            ("index.json", "not ours"),
            ("a", "a file where the set wants a directory"),
        ]);
        let err = publish(
            &dir,
            &set(&[("index.json", "1"), ("a/b.json", "2")]),
            &allow_foreign(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("a, index.json"), "{err}");
        assert_eq!(fs::read(dir.join("index.json")).unwrap(), b"not ours");
    }

    #[test]
    fn a_set_without_manifest_is_adopted_by_the_legacy_rule() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        fs::create_dir_all(dir.join("extra")).unwrap();
        fs::write(dir.join("meta.json"), "legacy").unwrap();
        fs::write(dir.join("old.json"), "published by the old release").unwrap();
        fs::write(dir.join("extra/notes.txt"), "the user's").unwrap();
        let legacy = Legacy {
            recognise: |d| d.join("meta.json").is_file(),
            owns: |p| p.ends_with(".json"),
        };
        let opts = PublishOptions {
            legacy: Some(legacy),
            ..Default::default()
        };
        let s = publish(&dir, &set(&[("meta.json", "new")]), &opts).unwrap();
        assert_eq!(s.removed, 1);
        let mut expected = set(&[("meta.json", "new")]);
        expected.insert("extra/notes.txt".into(), b"the user's".to_vec());
        assert_eq!(read_all(&dir), expected);
        assert!(read_manifest(&dir).unwrap().is_some());
    }

    #[test]
    fn modes_are_explicit_and_a_mode_change_rewrites() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let v = set(&[("a/b.json", "1")]);
        publish(&dir, &v, &PublishOptions::default()).unwrap();
        assert_eq!((mode(&dir), mode(&dir.join("a"))), (0o755, 0o755));
        assert_eq!(mode(&dir.join("a/b.json")), 0o644);
        let private = PublishOptions {
            modes: Modes {
                file: 0o640,
                dir: 0o750,
            },
            ..Default::default()
        };
        let s = publish(&dir, &v, &private).unwrap();
        assert!(!s.unchanged);
        assert_eq!((mode(&dir), mode(&dir.join("a/b.json"))), (0o750, 0o640));
    }

    #[test]
    fn a_directory_with_a_database_or_a_link_as_dir_is_refused() {
        let (root, dir) = foreign_dir(&[("copy.bin", "SQLite format 3\0...")]);
        let allowed = allow_foreign();
        let err = publish(&dir, &set(&[("a.json", "1")]), &allowed)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SQLite") && err.contains("copy.bin"), "{err}");
        assert!(!dir.join("a.json").exists());

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = publish(&link, &set(&[("a.json", "1")]), &allowed)
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
