//! Process control for sessions whose transport owns a child process.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::Result;
use crate::process::{ChildTransport, ExitStatus};
use crate::session::Session;

impl<T: ChildTransport> Session<T> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.transport().child().pid()
    }

    /// True while the child has not exited.
    pub fn is_alive(&mut self) -> Result<bool> {
        Ok(self.try_wait()?.is_none())
    }

    /// The child's exit status if it has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.transport_mut().child_mut().try_wait()
    }

    /// Waits for the child to end and returns how it ended. Output stays readable: call
    /// `expect(Pattern::eof())` first if you want it.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.transport_mut().child_mut().wait()
    }

    /// Waits up to `timeout` for the child to end; `Ok(None)` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.transport_mut().child_mut().wait_timeout(timeout)
    }

    /// Sends `signal` to the child.
    ///
    /// ```
    /// use ptychat::{Command, ExitStatus, Signal};
    /// let mut s = Command::new("sleep").arg("30").spawn()?;
    /// s.kill(Signal::SIGTERM)?;
    /// assert_eq!(s.wait()?, ExitStatus::Signaled(Signal::SIGTERM));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn kill(&mut self, signal: Signal) -> Result<()> {
        self.transport_mut().child_mut().kill(signal)
    }

    /// Ends the child politely: SIGHUP (with SIGCONT), SIGINT, SIGTERM, each followed by up
    /// to `grace` of waiting, then SIGKILL. Returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.transport_mut().child_mut().terminate(grace)
    }
}
