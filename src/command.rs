//! Building and spawning a program on a pseudo-terminal.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::error::{Context, Error, Result};
use crate::process::Child;
use crate::pty::{Pty, open_pair};
use crate::session::{DEFAULT_TIMEOUT, Session};
use crate::sys;
use crate::transport::set_nonblocking;

/// A session with a program running on a pseudo-terminal.
pub type PtySession = Session<Pty>;

/// A builder for a program to run on a pseudo-terminal, like [`std::process::Command`].
///
/// The program is run directly from its argv (no shell) unless you ask for one with
/// [`Command::shell`]. It gets a new session whose controlling terminal is the pty (also its
/// stdin, stdout and stderr), default signal dispositions, an empty signal mask and no other
/// fds of ours. A program that cannot be executed is an error from [`spawn`](Command::spawn),
/// never a session that just shows EOF.
///
/// ```
/// use ptychat::Command;
/// let mut s = Command::new("sh")
///     .args(["-c", "echo $GREETING from $(pwd); stty size"])
///     .env("GREETING", "hello")
///     .current_dir("/tmp")
///     .window_size(30, 100)
///     .spawn()?;
/// s.expect("hello from /tmp")?;
/// s.expect("30 100")?;
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug)]
pub struct Command {
    program: OsString,
    inner: std::process::Command,
    rows: u16,
    cols: u16,
    echo: bool,
    timeout: Option<Duration>,
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_owned(),
            inner: std::process::Command::new(program),
            rows: 24,
            cols: 80,
            echo: true,
            timeout: Some(DEFAULT_TIMEOUT),
        }
    }

    /// A command that runs `line` with `/bin/sh -c`, for pipelines, redirections and the
    /// like.
    ///
    /// ```
    /// let mut s = ptychat::Command::shell("echo one two | wc -w").spawn()?;
    /// s.expect("2")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn shell(line: impl AsRef<OsStr>) -> Self {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(line);
        command
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable for the program.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env_remove(key);
        self
    }

    /// Starts the program with an empty environment (plus what [`env`](Command::env) adds).
    pub fn env_clear(&mut self) -> &mut Self {
        self.inner.env_clear();
        self
    }

    /// Sets the program's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the terminal's initial size in rows and columns (default 24 x 80).
    pub fn window_size(&mut self, rows: u16, cols: u16) -> &mut Self {
        self.rows = rows;
        self.cols = cols;
        self
    }

    /// Whether the terminal echoes what is sent (default: on, as for a person typing).
    pub fn echo(&mut self, on: bool) -> &mut Self {
        self.echo = on;
        self
    }

    /// The session's default deadline for `expect` and `send` (default 30 s; `None` waits
    /// forever).
    pub fn timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Starts the program on a new pseudo-terminal.
    ///
    /// ```
    /// let err = ptychat::Command::new("/no/such/program").spawn().unwrap_err();
    /// assert_eq!(err.to_string(),
    ///            "cannot spawn `/no/such/program`: No such file or directory (os error 2)");
    /// ```
    pub fn spawn(&mut self) -> Result<PtySession> {
        if self.rows == 0 || self.cols == 0 {
            return Err(Error::InvalidArgument(format!(
                "window size {}x{} has a zero dimension",
                self.rows, self.cols
            )));
        }
        let (master, slave) =
            open_pair(self.rows, self.cols, self.echo).context("opening a pseudo-terminal")?;
        self.inner
            .stdin(Stdio::from(slave.try_clone().context("duplicating the pty slave")?))
            .stdout(Stdio::from(slave.try_clone().context("duplicating the pty slave")?))
            .stderr(Stdio::from(slave));
        sys::make_session_leader_on_stdin(&mut self.inner);
        let spawned = self.inner.spawn();
        // The stdio handles (our copies of the slave) must not outlive the spawn, or we
        // would never see the end of the program's output.
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawned.map_err(|source| Error::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            source,
        })?;
        let child = Child::new(child.id());
        set_nonblocking(&master).context("making the pty master non-blocking")?;
        let mut session = Session::with_transport(Pty::new(master, child), b"\r");
        session.set_timeout(self.timeout);
        Ok(session)
    }
}
