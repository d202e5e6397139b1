//! The broker and gateway child processes, and what /proc says about them (CPU seconds,
//! resident memory) so kgate's own cost is read apart from the broker and the load
//! generator.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a child may take to print its listener line on a loaded machine.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// Output lines kept per child, shown when something goes wrong.
const KEPT_LINES: usize = 40;

/// A kgate child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    label: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Starts `bin ARGS...` with no KGATE_* variables from the caller's environment.
    pub fn spawn(label: &str, bin: &Path, args: &[&str]) -> Result<Proc> {
        let mut command = Command::new(bin);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KGATE_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {label}: {}", bin.display()))?;
        let (sender, lines) = mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        // Both streams are drained for the child's whole life (a full pipe would stall
        // its logging); only listener lines and a short tail are kept.
        if let Some(out) = child.stdout.take() {
            drain(out, sender.clone(), tail.clone());
        }
        if let Some(err) = child.stderr.take() {
            drain(err, sender, tail.clone());
        }
        Ok(Proc {
            label: label.to_string(),
            child,
            lines,
            tail,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line starting with `prefix` and returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str) -> Result<String> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                }
                Err(_) => bail!(
                    "{} printed no line starting with {prefix:?}; last output:\n{}",
                    self.label,
                    self.tail()
                ),
            }
        }
    }

    /// The last lines the child printed.
    pub fn tail(&self) -> String {
        match self.tail.lock() {
            Ok(t) => t.iter().cloned().collect::<Vec<_>>().join("\n"),
            Err(_) => String::new(),
        }
    }

    /// User plus system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.pid())
    }

    /// Current resident set size in MiB.
    pub fn rss_mib(&self) -> Result<f64> {
        status_kib(self.pid(), "VmRSS:").map(|k| k as f64 / 1024.0)
    }

    /// Peak resident set size in MiB since start or the last [`Proc::reset_peak`].
    pub fn peak_rss_mib(&self) -> Result<f64> {
        status_kib(self.pid(), "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// Resets the peak resident set size to the current one (Linux `clear_refs` 5), so
    /// each workload's peak is its own.
    pub fn reset_peak(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .context("resetting the peak RSS")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A graceful stop first, so the broker flushes and closes its files.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(
    stream: impl Read + Send + 'static,
    sender: mpsc::Sender<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.starts_with("kgate ") {
                let _ = sender.send(line.clone());
            }
            if let Ok(mut t) = tail.lock() {
                if t.len() == KEPT_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    });
}

/// User plus system CPU seconds of process `pid` (fields 14 and 15 of /proc/PID/stat).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .context("unexpected /proc/PID/stat")?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks as f64 / hz)
}

fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// CPU seconds (user plus system) this process has used so far: the load generator, and
/// during native workloads the rdkafka clients.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Raises this process's open-file limit to the hard limit: the 1,000-connection workload
/// needs a socket per connection here and in the gateway (which inherits the limit).
pub fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
