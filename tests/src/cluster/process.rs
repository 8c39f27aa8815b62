//! A guard around one child process (a `raftkv serve`, in the cluster): its output goes to log
//! files, the test can kill it with SIGKILL, pause and resume it (SIGSTOP, SIGCONT) and stop
//! it with SIGTERM; dropping the guard kills and reaps it.
//!
//! Every signal goes to the guard's own child by its pid, and only while the child is not
//! reaped: until `wait` collects it, its pid cannot be given to another process, so a signal
//! can never reach a stranger.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often a bounded wait looks at the child again.
const POLL: Duration = Duration::from_millis(10);

/// How long [`ChildGuard`] waits for a SIGKILLed child to be reaped before giving up on it
/// (the kernel delivers SIGKILL at once; only an uninterruptible sleep in the kernel delays it).
const KILL_REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// A free loopback address: port 0 bound and released. Another process could take the port
/// before it is used; on a test machine that is rare, and the process that then fails to bind
/// it says so in its log.
///
/// # Errors
/// If no socket can be bound.
pub fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// How a child ended when asked to stop with SIGTERM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// True if it outlived the grace period and was killed with SIGKILL.
    pub forced: bool,
}

impl Stopped {
    /// True for a stop on SIGTERM as a server should: exit code 0 within the grace period.
    #[must_use]
    pub fn clean(&self) -> bool {
        !self.forced && self.status.code() == Some(0)
    }
}

/// One child process and its log files; see the [module](self) documentation.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    /// Set once the child is reaped: no signal is sent after that.
    status: Option<ExitStatus>,
    paused: bool,
    stdout_log: PathBuf,
    stderr_log: PathBuf,
}

impl ChildGuard {
    /// Starts `command`, its stdout and stderr appended to `<log_dir>/<name>.stdout.log` and
    /// `<name>.stderr.log` (a restart adds to the same files, after a line that marks it);
    /// stdin is closed.
    ///
    /// # Errors
    /// If the log files cannot be opened or the process cannot be started.
    pub fn spawn(mut command: Command, log_dir: &Path, name: &str) -> io::Result<ChildGuard> {
        std::fs::create_dir_all(log_dir)?;
        let stdout_log = log_dir.join(format!("{name}.stdout.log"));
        let stderr_log = log_dir.join(format!("{name}.stderr.log"));
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let marker = format!(
            "=== {name} started at {}.{:03} (unix time): {command:?}\n",
            since_epoch.as_secs(),
            since_epoch.subsec_millis()
        );
        let open = |path: &Path| -> io::Result<File> {
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            file.write_all(marker.as_bytes())?;
            Ok(file)
        };
        let stdout = open(&stdout_log)?;
        let stderr = open(&stderr_log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()?;
        Ok(ChildGuard {
            name: name.to_owned(),
            child,
            status: None,
            paused: false,
            stdout_log,
            stderr_log,
        })
    }

    /// The name it was started with.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where its stderr goes.
    #[must_use]
    pub fn stderr_log(&self) -> &Path {
        &self.stderr_log
    }

    /// Where its stdout goes.
    #[must_use]
    pub fn stdout_log(&self) -> &Path {
        &self.stdout_log
    }

    /// True while it is stopped by [`pause`](Self::pause).
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Its exit status if it has ended (reaped now if it just did), `None` while it runs.
    ///
    /// # Errors
    /// If waiting fails.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// True while it has not ended.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Sends `signal` to the child, unless it has already been reaped.
    fn signal(&mut self, signal: Signal) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Err(io::Error::other(format!("{} has already exited", self.name)));
        }
        let pid = i32::try_from(self.child.id()).map_err(io::Error::other)?;
        kill(Pid::from_raw(pid), signal).map_err(io::Error::from)
    }

    /// Kills it with SIGKILL (a crash: no chance to clean up) and reaps it.
    ///
    /// # Errors
    /// If it had already ended and been reaped, or it could not be killed or reaped.
    pub fn kill9(&mut self) -> io::Result<ExitStatus> {
        if self.try_wait()?.is_some() {
            return Err(io::Error::other(format!("{} has already exited", self.name)));
        }
        self.child.kill()?;
        self.paused = false;
        self.wait_bounded(KILL_REAP_TIMEOUT)?
            .ok_or_else(|| io::Error::other(format!("{} did not die of SIGKILL", self.name)))
    }

    /// Stops it with SIGSTOP: it keeps its sockets and files but runs no more.
    ///
    /// # Errors
    /// If it has ended or the signal fails.
    pub fn pause(&mut self) -> io::Result<()> {
        self.signal(Signal::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    /// Lets it run again with SIGCONT.
    ///
    /// # Errors
    /// If it has ended or the signal fails.
    pub fn resume(&mut self) -> io::Result<()> {
        self.signal(Signal::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    /// Asks it to stop with SIGTERM (and SIGCONT, should it be paused), waits up to `grace`
    /// for it to exit, then kills it with SIGKILL; reaps it either way.
    ///
    /// # Errors
    /// If it had already ended, or a signal or the wait fails.
    pub fn terminate(&mut self, grace: Duration) -> io::Result<Stopped> {
        self.signal(Signal::SIGTERM)?;
        if self.paused {
            self.resume()?;
        }
        if let Some(status) = self.wait_bounded(grace)? {
            return Ok(Stopped {
                status,
                forced: false,
            });
        }
        tracing::warn!(name = %self.name, ?grace, "still running after SIGTERM; killing it");
        let status = self.kill9()?;
        Ok(Stopped { status, forced: true })
    }

    /// Waits up to `timeout` for it to end.
    ///
    /// # Errors
    /// If waiting fails.
    pub fn wait_bounded(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(POLL);
        }
    }

    /// Its stderr log as text (lossy), for looking for a line or showing on failure.
    #[must_use]
    pub fn stderr_text(&self) -> String {
        std::fs::read(&self.stderr_log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for `needle` to appear in its stderr log after its last start
    /// marker; false if the time runs out or the process ends first.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stderr_text();
            // What follows the last start marker's line (the marker names the command, which
            // may well contain the needle itself).
            let marker = text.rfind("\n=== ").map_or(0, |i| i + 1);
            let this_run = text[marker..].find('\n').map_or("", |end| &text[marker + end..]);
            if this_run.contains(needle) {
                return true;
            }
            if !self.is_running() || Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL);
        }
    }

    /// Its exit status as one word for reports: "exit 0", "signal 9", or "running".
    pub fn describe(&mut self) -> String {
        match self.try_wait() {
            Ok(Some(status)) => describe_status(status),
            Ok(None) => "running".to_owned(),
            Err(err) => format!("unknown ({err})"),
        }
    }
}

/// An exit status as reports show it: "exit N" or "signal N".
#[must_use]
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => format!("{status}"),
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGKILL ends a stopped process too.
        if let Err(err) = self.child.kill() {
            tracing::warn!(name = %self.name, pid = self.child.id(), "could not kill: {err}");
        }
        match self.wait_bounded(KILL_REAP_TIMEOUT) {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!(name = %self.name, pid = self.child.id(), "not reaped after SIGKILL"),
            Err(err) => tracing::warn!(name = %self.name, pid = self.child.id(), "wait failed: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state letter of process `pid` in /proc (R, S, T, Z, ...), `None` once it is gone.
    fn proc_state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: the state follows the last.
        stat[stat.rfind(')')? + 1..].trim_start().chars().next()
    }

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn kill9_ends_the_child_with_sigkill_and_reaps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = ChildGuard::spawn(sh("exec sleep 30"), dir.path(), "sleeper").expect("spawn");
        assert!(child.is_running());
        let pid = child.pid();
        let status = child.kill9().expect("kill9");
        assert_eq!(status.signal(), Some(9));
        assert_eq!(describe_status(status), "signal 9");
        assert_eq!(proc_state(pid), None, "the child is still there after kill9");
        assert!(child.kill9().is_err(), "a reaped child cannot be signalled");
        assert!(child.pause().is_err());
    }

    #[test]
    fn pause_stops_the_child_and_resume_lets_it_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = ChildGuard::spawn(sh("exec sleep 30"), dir.path(), "sleeper").expect("spawn");
        let pid = child.pid();
        child.pause().expect("pause");
        assert!(child.is_paused());
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_state(pid) != Some('T') && Instant::now() < deadline {
            thread::sleep(POLL);
        }
        assert_eq!(proc_state(pid), Some('T'));
        child.resume().expect("resume");
        assert!(!child.is_paused());
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_state(pid) == Some('T') && Instant::now() < deadline {
            thread::sleep(POLL);
        }
        assert!(
            matches!(proc_state(pid), Some('R' | 'S')),
            "{:?}",
            proc_state(pid)
        );
    }

    #[test]
    fn terminate_sends_sigterm_and_kills_a_child_that_ignores_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Exits 0 on SIGTERM, as a server should.
        let mut polite = ChildGuard::spawn(
            sh("trap 'exit 0' TERM; echo trapped >&2; while :; do sleep 0.05; done"),
            dir.path(),
            "polite",
        )
        .expect("spawn");
        assert!(polite.wait_for_stderr("trapped\n", Duration::from_secs(5)));
        let stopped = polite.terminate(Duration::from_secs(5)).expect("terminate");
        assert!(stopped.clean(), "{stopped:?}");

        // A paused child still gets the SIGTERM (SIGCONT follows it).
        let mut paused = ChildGuard::spawn(sh("exec sleep 30"), dir.path(), "paused").expect("spawn");
        paused.pause().expect("pause");
        let stopped = paused.terminate(Duration::from_secs(5)).expect("terminate");
        assert_eq!((stopped.status.signal(), stopped.forced), (Some(15), false));

        // Ignores SIGTERM (exec keeps an ignored signal ignored): killed after the grace.
        let mut stubborn = ChildGuard::spawn(
            sh("trap '' TERM; echo trapped >&2; exec sleep 30"),
            dir.path(),
            "stubborn",
        )
        .expect("spawn");
        assert!(stubborn.wait_for_stderr("trapped\n", Duration::from_secs(5)));
        let started = Instant::now();
        let stopped = stubborn.terminate(Duration::from_millis(300)).expect("terminate");
        assert!(stopped.forced);
        assert_eq!(stopped.status.signal(), Some(9));
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(!stopped.clean());
    }

    #[test]
    fn dropping_the_guard_kills_and_reaps_the_child_even_when_paused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = ChildGuard::spawn(sh("exec sleep 30"), dir.path(), "sleeper").expect("spawn");
        let pid = child.pid();
        child.pause().expect("pause");
        drop(child);
        assert_eq!(proc_state(pid), None, "the child outlived its guard");
    }

    #[test]
    fn output_goes_to_log_files_that_restarts_append_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        for run in 0..2 {
            let script = format!("echo out {run}; echo err {run} >&2; exec sleep 30");
            let mut child = ChildGuard::spawn(sh(&script), dir.path(), "talker").expect("spawn");
            assert!(child.wait_for_stderr(&format!("err {run}"), Duration::from_secs(5)));
            // Only this run's part of the log counts.
            if run == 1 {
                assert!(!child.wait_for_stderr("err 0", Duration::ZERO));
            }
        }
        let stdout = std::fs::read_to_string(dir.path().join("talker.stdout.log")).expect("log");
        let stderr = std::fs::read_to_string(dir.path().join("talker.stderr.log")).expect("log");
        assert!(
            stdout.contains("out 0\n") && stdout.contains("out 1\n"),
            "{stdout}"
        );
        assert!(
            stderr.contains("err 0\n") && stderr.contains("err 1\n"),
            "{stderr}"
        );
        assert_eq!(stderr.matches("=== talker started").count(), 2);
    }

    #[test]
    fn a_process_that_exits_on_its_own_is_reported_and_never_signalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = ChildGuard::spawn(sh("exit 7"), dir.path(), "quitter").expect("spawn");
        let status = child.wait_bounded(Duration::from_secs(5)).expect("wait");
        assert_eq!(status.and_then(|s| s.code()), Some(7));
        assert_eq!(child.describe(), "exit 7");
        assert!(!child.wait_for_stderr("never", Duration::from_secs(5)));
        assert!(child.terminate(Duration::from_secs(1)).is_err());
    }

    #[test]
    fn free_addresses_are_on_loopback_and_bindable() {
        let addr = free_addr().expect("free");
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        TcpListener::bind(addr).expect("the free port binds");
    }
}
