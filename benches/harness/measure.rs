//! Measuring a child process: wall time from spawn to reap, and the child's CPU time
//! (user + system, all its threads) and peak resident set size from the kernel's
//! rusage (`wait4`), over N repetitions. The child is the real release binary (or the
//! sqlite3 CLI), so what is measured is what a user's run costs, start-up included.
//! A comparison with a baseline runs the two alternately ([`measure_interleaved`]),
//! so both see the same minutes of a noisy host.

use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;

/// One run of the child.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    /// User + system CPU time of the child (`ru_utime + ru_stime`), every thread.
    pub cpu: Duration,
    /// `ru_maxrss` of the child, KiB (Linux reports kilobytes).
    pub max_rss_kib: u64,
}

/// All runs of one step.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    pub samples: Vec<Sample>,
}

/// The median of `values` (the mean of the middle two for an even count); None when
/// empty.
pub fn median_of<T>(mut values: Vec<T>, mean2: impl Fn(T, T) -> T) -> Option<T>
where
    T: Copy + PartialOrd,
{
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mid = values.len() / 2;
    match (
        values.len() % 2,
        values.get(mid),
        mid.checked_sub(1).and_then(|m| values.get(m)),
    ) {
        (1, Some(m), _) => Some(*m),
        (_, Some(hi), Some(lo)) => Some(mean2(*lo, *hi)),
        _ => None,
    }
}

fn median_duration(values: Vec<Duration>) -> Duration {
    median_of(values, |a, b| (a + b) / 2).unwrap_or_default()
}

impl Measurement {
    /// The median wall time.
    pub fn median(&self) -> Duration {
        median_duration(self.samples.iter().map(|s| s.wall).collect())
    }

    /// The median CPU time (user + system).
    pub fn cpu_median(&self) -> Duration {
        median_duration(self.samples.iter().map(|s| s.cpu).collect())
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
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
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

/// What [`measure_interleaved`] measured of each side. A side that fails keeps its
/// error and is not run again; the other side goes on to its `reps` runs.
pub struct Interleaved {
    pub ours: Result<Measurement, BenchError>,
    pub base: Result<Measurement, BenchError>,
}

/// Runs ours and the baseline alternately, `reps` times each: set-up and run i of
/// ours, then set-up and run i of the baseline. Measured one after the other, a
/// host that is busy for a minute bends one side's median and not the other's;
/// alternated, sample i of both sides comes from the same minute, which is what
/// [`Pair`] compares.
#[allow(clippy::too_many_arguments)]
pub fn measure_interleaved(
    reps: usize,
    limit_kib: Option<u64>,
    mut ours_before: impl FnMut() -> Result<(), BenchError>,
    mut ours_make: impl FnMut() -> Result<Command, BenchError>,
    mut base_before: impl FnMut() -> Result<(), BenchError>,
    mut base_make: impl FnMut() -> Result<Command, BenchError>,
) -> Interleaved {
    let mut ours = Ok(Measurement::default());
    let mut base = Ok(Measurement::default());
    for _ in 0..reps.max(1) {
        sample_into(&mut ours, &mut ours_before, &mut ours_make, limit_kib);
        sample_into(&mut base, &mut base_before, &mut base_make, limit_kib);
    }
    Interleaved { ours, base }
}

/// One set-up and run of a side of [`measure_interleaved`], its sample added to
/// `side`; a side that failed before is not run again, one that fails now keeps
/// the error.
fn sample_into(
    side: &mut Result<Measurement, BenchError>,
    before: &mut impl FnMut() -> Result<(), BenchError>,
    make: &mut impl FnMut() -> Result<Command, BenchError>,
    limit_kib: Option<u64>,
) {
    if let Ok(m) = side {
        match before()
            .and_then(|()| make())
            .and_then(|mut cmd| run_once(&mut cmd, limit_kib))
        {
            Ok(sample) => m.samples.push(sample),
            Err(e) => *side = Err(e),
        }
    }
}

/// Ours against a baseline measured by [`measure_interleaved`]: sample i of each
/// side ran back to back.
pub struct Pair<'a> {
    pub ours: &'a Measurement,
    pub base: &'a Measurement,
}

impl Pair<'_> {
    /// The ratio of the median wall times: what the aims are stated in.
    pub fn wall_ratio(&self) -> f64 {
        self.ours.median().as_secs_f64() / self.base.median().as_secs_f64().max(1e-9)
    }

    /// Each run's wall time over that of the baseline run right after it, in run
    /// order. A minute of host noise moves both runs of a pair, so their ratio
    /// keeps still where the ratio of medians does not.
    pub fn pair_ratios(&self) -> Vec<f64> {
        self.ours
            .samples
            .iter()
            .zip(&self.base.samples)
            .map(|(o, b)| o.wall.as_secs_f64() / b.wall.as_secs_f64().max(1e-9))
            .collect()
    }

    /// The median of [`Pair::pair_ratios`].
    pub fn pair_ratio(&self) -> Option<f64> {
        median_of(self.pair_ratios(), |a, b| (a + b) / 2.0)
    }

    /// The ratio of the median CPU times (user + system): what the code costs,
    /// whatever else the host runs, short of cache and frequency effects.
    pub fn cpu_ratio(&self) -> f64 {
        self.ours.cpu_median().as_secs_f64() / self.base.cpu_median().as_secs_f64().max(1e-9)
    }
}
