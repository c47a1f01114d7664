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
///
/// With `limit_kib`, the child is stopped (SIGKILL) when its resident set, sampled
/// every 50 ms from `/proc/PID/status`, passes the limit, and that is reported as
/// [`BenchError::Limit`]. The child is waited for without reaping (`waitid` with
/// `WNOWAIT`) until the sampler has finished, so its pid cannot be reused by
/// another process while the sampler may still signal it.
pub fn run_once(cmd: &mut Command, limit_kib: Option<u64>) -> Result<Sample, BenchError> {
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
    let sampler = limit_kib.map(|limit| RssGuard::start(pid, limit));
    if let Some(guard) = sampler {
        // Wait until the child has exited, leaving it a zombie, then stop the sampler.
        loop {
            // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `pid` is our own unreaped child; `info` is a live local.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    libc::id_t::try_from(pid).unwrap_or(0),
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(BenchError::io("waitid", err));
            }
        }
        if let Some(peak) = guard.stop() {
            // Reap it; its exit status is the SIGKILL we sent.
            let mut status: libc::c_int = 0;
            // SAFETY: `pid` is our own unreaped child; `status` is a live local.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            drop(child);
            return Err(BenchError::Limit {
                what,
                detail: format!(
                    "stopped by the harness: resident set {} MiB passed the limit of {} MiB \
                     (--rss-limit-mib)",
                    peak / 1024,
                    limit_kib.unwrap_or(0) / 1024
                ),
            });
        }
    }
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

/// Samples a child's resident set on a thread and kills the child past a limit.
struct RssGuard {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<u64>>,
}

impl RssGuard {
    fn start(pid: libc::pid_t, limit_kib: u64) -> RssGuard {
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let seen = std::sync::Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            while !seen.load(Ordering::Acquire) {
                let rss = std::fs::read_to_string(&path).ok().and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                });
                if let Some(kib) = rss.filter(|&kib| kib > limit_kib) {
                    // SAFETY: plain syscall; the caller keeps `pid` unreaped until
                    // this thread has ended, so it is still our child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return Some(kib);
                }
                // Parked rather than asleep: `stop` unparks it, so a child that
                // exits does not wait out the rest of a 50 ms step before its
                // wall time is taken.
                std::thread::park_timeout(Duration::from_millis(50));
            }
            None
        });
        RssGuard { done, thread }
    }

    /// Ends the sampling; Some(resident set in KiB) when the child was killed.
    fn stop(self) -> Option<u64> {
        self.done.store(true, std::sync::atomic::Ordering::Release);
        self.thread.thread().unpark();
        self.thread.join().ok().flatten()
    }
}

/// Runs `before_each` then the command from `make` `reps` times.
pub fn measure(
    reps: usize,
    before_each: impl FnMut() -> Result<(), BenchError>,
    make: impl FnMut() -> Result<Command, BenchError>,
) -> Result<Measurement, BenchError> {
    measure_limited(reps, None, before_each, make)
}

/// [`measure`] with every run under [`run_once`]'s resident-set limit.
pub fn measure_limited(
    reps: usize,
    limit_kib: Option<u64>,
    mut before_each: impl FnMut() -> Result<(), BenchError>,
    mut make: impl FnMut() -> Result<Command, BenchError>,
) -> Result<Measurement, BenchError> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        before_each()?;
        let mut cmd = make()?;
        samples.push(run_once(&mut cmd, limit_kib)?);
    }
    Ok(Measurement { samples })
}
