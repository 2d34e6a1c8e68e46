//! A spawned child process: waiting with deadlines, signals, and reaping on drop.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::deadline::{Backoff, Deadline, wait};
use crate::error::{Context, Result};
use crate::sys;

/// How a child process ended.
///
/// ```
/// let mut s = ptychat::Command::new("sh").args(["-c", "exit 3"]).spawn()?;
/// let status = s.wait()?;
/// assert_eq!(status, ptychat::ExitStatus::Exited(3));
/// assert_eq!(status.code(), Some(3));
/// assert!(!status.success());
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process called `exit` with this code.
    Exited(i32),
    /// The process was killed by this signal.
    Signaled(Signal),
}

impl ExitStatus {
    /// The exit code, if the process exited normally.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Exited(code) => Some(*code),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The signal that killed the process, if one did.
    pub fn signal(&self) -> Option<Signal> {
        match self {
            ExitStatus::Signaled(signal) => Some(*signal),
            ExitStatus::Exited(_) => None,
        }
    }

    /// The number a shell reports for this status (`$?`): the exit code, or 128 plus the
    /// number of the signal that killed the process.
    ///
    /// ```
    /// use ptychat::{ExitStatus, Signal};
    /// assert_eq!(ExitStatus::Exited(3).shell_code(), 3);
    /// assert_eq!(ExitStatus::Signaled(Signal::SIGTERM).shell_code(), 143);
    /// ```
    pub fn shell_code(&self) -> i32 {
        match self {
            ExitStatus::Exited(code) => *code,
            ExitStatus::Signaled(signal) => 128 + *signal as i32,
        }
    }

    /// True for exit code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }
}

/// An exit code: `ExitStatus::Exited(code)`.
impl From<i32> for ExitStatus {
    fn from(code: i32) -> Self {
        ExitStatus::Exited(code)
    }
}

/// Death by a signal: `ExitStatus::Signaled(signal)`.
impl From<Signal> for ExitStatus {
    fn from(signal: Signal) -> Self {
        ExitStatus::Signaled(signal)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit code {code}"),
            ExitStatus::Signaled(signal) => write!(f, "killed by {signal}"),
        }
    }
}

/// A child process we started. Dropping it ends the process (politely first: SIGHUP and
/// SIGCONT, then SIGTERM, then SIGKILL, to its whole process group) and reaps it, so no
/// zombie is left behind.
///
/// Sessions with a child expose these operations directly ([`Session::wait`],
/// [`Session::kill`]...); see [`ChildTransport`](crate::ChildTransport).
///
/// [`Session::wait`]: crate::Session::wait
/// [`Session::kill`]: crate::Session::kill
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    status: Option<ExitStatus>,
    /// Readable once the process exits; opened on the first wait that needs it (unset
    /// before, and on kernels without pidfds). Not kept from the spawn on: every fd open
    /// in this process makes each later spawn slower (the child's copy of the fd table,
    /// and its close-on-exec pass), and a session's master is the one fd it needs.
    pidfd: OnceLock<OwnedFd>,
    /// Whether a process question has already waited [`EXIT_AFTER_OUTPUT_END`] for the
    /// exit that follows the end of the output.
    waited_after_output_end: bool,
}

/// The longest pause between checks for an exit that no fd reports (a kernel without
/// pidfds, the other members of a process group).
pub(crate) const EXIT_CHECK_MAX_PAUSE: Duration = Duration::from_millis(50);

/// How long a process question (`try_wait`, `is_alive`) waits, once, after the program's
/// output has ended: Linux reports the end of a pty's output while the process is still
/// finishing its exit, and pexpect's `isalive()` and Expect's `wait` give the final answer
/// there. A program that closed its output and goes on running costs one such wait.
const EXIT_AFTER_OUTPUT_END: Duration = Duration::from_secs(1);

/// Grace periods when a dropped session ends its child's process group: after SIGHUP,
/// after SIGTERM and after SIGKILL.
const DROP_GRACE: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_secs(1),
];

impl Child {
    /// Our child `pid`, not reaped yet.
    pub(crate) fn new(pid: u32) -> Self {
        Child {
            pid: Pid::from_raw(pid as i32),
            status: None,
            pidfd: OnceLock::new(),
            waited_after_output_end: false,
        }
    }

    /// The pidfd, readable once the process has exited; `None` once it was reaped, on
    /// kernels without pidfds, or with no fd left. Opened on first use: until we reap it,
    /// the child's pid stays its own (a zombie keeps it), so a late `pidfd_open` is as
    /// safe as one at the spawn.
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        if self.pidfd.get().is_none() && self.status.is_none() {
            if let Ok(fd) = sys::process::pidfd_open(self.pid.as_raw()) {
                let _ = self.pidfd.set(fd);
            }
        }
        self.pidfd.get().map(|fd| fd.as_fd())
    }

    /// [`try_wait`](Child::try_wait) once the program's output has ended: the first time,
    /// waits up to [`EXIT_AFTER_OUTPUT_END`] for the exit that follows.
    pub(crate) fn try_wait_after_output_end(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() && !self.waited_after_output_end {
            self.waited_after_output_end = true;
            return self.wait_timeout(Some(EXIT_AFTER_OUTPUT_END));
        }
        self.try_wait()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.reap(Some(WaitPidFlag::WNOHANG))?;
        }
        Ok(self.status)
    }

    /// Waits for the process to end.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            self.reap(None)?;
        }
    }

    /// Waits up to `timeout` (`None`: no limit) for the process to end; `Ok(None)` if it
    /// is still running then.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.wait_until(&Deadline::after(timeout))
    }

    /// Waits until `deadline` for the process to end; `Ok(None)` if it is still running
    /// then.
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        self.wait_until(&Deadline::at(deadline))
    }

    /// The one wait of a child: on its pidfd with `poll(2)`, or, on kernels without pidfds,
    /// checking with a 1-50 ms backoff.
    fn wait_until(&mut self, deadline: &Deadline) -> Result<Option<ExitStatus>> {
        if deadline.remaining().is_none() {
            return self.wait().map(Some);
        }
        let mut backoff = Backoff::up_to(EXIT_CHECK_MAX_PAUSE);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if deadline.has_passed() {
                return Ok(None);
            }
            match self.pidfd() {
                Some(pidfd) => {
                    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                    wait(&mut fds, deadline).context("waiting for the child to exit")?;
                }
                None => {
                    deadline.sleep(&mut backoff);
                }
            }
        }
    }

    /// Sends `signal` to the process (not to its whole process group).
    pub fn kill(&mut self, signal: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        kill(self.pid, signal).context("sending a signal to the child")
    }

    /// Ends the process: SIGHUP and SIGCONT, then SIGINT, then SIGTERM, each followed by up
    /// to `grace` of waiting, and finally SIGKILL. Returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        for signal in [Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM] {
            self.kill(signal)?;
            if signal == Signal::SIGHUP {
                self.kill(Signal::SIGCONT)?;
            }
            if let Some(status) = self.wait_timeout(Some(grace))? {
                return Ok(status);
            }
        }
        self.kill(Signal::SIGKILL)?;
        self.wait()
    }

    fn reap(&mut self, flags: Option<WaitPidFlag>) -> Result<()> {
        let status = match waitpid(self.pid, flags) {
            Ok(status) => status,
            Err(Errno::EINTR) => return Ok(()),
            Err(e) => return Err(e).context("waiting for the child"),
        };
        self.status = match status {
            WaitStatus::Exited(_, code) => Some(ExitStatus::Exited(code)),
            WaitStatus::Signaled(_, signal, _) => Some(ExitStatus::Signaled(signal)),
            _ => None,
        };
        Ok(())
    }

    /// Ends and reaps the process, and ends what is left of its process group; used on
    /// drop. The child leads its own process group (and, on a pty, its own session), so
    /// helpers it started and did not move elsewhere end too, even if the child itself has
    /// already exited.
    fn end(&mut self) -> Result<()> {
        let steps = [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGKILL];
        for (signal, grace) in steps.into_iter().zip(DROP_GRACE) {
            let leader_done = self.try_wait()?.is_some();
            if leader_done && !self.group_alive() {
                return Ok(());
            }
            let _ = killpg(self.pid, signal);
            if signal == Signal::SIGHUP {
                let _ = killpg(self.pid, Signal::SIGCONT);
            }
            if !leader_done {
                // Make sure the leader gets the signal even if it left its group.
                let _ = kill(self.pid, signal);
            }
            self.wait_for_group(grace)?;
        }
        // SIGKILL cannot be refused: the leader is reaped now, however long that takes.
        self.wait().map(drop)
    }

    /// True while some live process is in the child's process group. The group's id
    /// stays reserved while it has members, so this cannot hit an unrelated group.
    /// Zombies do not count: orphans wait for init to reap them, which may take a while
    /// (or forever, under an init that does not reap).
    fn group_alive(&self) -> bool {
        killpg(self.pid, None).is_ok() && group_has_live_member(self.pid.as_raw())
    }

    /// Waits up to `grace` for the leader to exit and the group to empty. Only the leader
    /// can be waited for; the rest of the group is checked with a 1-50 ms backoff.
    fn wait_for_group(&mut self, grace: Duration) -> Result<()> {
        let deadline = Deadline::after(Some(grace));
        if self.status.is_none() {
            self.wait_until(&deadline)?;
        }
        let mut backoff = Backoff::up_to(EXIT_CHECK_MAX_PAUSE);
        while self.group_alive() && deadline.sleep(&mut backoff) {}
        Ok(())
    }
}

/// True if `/proc` shows a process of group `pgid` that is not a zombie (or if `/proc`
/// cannot be read, to stay on the safe side).
fn group_has_live_member(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let is_pid = name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may contain anything, so split after
        // the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        group == Some(pgid) && !matches!(state, Some("Z" | "X"))
    })
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
