//! Shared test support, the one home of every helper more than one module uses:
//! the one way tests run the real binary ([`command`]; [`run_db`]/[`run_in`] collect
//! text, [`output_db`]/[`output_in`] keep raw bytes), [`fixture`], a scratch directory,
//! a temporary database ([`database`], [`Db`]), small catalogue databases built
//! through the library ([`setup`], [`apply`], [`leika_release`]), generated payloads
//! ([`big_directory`]), HTTP on 127.0.0.1 ([`serve`]; raw bytes: [`raw_server`]) and headless Chromium
//! ([`chromium`], [`headless`]). Test modules import from here, never from each
//! other; `tests/it/tidy.rs` keeps `CARGO_BIN_EXE_ozgsync` here.

#![allow(dead_code)]

/// The benchmark data generator (`benches/harness/gen.rs`, included by path because
/// a `harness = false` bench cannot hold tests): tested in `bench_gen`, and the
/// source of large generated releases for other tests.
#[allow(dead_code)]
#[path = "../../benches/harness/gen.rs"]
pub mod gen;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ozgsync::fetch::{FetchPolicy, Location, Payload, Validators};
use ozgsync::model::{Entity, Level, MunicipalityRecord, Record, ServiceRecord};
use ozgsync::parse::{Change, Item};
use ozgsync::store;
use ozgsync::store::release::{self, Mode, ReleaseMeta, ReleaseSummary};
use ozgsync::sync::{run_source, SourceKind, SourceSpec};

/// What one run of the binary left: exit code (None when killed by a signal),
/// stdout and stderr as text.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with both streams when the run did not exit 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success: {self:#?}");
        self
    }

    /// Panics with both streams when the run did not exit with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{self:#?}");
        self
    }
}

/// The repository root (the test process's working directory under cargo), which
/// relative paths such as `fixtures/...` in arguments are resolved against.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The built binary under test.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ozgsync"))
}

/// A command for the real binary with the environment a test must not inherit
/// (`OZGSYNC_*`, `RUST_LOG`, `NO_COLOR`) removed, running in `cwd`. The user's
/// config folder (`$XDG_CONFIG_HOME`) is one that does not exist, so that a
/// developer's `~/.config/ozgsync/ozgsync.toml` is not read.
pub fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(cwd).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OZGSYNC_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd.env("XDG_CONFIG_HOME", "/nonexistent/ozgsync-tests/xdg-config");
    cmd
}

/// Runs the binary in `cwd` with `args` and collects its output.
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    collect(command(cwd).args(args))
}

/// Runs the binary against database `db` (`--db db ARGS`) in the database's folder.
pub fn run_db(db: &Path, args: &[&str]) -> Run {
    let cwd = db.parent().unwrap_or(Path::new("."));
    collect(command(cwd).arg("--db").arg(db).args(args))
}

/// Runs the binary in `cwd` with `args`; the raw output (bytes, exit status).
pub fn output_in(cwd: &Path, args: &[&str]) -> Output {
    command(cwd)
        .args(args)
        .output()
        .expect("the ozgsync binary runs")
}

/// Runs the binary against database `db` (`--db db ARGS`) in the repository root, so
/// relative `fixtures/...` arguments hold; the raw output (bytes, exit status).
pub fn output_db(db: &Path, args: &[&str]) -> Output {
    command(root())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("the ozgsync binary runs")
}

/// Runs a prepared command and collects its output.
pub fn collect(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("the ozgsync binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The absolute path of a file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// A scratch directory, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The names in `dir` that start with `prefix`, sorted: what a refused command left
/// of a database (the file, its lock file, SQLite's `-journal`/`-wal` beside it).
pub fn files_starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// A database in `dir` with the bundled LeiKa sample imported (one applied
/// release): the usual starting point of a test that needs some data.
pub fn leika_db(dir: &Path) -> PathBuf {
    let db = dir.join("ozgsync.db");
    run_db(
        &db,
        &[
            "import",
            "leika",
            fixture("leika/leika_sample_nrw2019.csv").to_str().unwrap(),
        ],
    )
    .assert_ok();
    db
}

/// One canned HTTP answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How long the server stalls halfway through the body (a slow download).
    pub stall: Option<Duration>,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            stall: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends the first half of the body, then waits `pause` before the rest.
    pub fn stall(mut self, pause: Duration) -> Self {
        self.stall = Some(pause);
        self
    }
}

/// A small HTTP/1.1 server on 127.0.0.1 for the life of the test process. `answer`
/// gets the request target (path and query) and the request headers (lower-case
/// names) and returns the reply. The server records every request line it saw.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// The target (path and query) of every request so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|line| line.split_whitespace().nth(1).unwrap_or("").to_owned())
            .collect()
    }

    /// How many requests asked for `target`.
    pub fn hits(&self, target: &str) -> usize {
        self.targets().iter().filter(|t| *t == target).count()
    }
}

pub fn serve<F>(answer: F) -> Server
where
    F: Fn(&str, &[(String, String)]) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let seen = Arc::clone(&seen);
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || {
                let Ok(clone) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(clone);
                let mut first = String::new();
                if reader.read_line(&mut first).unwrap_or(0) == 0 {
                    return;
                }
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                }
                seen.lock().unwrap().push(first.trim().to_owned());
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = answer(&path, &headers);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (name, value) in &reply.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                match reply.stall {
                    Some(pause) => {
                        let (first, rest) = reply.body.split_at(reply.body.len() / 2);
                        let _ = stream.write_all(first);
                        let _ = stream.flush();
                        std::thread::sleep(pause);
                        let _ = stream.write_all(rest);
                    }
                    None => {
                        let _ = stream.write_all(&reply.body);
                    }
                }
            });
        }
    });
    Server {
        base,
        port,
        requests,
    }
}

/// A raw HTTP server on 127.0.0.1 for the answers a well-behaved server cannot
/// give (no length, a cut gzip stream, 500 header lines, not HTTP at all): it
/// reads each request's head, counts the request, writes the bytes `answer`
/// gives for it (the request's number from 1, its head) and closes the connection,
/// so a body without a length ends there.
pub struct RawServer {
    pub base: String,
    pub port: u16,
    count: Arc<std::sync::atomic::AtomicUsize>,
}

impl RawServer {
    /// How many requests were read so far.
    pub fn requests(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub fn raw_server<F>(answer: F) -> RawServer
where
    F: Fn(usize, &str) -> Vec<u8> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            // A client that sends no head (a TLS handshake on a plain port) is
            // answered after a second, as a plain-HTTP server answers garbage.
            let _ = clone.set_read_timeout(Some(Duration::from_secs(1)));
            let mut reader = BufReader::new(clone);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let _ = stream.write_all(&answer(n, &head));
        }
    });
    RawServer {
        base: format!("http://127.0.0.1:{port}"),
        port,
        count,
    }
}

/// The flags of every headless Chromium run: no GPU, no sandbox, nothing fetched
/// beyond the page itself.
const HEADLESS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Headless Chromium (`chromium` or `chromium-browser` on `PATH`), or None after a
/// loud message that `what` was not checked. CI installs it (`.ci/run`), so there
/// (`CI` set) a missing browser fails the test.
pub fn chromium(what: &str) -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is not installed: .ci/run installs it (apt-get install -y chromium)"
        );
        eprintln!(
            "\n!!!! SKIPPED: chromium is not installed, {what} was NOT checked in a browser \
             (apt-get install -y chromium) !!!!\n"
        );
    }
    found
}

/// A headless run of `browser` with its own `profile` directory; the caller adds
/// the window size, what to produce and the URL.
pub fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// A command that runs the real binary as user `nobody` (group `nogroup`, no
/// supplementary groups) through util-linux `setpriv`, with the same clean
/// environment as [`command`]. None when that is impossible here (not root, or no
/// `setpriv`); the caller then skips with a message saying so.
pub fn command_as_nobody(cwd: &Path) -> Option<Command> {
    let root = std::fs::metadata("/proc/self").ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    if root != Some(true) {
        return None;
    }
    let mut cmd = Command::new(setpriv);
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(binary())
        .current_dir(cwd)
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OZGSYNC_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG");
    Some(cmd)
}

/// README's quick start in `dir`: `deploy/ozgsync.example.toml` copied to
/// `dir/deploy/` with `dir/fixtures` linking to the bundled fixtures, so its
/// relative paths hold and its exports land in `dir/out`; then `sync` run in `dir`.
/// Returns the database, `dir/ozgsync.db`.
pub fn quick_start(dir: &Path) -> PathBuf {
    let root = root();
    std::fs::create_dir_all(dir.join("deploy")).expect("a deploy directory");
    std::fs::copy(
        root.join("deploy/ozgsync.example.toml"),
        dir.join("deploy/ozgsync.example.toml"),
    )
    .expect("the example config");
    std::os::unix::fs::symlink(root.join("fixtures"), dir.join("fixtures")).expect("a link");
    let run = collect(command(dir).args(["sync", "--config", "deploy/ozgsync.example.toml"]));
    run.assert_ok();
    dir.join("ozgsync.db")
}

/// A database file in its own temporary directory, removed when dropped; `run`
/// and `ok` run the binary against it in the repository root.
pub struct Db {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Db {
    pub fn new() -> Db {
        let dir = scratch();
        let path = dir.path().join("ozgsync.db");
        Db { _dir: dir, path }
    }

    /// Runs `--db DB ARGS`; the raw output.
    pub fn run(&self, args: &[&str]) -> Output {
        output_db(&self.path, args)
    }

    /// Runs and asserts the exit code; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// A fresh, migrated database in a temporary directory (kept alive by the returned
/// guard), opened through the library as a writer.
pub fn database() -> (tempfile::TempDir, PathBuf, rusqlite::Connection) {
    let dir = scratch();
    let path = dir.path().join("t.db");
    let conn = store::open(&path).unwrap();
    (dir, path, conn)
}

/// Counts the versions a release created that lie outside the range of ids the
/// release recorded (`releases.first_version_id`, `last_version_id`, schema
/// 0024), where `diff` looks for them: 0 in every database ozgsync wrote.
pub const VERSIONS_OUTSIDE_THEIR_RELEASE: &str = "SELECT count(*) FROM record_versions v
     JOIN releases r ON r.release_id = v.valid_from
     WHERE r.first_version_id IS NULL OR r.last_version_id IS NULL
        OR v.version_id NOT BETWEEN r.first_version_id AND r.last_version_id";

/// Every row of `sql` against `db`, each row's values joined by a space (NULL as
/// `∅`, a blob as `blob`).
pub fn rows(db: &Path, sql: &str) -> Vec<String> {
    rows_of(&store::open(db).unwrap(), sql)
}

/// [`rows`] on an open connection (one that holds temporary views, say).
pub fn rows_of(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => "∅".to_owned(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Real(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                rusqlite::types::ValueRef::Blob(_) => "blob".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" "))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Imports a file through the same path as `ozgsync import`.
pub fn import(
    conn: &mut rusqlite::Connection,
    kind: SourceKind,
    file: &Path,
) -> ozgsync::Result<ReleaseSummary> {
    let spec = SourceSpec::new(kind.as_str(), kind, Location::Path(file.to_owned()), None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    run_source(conn, &spec, &FetchPolicy::default(), runtime.handle())
}

/// Applies a LeiKa release made of `(key, name)` pairs under source `kind` (full).
pub fn leika_release(conn: &mut rusqlite::Connection, kind: &str, services: &[(&str, &str)]) {
    let records: Vec<ServiceRecord> = services
        .iter()
        .map(|(key, name)| ServiceRecord {
            leistungsschluessel: key.to_string(),
            bezeichnung: name.to_string(),
            leistungstyp: ozgsync::model::leistungstyp_of(key).into(),
            ..Default::default()
        })
        .collect();
    apply(conn, kind, Entity::Service, records);
}

/// A payload file holding `content`, as `fetch` would hand it over.
fn payload(content: &str) -> Payload {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    Payload {
        file: file.into(),
        sha256: Some(format!("{:0>64}", release::content_hash(content))),
        size: content.len() as u64,
        validators: Validators::default(),
        origin: "test".into(),
    }
}

/// Applies `records` as one full release of `entity` under source `source`.
pub fn apply<T: Record + 'static>(
    conn: &mut rusqlite::Connection,
    source: &str,
    entity: Entity,
    records: Vec<T>,
) {
    let content = serde_json::to_string(&records).unwrap();
    let meta = ReleaseMeta {
        source: source.into(),
        kind: source.into(),
        entity,
        mode: Mode::Full,
        location: "test".into(),
        fetched_at: store::now_utc(),
        max_retire_share: 1.0,
        check_edition: false,
    };
    let items = Box::new(records.into_iter().enumerate().map(|(i, r)| {
        Ok(Item::Record {
            position: format!("record {}", i + 1),
            change: Change::Upsert(r),
        })
    }));
    release::apply(conn, &meta, &mut payload(&content), items).unwrap();
}

/// The LeiKa keys of [`setup`]: (key, name, synonyms).
pub const KEYS: &[(&str, &str, &[&str])] = &[
    (
        "99041006017000",
        "Hundesteuer Anmeldung",
        &["Hund anmelden"],
    ),
    (
        "99102013000000",
        "Straßenverkehrsbehörde Sondernutzung",
        &[],
    ),
    (
        "99012001001000",
        "Personalausweis beantragen",
        &["Ausweis", "Perso"],
    ),
];

/// The Gemeinden of [`setup`]: (ARS, name).
pub const GEMEINDEN: &[(&str, &str)] = &[
    ("032410001001", "Hannover, Landeshauptstadt"),
    ("031010000000", "Braunschweig, Stadt"),
    ("031515406001", "Adenbüttel"),
];

pub fn service(key: &str, name: &str, synonyme: &[&str]) -> ServiceRecord {
    ServiceRecord {
        leistungsschluessel: key.into(),
        bezeichnung: name.into(),
        leistungstyp: ozgsync::model::leistungstyp_of(key).into(),
        typisierung: vec!["5".into()],
        synonyme: synonyme.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn gemeinde(ars: &str, name: &str) -> MunicipalityRecord {
    MunicipalityRecord {
        level: Level::Gemeinde,
        ars: ars.into(),
        ags: None,
        name: name.into(),
        textkennzeichen: Some("64".into()),
        kreis_ars: None,
        verband_ars: None,
        gebietsstand: "2025-11-30".into(),
        sitz: None,
    }
}

/// A database with [`KEYS`] and [`GEMEINDEN`], and two annotations
/// (99041006017000 executed by Kommunen, 99102013000000 by the Land under MI).
pub fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let db = dir.path().join("t.db");
    let mut conn = store::open(&db).unwrap();
    apply(
        &mut conn,
        "leika",
        Entity::Service,
        KEYS.iter().map(|(k, n, s)| service(k, n, s)).collect(),
    );
    apply(
        &mut conn,
        "gv100ad",
        Entity::Municipality,
        GEMEINDEN.iter().map(|(a, n)| gemeinde(a, n)).collect(),
    );
    conn.execute_batch(
        "INSERT INTO annotations (leistungsschluessel, ressort_id, vollzug, umsetzungsweg, updated_at, updated_by)
         VALUES ('99041006017000', 2, 'kommune', 'eigenloesung', '2025-01-01T00:00:00Z', 'test'),
                ('99102013000000', 2, 'land', 'wfu_navo', '2025-01-01T00:00:00Z', 'test');",
    )
    .unwrap();
    (dir, db)
}

/// A GV100AD file at `path`: the real Lower Saxony lines plus `extra` synthetic
/// Gemeinden (enough of them make an import that runs for seconds).
pub fn big_directory(path: &Path, extra: usize) {
    let mut text = std::fs::read_to_string(fixture("gv100ad/GV100AD_30112025_NI.txt")).unwrap();
    for i in 0..extra {
        let (r, v, g) = (i % 10, (i / 10) % 10_000, i / 100_000);
        let ags = format!("03{r}99{g:03}");
        let name = format!("Testgemeinde Nr. {i} an der Ähre");
        let mut line = format!("6020251130{ags}{v:04}{name:<50}");
        line.push_str(&" ".repeat(122 - line.chars().count()));
        line.push_str("64");
        line.push_str(&" ".repeat(220 - line.chars().count()));
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Writes `cells` as text into `row` of a worksheet, from its first column on: a
/// sheet's header, or a row of it, as a coordinator types them.
pub fn write_row<T: ToString>(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    cells: impl IntoIterator<Item = T>,
) {
    for (column, cell) in (0u16..).zip(cells) {
        sheet.write_string(row, column, cell.to_string()).unwrap();
    }
}

/// `KIND import --by MK FILE`: the coordinators' import of sheet `kind`
/// (`annotations`, `status`, `efa-nachnutzung`).
pub fn import_sheet(db: &Path, kind: &str, file: &Path) -> Run {
    run_db(db, &[kind, "import", "--by", "MK", file.to_str().unwrap()])
}

/// Writes the XLSX template of sheet `kind` to `out`.
pub fn write_template(db: &Path, kind: &str, out: &Path) {
    run_db(
        db,
        &[
            "template",
            kind,
            "--format",
            "xlsx",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_ok();
}

/// The definition of view `name` as migrations 0001 to 0017 left it (in a
/// database migrated that far, `store::migrate_to`), created as the temporary view
/// `as_name`: a view as it was before a later migration rewrote it, to compare
/// their answers.
pub fn view_of_schema_17(name: &str, as_name: &str) -> String {
    let dir = scratch();
    let path = dir.path().join("schema17.db");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    store::migrate_to(&mut conn, &path, 17).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'view' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .expect("the view in schema 17");
    let head = format!("CREATE VIEW {name} AS");
    let body = sql.strip_prefix(&head).expect("the view's head");
    format!("CREATE TEMP VIEW IF NOT EXISTS {as_name} AS{body}")
}

/// A pseudo-terminal pair: the master to read what the child writes, the slave as
/// the child's stderr (a terminal to it).
pub fn pty() -> (std::fs::File, std::fs::File) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::os::unix::ffi::OsStrExt;
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudo-terminal");
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
        .expect("the pseudo-terminal's slave");
    (std::fs::File::from(master), slave)
}

/// Sends `signal` (`kill`'s form: `-TERM`, `-HUP`) to process `pid`, through
/// `kill(1)` as an operator would.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// Whether process `pid` still runs: neither gone nor a zombie waiting to be
/// reaped (which `/proc` still lists).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which is in parentheses and may hold
        // spaces.
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}
