//! Building and spawning a program on a pseudo-terminal.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::engine::session::{DEFAULT_TIMEOUT, Session};
use crate::error::{Context, Error, Result};
use crate::process::Child;
use crate::sys::child_setup::ExecSetup;
use crate::transport::pipes::{PipeSession, StderrMode};
use crate::transport::pty::{PtyConfig, PtyMaster, PtySession};
use crate::transport::stream::FdPair;
use crate::transport::{WithChild, program};

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
    setup: ExecSetup,
    pty: PtyConfig,
    timeout: Option<Duration>,
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let mut inner = std::process::Command::new(program.as_ref());
        let setup = ExecSetup::install(&mut inner);
        Command {
            program: program.as_ref().to_owned(),
            inner,
            setup,
            pty: PtyConfig::default(),
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
        self.pty.rows = rows;
        self.pty.cols = cols;
        self
    }

    /// Whether the terminal echoes what is sent (default: on, as for a person typing).
    pub fn echo(&mut self, on: bool) -> &mut Self {
        self.pty.echo = on;
        self
    }

    /// Sets the terminal's initial size and echo at once (see [`PtyConfig`]).
    pub fn pty_config(&mut self, config: PtyConfig) -> &mut Self {
        self.pty = config;
        self
    }

    /// The session's default deadline for `expect` and `send` (default 30 s; `None` waits
    /// forever).
    pub fn timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// The file the program's name leads to, looked up as `exec` will (in the `PATH` set
    /// on this command, else ours), without starting anything; the [`Error::Spawn`] that
    /// `spawn` would return if there is no executable file there.
    ///
    /// ```
    /// use ptychat::{Command, SpawnProblem};
    /// assert!(Command::new("sh").locate()?.ends_with("sh"));
    /// let err = Command::new("no-such-program").env("PATH", "/bin").locate().unwrap_err();
    /// assert_eq!(err.to_string(),
    ///            "cannot spawn `no-such-program`: no such program in PATH (/bin) \
    ///             (No such file or directory (os error 2))");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn locate(&self) -> Result<PathBuf> {
        let path = program::search_path(&self.inner);
        let dir = self.inner.get_current_dir();
        let errno = match program::lookup(&self.program, &path, dir) {
            program::Lookup::Executable(found) => return Ok(found),
            program::Lookup::Missing => nix::libc::ENOENT,
            _ => nix::libc::EACCES,
        };
        let source = io::Error::from_raw_os_error(errno);
        Err(Error::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            problem: program::diagnose(&self.inner, &source),
            source,
        })
    }

    /// Starts the program on a new pseudo-terminal. A program that cannot be started is an
    /// [`Error::Spawn`] that says why ([`SpawnProblem`](crate::SpawnProblem)).
    ///
    /// ```
    /// let err = ptychat::Command::new("/no/such/program").spawn().unwrap_err();
    /// assert_eq!(err.to_string(),
    ///            "cannot spawn `/no/such/program`: `/no/such/program` does not exist \
    ///             (No such file or directory (os error 2))");
    /// ```
    pub fn spawn(&mut self) -> Result<PtySession> {
        let (master, slave) = self.pty.open()?;
        let stdio = [
            slave.try_clone().context("duplicating the pty slave")?,
            slave.try_clone().context("duplicating the pty slave")?,
            slave,
        ];
        let child = self.spawn_child(stdio.map(Stdio::from), true)?;
        let transport = WithChild::new(PtyMaster::new(master)?, child);
        let mut session = Session::with_transport(transport, b"\r");
        session.set_timeout(self.timeout);
        Ok(session)
    }

    /// Starts the program with plain pipes instead of a terminal (Perl's `open2`/`open3`):
    /// our session writes its stdin and reads its stdout, and `stderr` says where its
    /// stderr goes. [`StderrMode::Separate`] is open3: expect on it with
    /// [`Session::stderr`]. The window size and echo settings do not apply.
    ///
    /// Pipes are unbuffered on our side, but many programs block-buffer their own output
    /// when it is not a terminal: that is what ptys are for.
    ///
    /// ```
    /// use ptychat::{Command, Pattern, StderrMode};
    /// let mut tr = Command::new("tr").args(["a-z", "A-Z"]).spawn_piped(StderrMode::Merge)?;
    /// tr.send_line("hello")?;
    /// tr.close_input()?; // tr sees end of input, flushes and exits
    /// let m = tr.expect(Pattern::eof())?;
    /// assert_eq!(m.before(), b"HELLO\n");
    /// assert!(tr.wait()?.success());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn spawn_piped(&mut self, stderr: StderrMode) -> Result<PipeSession> {
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, child_stderr) = match stderr {
            StderrMode::Inherit => (None, Stdio::inherit()),
            StderrMode::Null => (None, Stdio::null()),
            StderrMode::Merge => {
                let copy = stdout_write.try_clone().context("duplicating a pipe")?;
                (None, Stdio::from(copy))
            }
            StderrMode::Separate => {
                let (read, write) = pipe()?;
                (Some(read), Stdio::from(write))
            }
        };
        let stdio = [
            Stdio::from(stdin_read),
            Stdio::from(stdout_write),
            child_stderr,
        ];
        let child = self.spawn_child(stdio, false)?;
        let pipes = FdPair::new(stdout_read, stdin_write, stderr_read)?;
        let mut session = Session::with_transport(WithChild::new(pipes, child), b"\n");
        session.set_timeout(self.timeout);
        Ok(session)
    }

    /// Spawns with the given stdio, as the leader of a session on its stdin's terminal or
    /// of a process group of its own, then drops our copies of the child's ends: they must
    /// not outlive the spawn, or we would never see the end of the program's output.
    fn spawn_child(
        &mut self,
        [stdin, stdout, stderr]: [Stdio; 3],
        on_terminal: bool,
    ) -> Result<Child> {
        self.inner.stdin(stdin).stdout(stdout).stderr(stderr);
        self.setup.on_terminal(on_terminal);
        let spawned = self.inner.spawn();
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawned.map_err(|source| Error::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            problem: program::diagnose(&self.inner, &source),
            source,
        })?;
        Ok(Child::new(child.id()))
    }
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    crate::sys::fd::pipe().context("creating a pipe")
}
