//! Measuring a child process: wall time from spawn to reap, and the child's peak
//! resident set size from the kernel's rusage (`wait4`), over N repetitions. The child
//! is the real release binary (or the sqlite3 CLI), so what is measured is what a
//! user's run costs, start-up included.

use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;

/// One run of the child.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    /// `ru_maxrss` of the child, KiB (Linux reports kilobytes).
    pub max_rss_kib: u64,
}

/// All runs of one step.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    pub samples: Vec<Sample>,
}

impl Measurement {
    pub fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort();
        let mid = walls.len() / 2;
        match (
            walls.len() % 2,
            walls.get(mid),
            mid.checked_sub(1).and_then(|m| walls.get(m)),
        ) {
            (1, Some(m), _) => *m,
            (_, Some(hi), Some(lo)) => (*hi + *lo) / 2,
            _ => Duration::ZERO,
        }
    }

    pub fn min(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.wall)
            .min()
            .unwrap_or_default()
    }

    /// The highest peak RSS over all runs, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.samples
            .iter()
            .map(|s| s.max_rss_kib)
            .max()
            .unwrap_or(0)
    }
}

/// Runs `cmd` once, to completion, and measures it. Stdout is discarded; stderr goes
/// to an unnamed temp file (a pipe could fill up and stall the child) and is quoted
/// in the error when the child fails.
#[allow(
    unsafe_code,
    reason = "wait4 with rusage has no safe wrapper (rustix has none)"
)]
pub fn run_once(cmd: &mut Command) -> Result<Sample, BenchError> {
    let what = format!("{cmd:?}");
    let mut stderr = tempfile::tempfile().map_err(|e| BenchError::io("create stderr file", e))?;
    let stderr_for_child = stderr
        .try_clone()
        .map_err(|e| BenchError::io("clone stderr file", e))?;
    cmd.stdout(Stdio::null())
        .stderr(Stdio::from(stderr_for_child));

    let start = Instant::now();
    let child = cmd.spawn().map_err(|source| BenchError::Spawn {
        what: what.clone(),
        source,
    })?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| BenchError::Child {
        what: what.clone(),
        detail: "process id out of range".into(),
    })?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child; both pointers are to live locals.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(BenchError::io("wait4", err));
        }
    }
    let wall = start.elapsed();
    // The child is reaped; dropping `Child` neither waits nor kills.
    drop(child);

    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let mut text = String::new();
        let _ = stderr.seek(SeekFrom::Start(0));
        let _ = stderr.read_to_string(&mut text);
        let tail: String = {
            let chars: Vec<char> = text.chars().collect();
            chars.iter().skip(chars.len().saturating_sub(600)).collect()
        };
        let how = if libc::WIFEXITED(status) {
            format!("exit code {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        return Err(BenchError::Child {
            what,
            detail: format!("{how}; stderr: {}", tail.trim()),
        });
    }
    Ok(Sample {
        wall,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// Runs `before_each` then the command from `make` `reps` times.
pub fn measure(
    reps: usize,
    mut before_each: impl FnMut() -> Result<(), BenchError>,
    mut make: impl FnMut() -> Result<Command, BenchError>,
) -> Result<Measurement, BenchError> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        before_each()?;
        let mut cmd = make()?;
        samples.push(run_once(&mut cmd)?);
    }
    Ok(Measurement { samples })
}
