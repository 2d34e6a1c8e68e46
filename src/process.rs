//! A spawned child process: waiting with deadlines, signals, and reaping on drop.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Context, Result};
use crate::poll::wait;
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

    /// True for exit code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
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
/// [`Session::kill`]...); see [`ChildTransport`].
///
/// [`Session::wait`]: crate::Session::wait
/// [`Session::kill`]: crate::Session::kill
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    status: Option<ExitStatus>,
    /// Readable once the process exits; `None` on kernels without pidfds.
    pidfd: Option<OwnedFd>,
}

/// Grace periods when a dropped session ends its child: after SIGHUP, then after SIGTERM.
const DROP_GRACE: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(200)];

impl Child {
    pub(crate) fn new(pid: u32) -> Self {
        let pid = Pid::from_raw(pid as i32);
        Child {
            pid,
            status: None,
            pidfd: sys::pidfd_open(pid.as_raw()).ok(),
        }
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

    /// Waits up to `timeout` for the process to end; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            match &self.pidfd {
                Some(pidfd) => {
                    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                    wait(&mut fds, Some(deadline)).context("waiting for the child to exit")?;
                }
                None => {
                    // No pidfd (very old kernel): back off from 1 ms to 50 ms.
                    std::thread::sleep(backoff.min(deadline - now));
                    backoff = (backoff * 2).min(Duration::from_millis(50));
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
            if let Some(status) = self.wait_timeout(grace)? {
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

    /// Ends and reaps the process; used on drop. Signals go to the child's process group
    /// (it leads a session of its own), so helpers it started end too.
    fn end(&mut self) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        for (signal, grace) in [Signal::SIGHUP, Signal::SIGTERM].into_iter().zip(DROP_GRACE) {
            let _ = killpg(self.pid, signal);
            if signal == Signal::SIGHUP {
                let _ = killpg(self.pid, Signal::SIGCONT);
            }
            if self.wait_timeout(grace)?.is_some() {
                return Ok(());
            }
        }
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = kill(self.pid, Signal::SIGKILL);
        self.wait().map(drop)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

/// A transport that owns the child process at its other end. Sessions over such a
/// transport get process control: [`pid`](crate::Session::pid),
/// [`wait`](crate::Session::wait), [`kill`](crate::Session::kill) and the rest.
pub trait ChildTransport: crate::Transport {
    /// The child process.
    fn child(&self) -> &Child;

    /// The child process, mutably.
    fn child_mut(&mut self) -> &mut Child;
}
