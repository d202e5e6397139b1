//! Runs the real kgate binary as a child process and finds its listeners from the lines
//! it prints.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous: the machine is shared by several builds and test runs.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// A running kgate process, killed when dropped.
pub struct Kgate {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Kgate {
    /// Starts `kgate serve` with its data in `data_dir`, the REST Proxy on
    /// 127.0.0.1:0 and each of `settings` (`key=value`) given with `--set`.
    pub fn serve(data_dir: &Path, settings: &[&str]) -> Kgate {
        let data = format!("data.dir={}", path_str(data_dir));
        let mut args = vec!["serve", "--set", "listeners=http://127.0.0.1:0"];
        for setting in settings.iter().copied().chain([data.as_str()]) {
            args.extend(["--set", setting]);
        }
        Self::spawn(&args)
    }

    /// Starts `kgate ARGS...` with piped stdout/stderr.
    pub fn spawn(args: &[&str]) -> Kgate {
        Self::spawn_with_env(args, &[])
    }

    /// Starts `kgate ARGS...` with extra environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Kgate {
        Self::spawn_limited(args, env, None)
    }

    /// Starts `kgate ARGS...` with extra environment variables and, when given, at most
    /// `open_files` file descriptors (soft and hard limit, so kgate cannot raise it).
    pub fn spawn_limited(args: &[&str], env: &[(&str, &str)], open_files: Option<u64>) -> Kgate {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kgate"));
        if let Some(files) = open_files {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: files as libc::rlim_t,
                rlim_max: files as libc::rlim_t,
            };
            // SAFETY: between fork and exec only setrlimit runs, which is
            // async-signal-safe and touches nothing but the struct it is given.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "info");
        // Configuration from the environment outranks --set; a KGATE_* variable of the
        // developer's shell must not change what a test configures.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KGATE_") {
                command.env_remove(key);
            }
        }
        // The built-in Schema Registry would otherwise take port 8081, which tests running
        // side by side cannot share.
        command.env("KGATE_SCHEMA_REGISTRY_LISTENERS", "http://127.0.0.1:0");
        // So would the WebSocket proxy's 8078 and 9078.
        command.env("KGATE_WS_LISTENERS", "http://127.0.0.1:0");
        command.env("KGATE_WS_ADMIN_LISTENERS", "http://127.0.0.1:0");
        // Likewise the Connect worker's 8083.
        command.env("KGATE_CONNECT_LISTENERS", "http://127.0.0.1:0");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn the kgate binary");
        let (sender, lines) = mpsc::channel();
        // stdout and stderr both go to one channel, so a test sees listener lines and
        // log lines in one place (and a failure shows both).
        if let Some(stdout) = child.stdout.take() {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        Kgate {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an output line starting with `prefix` and returns the rest of it.
    pub fn wait_for_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        if let Some(found) = self.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
            return found.trim().to_string();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.strip_prefix(prefix).map(|r| r.trim().to_string());
                    self.seen.push(line);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(_) => panic!(
                    "kgate printed no line starting with {prefix:?} in time; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for an output line containing `needle` and returns it whole.
    pub fn wait_for_text(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        if let Some(found) = self.seen.iter().find(|l| l.contains(needle)) {
            return found.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle).then(|| line.clone());
                    self.seen.push(line);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(_) => panic!(
                    "kgate printed no line containing {needle:?} in time; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The broker address from "kgate broker listening on HOST:PORT".
    pub fn broker_address(&mut self) -> String {
        self.wait_for_line("kgate broker listening on ")
    }

    /// The REST base URL from "kgate REST Proxy listening on http://HOST:PORT".
    pub fn rest_url(&mut self) -> String {
        self.wait_for_line("kgate REST Proxy listening on ")
    }

    /// Process id, for sending signals.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid has no memory-safety concerns.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Waits up to `deadline` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `deadline` for a start-up that must fail (on `what`), checks that the
    /// exit status says so and returns the output, for the caller to look for the cause.
    pub fn refused_start(&mut self, deadline: Duration, what: &str) -> String {
        let status = self
            .wait_exit(deadline)
            .unwrap_or_else(|| panic!("kgate must exit on {what}"));
        // The process has exited, but its last lines may still be on their way through
        // the reader threads: take them until both pipes are closed.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => break,
            }
        }
        let output = self.output();
        assert!(!status.success(), "{output}");
        output
    }

    /// Everything printed so far (after draining what is buffered).
    pub fn output(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

impl Drop for Kgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A path as the `&str` the command line needs.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
