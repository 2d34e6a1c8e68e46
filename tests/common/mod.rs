//! Helpers shared by the integration tests. Every test binary includes this module, and
//! not every binary uses every helper.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ptychat::{Command, Pattern, PtySession};

pub mod cast;
pub mod users;

/// The deadline for anything that should succeed: generous, because a passing test never
/// waits for it and a loaded CI machine can be slow.
pub const LONG: Duration = Duration::from_secs(30);

/// Spawns `command` with the [`LONG`] deadline, panicking with the error text on failure.
pub fn spawn(command: &mut Command) -> PtySession {
    command
        .timeout(Some(LONG))
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {command:?}: {e}"))
}

/// `/bin/sh -c line` on a pty.
pub fn sh(line: &str) -> PtySession {
    spawn(&mut Command::shell(line))
}

/// A `python3 -c code` command with `TERM=dumb`, ready for more builder calls.
pub fn python(code: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .args(["-c", code])
        .env("TERM", "dumb")
        .env_remove("PYTHONSTARTUP")
        .timeout(Some(LONG));
    command
}

/// Spawns `python3 -c code` (see [`python`]).
pub fn py(code: &str) -> PtySession {
    spawn(&mut python(code))
}

/// Everything the program writes until it closes the terminal.
pub fn read_to_eof(session: &mut PtySession) -> Vec<u8> {
    let m = session
        .expect(Pattern::eof())
        .unwrap_or_else(|e| panic!("waiting for end of output: {e}"));
    assert!(m.is_eof());
    m.before().to_vec()
}

/// Waits, without consuming anything, until the unmatched buffer satisfies `done`.
///
/// A timeout pattern is the only way to wait for output without taking it out of the
/// buffer, so this waits in short slices; each slice ends early only when the deadline of
/// [`LONG`] has passed, in which case the test fails.
pub fn wait_until_buffered(session: &mut PtySession, done: impl Fn(&[u8]) -> bool) {
    let deadline = Instant::now() + LONG;
    while !done(session.buffer()) {
        assert!(
            Instant::now() < deadline,
            "the expected output never arrived; buffered: \"{}\"",
            ptychat::escape(session.buffer())
        );
        let m = session
            .expect_timeout(Pattern::timeout(), Some(Duration::from_millis(20)))
            .unwrap_or_else(|e| panic!("waiting for output: {e}"));
        assert!(m.is_timeout());
    }
}

/// True if `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the terminal makes of `text` on output: `\n` becomes `\r\n` (ONLCR).
pub fn onlcr(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Asserts that a call that was meant to wait about `expected` took at least that long and
/// not absurdly longer (the upper bound is loose on purpose: CI machines stall).
pub fn assert_waited(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected,
        "returned after {elapsed:?}, before {expected:?}"
    );
    assert!(
        elapsed < expected + Duration::from_secs(10),
        "returned after {elapsed:?}, far beyond {expected:?}"
    );
}

/// A finished process's stdout as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished process's stderr as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that a finished process succeeded, showing its exit code and output otherwise.
#[track_caller]
pub fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Asserts that `program` is on `PATH`: the tests drive real programs, and `.ci/run`
/// installs them, so a missing one is a failure, not a skip.
#[track_caller]
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "`{program}` is not installed (bash .ci/run installs it)"
    );
}

/// A fresh path in the tests' temporary directory, `PREFIX-PID-N-NAME`: unique per call,
/// per test binary and per run.
pub fn temp_path(prefix: &str, name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{}-{n}-{name}", std::process::id()))
}

/// Runs `program args` (not on a terminal) with `input` on its standard input, and
/// returns how it ended with what it wrote.
pub fn run_with_input<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
    input: &[u8],
) -> Output {
    run_feeding(program, args, input, true)
}

/// As [`run_with_input`], but standard input stays open after `input` (the program never
/// sees its end) until the program exits.
pub fn run_with_open_input<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
    input: &[u8],
) -> Output {
    run_feeding(program, args, input, false)
}

fn run_feeding<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
    input: &[u8],
    close: bool,
) -> Output {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    if close {
        drop(stdin);
        return child.wait_with_output().unwrap();
    }
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    output
}

/// Asserts that a script ran the same under Expect (`theirs`) and `ptychat expect`
/// (`ours`): the same exit status and standard output (the stderrs are shown if not).
pub fn assert_same(theirs: &Output, ours: &Output) {
    assert_eq!(
        (theirs.status.code(), stdout(theirs)),
        (ours.status.code(), stdout(ours)),
        "Expect's stderr: {}\nptychat's stderr: {}",
        stderr(theirs),
        stderr(ours)
    );
}

/// A pty pair, both ends close-on-exec from the start (`openpty` leaves them inheritable,
/// and other tests spawn processes meanwhile, which would hold them open): (master, slave).
pub fn open_pty() -> (std::fs::File, std::fs::File) {
    use nix::fcntl::{OFlag, open};
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    use nix::sys::stat::Mode;
    use std::os::fd::OwnedFd;
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = posix_openpt(flags).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave = open(ptsname_r(&master).unwrap().as_str(), flags, Mode::empty()).unwrap();
    (
        std::fs::File::from(OwnedFd::from(master)),
        std::fs::File::from(slave),
    )
}

/// Sets a terminal's size with `stty` (reading the terminal as its input).
pub fn set_terminal_size(terminal: &std::fs::File, rows: u16, cols: u16) {
    let status = std::process::Command::new("stty")
        .args(["rows", &rows.to_string(), "cols", &cols.to_string()])
        .stdin(terminal.try_clone().unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "stty: {status}");
}
