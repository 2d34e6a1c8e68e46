//! Building and spawning a program on a pseudo-terminal.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::engine::session::{DEFAULT_TIMEOUT, Session};
use crate::error::SpawnProblem;
use crate::error::{Context, Error, Result};
use crate::process::Child;
use crate::sys::child_setup::{ExecSetup, Placement};
use crate::sys::spawn::{Exec, SpawnError};
use crate::transport::pipes::{PipeSession, StderrMode};
use crate::transport::pty::{PtyConfig, PtyMaster, PtySession};
use crate::transport::stream::FdPair;
use crate::transport::{WithChild, program};

/// A builder for a program to run on a pseudo-terminal, like [`std::process::Command`].
///
/// The program is run directly from its argv (no shell) unless you ask for one with
/// [`Command::shell`]. It gets a new session whose controlling terminal is the pty (also its
/// stdin, stdout and stderr), default signal dispositions, an empty signal mask and no other
/// fds of ours (unless passed with [`pass_fd`](Command::pass_fd)). A program that cannot be
/// executed is an error from [`spawn`](Command::spawn), never a session that just shows EOF.
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
    /// Our fds to pass, with the number each gets in the child.
    passed: Vec<(OwnedFd, RawFd)>,
    /// Whether `env_clear` was called (std has no getter for it).
    env_cleared: bool,
    /// Whether a NUL byte was given in the program, an argument, the environment or the
    /// directory (std's getters show a placeholder instead; a spawn then fails).
    saw_nul: bool,
}

/// True when `s` has a NUL byte (which no C string can carry).
fn has_nul(s: &OsStr) -> bool {
    s.as_bytes().contains(&0)
}

/// The child's stderr for `mode`: the pipe's write end (`Separate`), ours, `/dev/null`, or
/// `merged` (where its stdout goes).
fn child_stderr<'a>(
    mode: StderrMode,
    pipe: Option<&'a OwnedFd>,
    merged: ChildStdio<'a>,
) -> ChildStdio<'a> {
    match (mode, pipe) {
        (_, Some(write)) => ChildStdio::Fd(write.as_fd()),
        (StderrMode::Inherit, _) => ChildStdio::Inherit,
        (StderrMode::Null, _) => ChildStdio::Null,
        _ => merged,
    }
}

/// Where one of the child's stdin, stdout and stderr comes from.
#[derive(Debug, Clone, Copy)]
enum ChildStdio<'a> {
    /// This fd of ours.
    Fd(BorrowedFd<'a>),
    /// Ours, as it is.
    Inherit,
    /// `/dev/null`.
    Null,
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
            passed: Vec::new(),
            env_cleared: false,
            saw_nul: has_nul(program.as_ref()),
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
        self.saw_nul |= has_nul(arg.as_ref());
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.saw_nul |= has_nul(key.as_ref()) || has_nul(value.as_ref());
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
        self.env_cleared = true;
        self
    }

    /// Sets the program's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.saw_nul |= has_nul(dir.as_ref().as_os_str());
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

    /// Starts the program with SIGHUP ignored (pexpect's `ignore_sighup`; default: off, as
    /// in pexpect since 4.0), so it survives the hang-up of its terminal when the session
    /// closes it. [`terminate`](Session::terminate) and dropping the session still end it:
    /// they go on to SIGINT, SIGTERM and SIGKILL.
    ///
    /// ```
    /// let mut s = ptychat::Command::new("sh")
    ///     .args(["-c", "grep SigIgn /proc/self/status"])
    ///     .ignore_sighup(true)
    ///     .spawn()?;
    /// s.expect("SigIgn:\t0000000000000001")?; // bit 0: signal 1, SIGHUP
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn ignore_sighup(&mut self, on: bool) -> &mut Self {
        self.setup.plan().ignore_sighup = on;
        self
    }

    /// Passes `fd` to the program as fd number `child_fd` (3 or above), like the shell's
    /// `3<file` or Python's `pass_fds`: every other fd of ours stays closed to it. The
    /// command keeps `fd` (close-on-exec on our side) for each spawn. A number below 3, or
    /// not below the limit of open files, is an [`Error::InvalidArgument`] from the spawn.
    ///
    /// ```
    /// let accounts = std::fs::File::open("/etc/passwd")?;
    /// let mut s = ptychat::Command::new("sh")
    ///     .args(["-c", "head -n 1 <&5"])
    ///     .pass_fd(accounts, 5)
    ///     .spawn()?;
    /// s.expect("root:")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pass_fd(&mut self, fd: impl Into<OwnedFd>, child_fd: RawFd) -> &mut Self {
        self.passed.push((fd.into(), child_fd));
        self
    }

    /// Runs `hook` in the child after it has been set up (its session, terminal, signals
    /// and fds, including [`ignore_sighup`](Command::ignore_sighup) and
    /// [`pass_fd`](Command::pass_fd)) and just before `exec`, in the new working
    /// directory. Hooks run in the order they were added. An `Err` stops the spawn: it
    /// returns an [`Error::Spawn`] with [`SpawnProblem::PreExecHook`] and the hook's OS
    /// error (only the error code crosses from the child).
    ///
    /// A command with hooks is spawned with `fork` (through `std::process::Command`): its
    /// cost grows with the memory of this process, where a command without hooks is
    /// spawned from a child that shares our memory until `exec` (`clone(CLONE_VM |
    /// CLONE_VFORK)`), in which a hook would run on our memory (its writes would change
    /// ours, and a C library call that takes a lock or signals our threads, as `setuid`
    /// does, could deadlock us).
    ///
    /// # Safety
    ///
    /// The hook runs in a forked copy of a process that may have other threads, whose
    /// locks are held forever in the copy: it may make only async-signal-safe calls
    /// (`signal-safety(7)`). No allocation (no `format!`, no `Vec` growth, no boxing of an
    /// `io::Error` with a message), no locks (no `println!`), no `std::env`. Build what it
    /// needs before, and use `io::Error::from_raw_os_error` or `last_os_error` for errors.
    /// This is the contract of [`std::os::unix::process::CommandExt::pre_exec`].
    ///
    /// ```
    /// use nix::sys::stat::{Mode, umask};
    /// let mut command = ptychat::Command::new("sh");
    /// command.args(["-c", "umask"]);
    /// // SAFETY: umask(2) is async-signal-safe, and the hook allocates nothing.
    /// unsafe {
    ///     command.pre_exec(|| {
    ///         umask(Mode::from_bits_truncate(0o077));
    ///         Ok(())
    ///     });
    /// }
    /// let mut s = command.spawn()?;
    /// s.expect("0077")?;
    ///
    /// // SAFETY: the hook makes no call at all.
    /// unsafe { command.pre_exec(|| Err(std::io::Error::from_raw_os_error(nix::libc::EPERM))) };
    /// let err = command.spawn().unwrap_err();
    /// assert_eq!(err.to_string(), "cannot spawn `sh`: the pre-exec hook failed \
    ///                              (Operation not permitted (os error 1))");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    // Unsafe to call, not unsafe inside: the hook runs where only async-signal-safe code
    // may run, a contract the compiler cannot check. The body is safe code.
    #[allow(unsafe_code)]
    pub unsafe fn pre_exec<F>(&mut self, hook: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        self.setup.plan().hooks.push(Box::new(hook));
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
        let path = program::search_path(&self.inner, self.env_cleared);
        let dir = self.inner.get_current_dir();
        let errno = match program::lookup(&self.program, &path, dir) {
            program::Lookup::Executable(found) => return Ok(found),
            program::Lookup::Missing => nix::libc::ENOENT,
            _ => nix::libc::EACCES,
        };
        let source = io::Error::from_raw_os_error(errno);
        Err(Error::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            problem: program::diagnose(&self.inner, self.env_cleared, &source),
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
        let (master, slave) = self.open_pty()?;
        let terminal = ChildStdio::Fd(slave.as_fd());
        let child = self.spawn_child([terminal; 3], Placement::TerminalOnStdin)?;
        // Our copy of the child's end goes before the session reads: else it would never
        // see the end of the program's output.
        drop(slave);
        self.pty_session(master, None, child)
    }

    /// Starts the program on a new pseudo-terminal for its stdin and stdout, with its
    /// stderr where `stderr` says: [`StderrMode::Separate`] puts it on a pipe of its own,
    /// read through [`Session::stderr`], so a test can tell the program's errors from its
    /// screen. [`StderrMode::Merge`] is the terminal, as [`spawn`](Command::spawn).
    ///
    /// The program sees that its stderr is not a terminal. Shells write their prompt and
    /// line editing there (`sh -i`, `bash -i`): with a separate stderr, expect the prompt
    /// on [`Session::stderr`]. Python's REPL writes its prompt to stdout when it uses
    /// readline (stdin and stdout are a terminal) and its tracebacks to stderr.
    ///
    /// ```
    /// use ptychat::{Command, StderrMode};
    /// let mut s = Command::new("sh")
    ///     .args(["-c", "echo to the screen; echo oops >&2; [ -t 1 ] && echo stdout is a tty"])
    ///     .spawn_with_stderr(StderrMode::Separate)?;
    /// s.stderr().expect("oops\n")?;
    /// let screen = s.expect("stdout is a tty")?;
    /// assert_eq!(screen.before(), b"to the screen\r\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn spawn_with_stderr(&mut self, stderr: StderrMode) -> Result<PtySession> {
        let (master, slave) = self.open_pty()?;
        let terminal = ChildStdio::Fd(slave.as_fd());
        let (stderr_read, stderr_write) = self.stderr_pipe(stderr)?;
        let child_stderr = child_stderr(stderr, stderr_write.as_ref(), terminal);
        let child = self.spawn_child(
            [terminal, terminal, child_stderr],
            Placement::TerminalOnStdin,
        )?;
        drop((slave, stderr_write));
        self.pty_session(master, stderr_read, child)
    }

    /// For [`StderrMode::Separate`], the stderr pipe: (our read end, the child's write
    /// end); for the other modes, nothing.
    fn stderr_pipe(&self, stderr: StderrMode) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
        Ok(match stderr {
            StderrMode::Separate => {
                let (read, write) = self.pipe()?;
                (Some(read), Some(write))
            }
            _ => (None, None),
        })
    }

    /// The session on `master` (and the stderr pipe's read end) with `child`.
    fn pty_session(
        &self,
        master: OwnedFd,
        stderr: Option<OwnedFd>,
        child: Child,
    ) -> Result<PtySession> {
        let transport = WithChild::new(PtyMaster::new(master, stderr)?, child);
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
        let (stdin_read, stdin_write) = self.pipe()?;
        let (stdout_read, stdout_write) = self.pipe()?;
        let (stderr_read, stderr_write) = self.stderr_pipe(stderr)?;
        let child_stderr = child_stderr(
            stderr,
            stderr_write.as_ref(),
            ChildStdio::Fd(stdout_write.as_fd()),
        );
        let stdio = [
            ChildStdio::Fd(stdin_read.as_fd()),
            ChildStdio::Fd(stdout_write.as_fd()),
            child_stderr,
        ];
        let child = self.spawn_child(stdio, Placement::ProcessGroup)?;
        // Our copies of the child's ends must go before the session reads: else it would
        // never see the end of the program's output.
        drop((stdin_read, stdout_write, stderr_write));
        let pipes = FdPair::new(stdout_read, stdin_write, stderr_read)?;
        let mut session = Session::with_transport(WithChild::new(pipes, child), b"\n");
        session.set_timeout(self.timeout);
        Ok(session)
    }

    /// Spawns with the given stdio, placed as `placement` says, with the fds to pass and
    /// SIGHUP as asked: from a `CLONE_VM | CLONE_VFORK` child ([`crate::sys::spawn`]),
    /// or, when there are `pre_exec` hooks, forked by `std::process::Command` with the
    /// [`ExecPlan`](crate::sys::child_setup::ExecPlan) (see [`Command::pre_exec`]). The
    /// caller drops its copies of the child's ends afterwards.
    fn spawn_child(&mut self, stdio: [ChildStdio<'_>; 3], placement: Placement) -> Result<Child> {
        // Held until the spawn is over, so that nothing lands on a passed fd's number.
        let _reserved = self.reserve_passed_numbers()?;
        let hooks = !self.setup.plan().hooks.is_empty();
        match !hooks {
            true => self.spawn_cloned(stdio, placement),
            false => self.spawn_forked(stdio, placement),
        }
    }

    /// The spawn without hooks: nothing of ours is copied, and the child reports a failed
    /// `exec` through our memory.
    fn spawn_cloned(&mut self, stdio: [ChildStdio<'_>; 3], placement: Placement) -> Result<Child> {
        let exec = self.exec()?;
        let null = match stdio.iter().any(|s| matches!(s, ChildStdio::Null)) {
            true => Some(self.step(crate::sys::fd::open_null(), "opening /dev/null")?),
            false => None,
        };
        let mut fds = Vec::with_capacity(3 + self.passed.len());
        for (number, stdio) in (0..).zip(stdio) {
            match (stdio, &null) {
                (ChildStdio::Fd(fd), _) => fds.push((fd.as_raw_fd(), number)),
                (ChildStdio::Null, Some(null)) => fds.push((null.as_raw_fd(), number)),
                _ => {}
            }
        }
        fds.extend(
            self.passed
                .iter()
                .map(|(fd, number)| (fd.as_raw_fd(), *number)),
        );
        let setup = crate::sys::spawn::Setup {
            placement,
            fds: &fds,
            ignore_sighup: self.setup.plan().ignore_sighup,
        };
        match crate::sys::spawn::spawn(&exec, &setup) {
            Ok(spawned) => Ok(Child::new(spawned.pid as u32)),
            Err(SpawnError::Parent(source) | SpawnError::Child(source)) => {
                Err(self.spawn_error(source))
            }
        }
    }

    /// What the child hands to `execve`: the paths to try, argv, the environment (ours
    /// changed as asked), the working directory. A NUL byte in any of them is an error,
    /// as `std` makes it.
    fn exec(&self) -> Result<Exec> {
        let nul = || {
            self.spawn_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nul byte found in provided data",
            ))
        };
        if self.saw_nul {
            return Err(nul());
        }
        let c_string = |bytes: Vec<u8>| CString::new(bytes).map_err(|_| nul());
        let program = self.inner.get_program();
        let path = program::search_path(&self.inner, self.env_cleared);
        let candidates = program::candidates(program, &path)
            .into_iter()
            .map(|candidate| c_string(candidate.into_vec()))
            .collect::<Result<_>>()?;
        let argv = std::iter::once(program)
            .chain(self.inner.get_args())
            .map(|arg| c_string(arg.as_bytes().to_vec()))
            .collect::<Result<_>>()?;
        let mut vars: Vec<(OsString, OsString)> = match self.env_cleared {
            true => Vec::new(),
            false => std::env::vars_os().collect(),
        };
        for (name, value) in self.inner.get_envs() {
            vars.retain(|(ours, _)| ours != name);
            if let Some(value) = value {
                vars.push((name.to_owned(), value.to_owned()));
            }
        }
        let envp = vars
            .into_iter()
            .map(|(name, value)| {
                let mut entry = name.into_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                c_string(entry)
            })
            .collect::<Result<_>>()?;
        let cwd = match self.inner.get_current_dir() {
            Some(dir) => Some(c_string(dir.as_os_str().as_bytes().to_vec())?),
            None => None,
        };
        Ok(Exec::new(candidates, argv, envp, cwd))
    }

    /// The spawn with `pre_exec` hooks: `std::process::Command` forks and runs the
    /// [`ExecPlan`](crate::sys::child_setup::ExecPlan) (set-up, then the hooks) and
    /// reports a failed `exec` through its pipe.
    fn spawn_forked(&mut self, stdio: [ChildStdio<'_>; 3], placement: Placement) -> Result<Child> {
        let [stdin, stdout, stderr] = stdio.map(|stdio| self.std_stdio(stdio));
        let (stdin, stdout, stderr) = (stdin?, stdout?, stderr?);
        let hook_report = self.step(
            crate::sys::fd::nonblocking_pipe(),
            "creating the pre-exec hook's pipe",
        )?;
        {
            let mut plan = self.setup.plan();
            plan.placement = placement;
            plan.passed = self
                .passed
                .iter()
                .map(|(fd, number)| (fd.as_raw_fd(), *number))
                .collect();
            plan.hook_failed = Some(hook_report.1.as_raw_fd());
        }
        self.inner.stdin(stdin).stdout(stdout).stderr(stderr);
        let spawned = self.inner.spawn();
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawned.map_err(|source| {
            let (read, _) = &hook_report;
            match nix::unistd::read(read, &mut [0]) == Ok(1) {
                true => Error::Spawn {
                    program: self.program.to_string_lossy().into_owned(),
                    problem: SpawnProblem::PreExecHook,
                    source,
                },
                false => self.spawn_error(source),
            }
        })?;
        Ok(Child::new(child.id()))
    }

    /// `stdio` as std's, from a copy of our fd (std closes what it is given).
    fn std_stdio(&self, stdio: ChildStdio<'_>) -> Result<Stdio> {
        Ok(match stdio {
            ChildStdio::Fd(fd) => {
                Stdio::from(self.step(fd.try_clone_to_owned(), "duplicating an fd")?)
            }
            ChildStdio::Inherit => Stdio::inherit(),
            ChildStdio::Null => Stdio::null(),
        })
    }

    /// The spawn error for `source`: the limit it ran into, or why the program could not
    /// be run.
    fn spawn_error(&self, source: io::Error) -> Error {
        Error::Spawn {
            program: self.program.to_string_lossy().into_owned(),
            problem: program::diagnose(&self.inner, self.env_cleared, &source),
            source,
        }
    }

    /// The result of a step of the spawn: a limit it ran into is a spawn error that names
    /// it; any other error is an [`Error::Io`] with `context`.
    fn step<T>(&self, result: io::Result<T>, context: &'static str) -> Result<T> {
        result.map_err(|source| match program::limit_problem(&source, false) {
            Some(problem) => Error::Spawn {
                program: self.program.to_string_lossy().into_owned(),
                problem,
                source,
            },
            None => Error::io(context, source),
        })
    }

    /// A close-on-exec pipe: (read end, write end).
    fn pipe(&self) -> Result<(OwnedFd, OwnedFd)> {
        self.step(crate::sys::fd::pipe(), "creating a pipe")
    }

    /// A pty pair for the program; running out of ptys or fds is a spawn error naming
    /// the limit.
    fn open_pty(&self) -> Result<(OwnedFd, OwnedFd)> {
        self.pty.open().map_err(|error| match error {
            Error::Io { context, source } => match program::limit_problem(&source, true) {
                Some(problem) => Error::Spawn {
                    program: self.program.to_string_lossy().into_owned(),
                    problem,
                    source,
                },
                None => Error::Io { context, source },
            },
            other => other,
        })
    }

    /// Checks the numbers of the fds to pass and keeps each one open in our process until
    /// the spawn is over (see [`crate::sys::fd::reserve`]); our fds become close-on-exec.
    fn reserve_passed_numbers(&self) -> Result<Vec<OwnedFd>> {
        let mut reserved = Vec::new();
        for (fd, number) in &self.passed {
            if *number < 3 {
                return Err(Error::InvalidArgument(format!(
                    "cannot pass an fd as number {number}: 0, 1 and 2 are the program's \
                     stdin, stdout and stderr"
                )));
            }
            crate::sys::fd::set_cloexec(fd).context("marking a passed fd close-on-exec")?;
            match crate::sys::fd::reserve(fd, *number) {
                Ok(copy) => reserved.extend(copy),
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                    return Err(Error::InvalidArgument(format!(
                        "cannot pass an fd as number {number}: it is not below the limit \
                         of open files (RLIMIT_NOFILE)"
                    )));
                }
                Err(e) => return Err(self.step(Err(e), "reserving a passed fd's number")?),
            }
        }
        Ok(reserved)
    }
}
