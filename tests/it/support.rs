//! Shared test support: the one way new tests run the real binary, find fixtures,
//! make a scratch directory and serve HTTP on 127.0.0.1. Modules written before this
//! file still carry their own helpers; new tests use these.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

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

/// A command for the real binary with the environment a test must not inherit
/// (`OZGSYNC_*`, `RUST_LOG`, `NO_COLOR`) removed, running in `cwd`.
pub fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ozgsync"));
    cmd.current_dir(cwd).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OZGSYNC_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG");
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
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A scratch directory, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
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
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A small HTTP/1.1 server on 127.0.0.1 for the life of the test process. `answer`
/// gets the request line's path and the request headers (lower-case names) and
/// returns the reply. The server records every request line it saw.
pub struct Server {
    pub base: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub fn serve<F>(answer: F) -> Server
where
    F: Fn(&str, &[(String, String)]) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().unwrap());
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
                let _ = stream.write_all(&reply.body);
            });
        }
    });
    Server { base, requests }
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
    cmd.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        env!("CARGO_BIN_EXE_ozgsync"),
    ])
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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
