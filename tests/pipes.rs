//! Pipe sessions (`open2`/`open3`): where stderr goes, keeping two outputs apart without
//! deadlocks, end of input, writes to a child that is gone, the fds the child gets,
//! process control, and the block buffering that ptys exist to avoid.

mod common;

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use common::{LONG, python};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::stat::fstat;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use ptychat::{
    Command, DEFAULT_MAX_BUFFER, Error, ExitStatus, Pattern, PipeSession, Signal, StderrMode,
    Transport,
};

/// Spawns `command` on pipes with the [`LONG`] deadline.
fn piped(command: &mut Command, mode: StderrMode) -> PipeSession {
    command
        .timeout(Some(LONG))
        .spawn_piped(mode)
        .unwrap_or_else(|e| panic!("spawning {command:?} on pipes: {e}"))
}

/// `/bin/sh -c line` on pipes.
fn sh(line: &str, mode: StderrMode) -> PipeSession {
    piped(&mut Command::shell(line), mode)
}

/// `python3 -c code` on pipes, with Python's default buffering (no `PYTHONUNBUFFERED`).
fn py(code: &str, mode: StderrMode) -> PipeSession {
    piped(python(code).env_remove("PYTHONUNBUFFERED"), mode)
}

/// Everything on stdout until it ends.
fn stdout_to_eof(s: &mut PipeSession) -> Vec<u8> {
    let m = s
        .expect(Pattern::eof())
        .unwrap_or_else(|e| panic!("waiting for the end of stdout: {e}"));
    assert!(m.is_eof());
    m.before().to_vec()
}

/// Everything on the separate stderr until it ends.
fn stderr_to_eof(s: &mut PipeSession) -> Vec<u8> {
    let m = s
        .stderr()
        .expect(Pattern::eof())
        .unwrap_or_else(|e| panic!("waiting for the end of stderr: {e}"));
    assert!(m.is_eof());
    m.before().to_vec()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `io::Error` inside an [`Error::Io`].
fn io_source(err: Error) -> std::io::Error {
    match err {
        Error::Io { source, .. } => source,
        other => panic!("expected Error::Io, got {other}"),
    }
}

/// `(st_dev, st_ino)`: what identifies an open file.
fn identity(fd: impl AsFd) -> (u64, u64) {
    let st = fstat(fd.as_fd()).unwrap();
    (st.st_dev, st.st_ino)
}

// ---------------------------------------------------------------------------------------
// Where stderr goes

#[test]
fn open2_merged_stderr_shares_the_stdout_pipe() {
    let mut s = sh(
        "echo out1; echo err1 >&2; echo out2; echo err2 >&2",
        StderrMode::Merge,
    );
    // One pipe: both streams arrive, in the order the program wrote them.
    assert_eq!(text(&stdout_to_eof(&mut s)), "out1\nerr1\nout2\nerr2\n");
    // There is no separate stderr: its view is at its end from the start.
    assert!(s.stderr().is_eof());
    assert!(
        s.stderr()
            .expect(Pattern::eof())
            .unwrap()
            .before()
            .is_empty()
    );
    assert!(s.wait().unwrap().success());
}

#[test]
fn open2_merged_stderr_can_be_expected_on_stdout() {
    let mut s = sh(
        "echo 'warning: disk full' >&2; read x; echo \"got $x\"",
        StderrMode::Merge,
    );
    s.expect("warning: disk full\n").unwrap();
    s.send_line("ok").unwrap();
    s.expect("got ok\n").unwrap();
    assert!(s.wait().unwrap().success());
}

#[test]
fn open2_inherited_stderr_is_our_stderr() {
    let mut s = py(
        "import os\n\
         st = os.fstat(2)\n\
         print(st.st_dev, st.st_ino)",
        StderrMode::Inherit,
    );
    let (dev, ino) = identity(std::io::stderr());
    assert_eq!(text(&stdout_to_eof(&mut s)), format!("{dev} {ino}\n"));
    assert!(
        s.stderr().is_eof(),
        "an inherited stderr is not read by the session"
    );
    assert!(s.wait().unwrap().success());
}

#[test]
fn open2_null_stderr_goes_to_dev_null() {
    let mut s = py(
        "import os, sys\n\
         print('stderr is /dev/null:', os.path.samestat(os.fstat(2), os.stat('/dev/null')))\n\
         sys.stderr.write('this goes nowhere\\n')",
        StderrMode::Null,
    );
    assert_eq!(text(&stdout_to_eof(&mut s)), "stderr is /dev/null: True\n");
    assert!(s.stderr().is_eof());
    assert!(s.wait().unwrap().success());
}

#[test]
fn open3_keeps_stdout_and_stderr_apart() {
    let mut s = sh(
        "echo out1; echo err1 >&2; echo out2; echo err2 >&2",
        StderrMode::Separate,
    );
    // Expecting on stderr first leaves what arrived on stdout buffered, and vice versa.
    let m = s.stderr().expect("err2\n").unwrap();
    assert_eq!(text(m.before()), "err1\n");
    let m = s.expect("out2\n").unwrap();
    assert_eq!(text(m.before()), "out1\n");
    assert!(stdout_to_eof(&mut s).is_empty());
    assert!(stderr_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

#[test]
fn open3_conversation_with_errors_on_the_side() {
    let mut s = sh(
        "while read n; do \
           case $n in *[!0-9]*|'') echo \"not a number: $n\" >&2 ;; *) echo $((n * 2)) ;; esac; \
         done",
        StderrMode::Separate,
    );
    s.send_line("21").unwrap();
    assert_eq!(s.expect("\n").unwrap().before(), b"42");
    s.send_line("abc").unwrap();
    s.stderr().expect("not a number: abc\n").unwrap();
    s.send_line("5").unwrap();
    // Nothing of the error reached stdout.
    assert_eq!(s.expect("\n").unwrap().before(), b"10");
    s.close_input().unwrap();
    assert!(stdout_to_eof(&mut s).is_empty());
    assert!(stderr_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

#[test]
fn open3_stderr_can_end_before_stdout() {
    let mut s = sh(
        "echo bye >&2; exec 2>&-; read line; echo \"got $line\"",
        StderrMode::Separate,
    );
    assert_eq!(text(&stderr_to_eof(&mut s)), "bye\n");
    assert!(s.stderr().is_eof());
    assert!(!s.is_eof(), "stdout is still open");
    s.send_line("more").unwrap();
    s.expect("got more\n").unwrap();
    assert!(stdout_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

// ---------------------------------------------------------------------------------------
// Floods: the output nobody is waiting on is drained, so the child never blocks

/// 2 MiB of numbered lines: `0000000\n0000001\n...`.
const FLOOD_LINES: usize = 262_144;
const FLOOD_BYTES: usize = FLOOD_LINES * 8;

fn flood_bytes() -> Vec<u8> {
    (0..FLOOD_LINES)
        .flat_map(|i| format!("{i:07}\n").into_bytes())
        .collect()
}

/// Python that writes [`flood_bytes`] to `flood` (`stdout` or `stderr`), then `done` to
/// `other`, flushing both.
fn flood_code(flood: &str, other: &str) -> String {
    format!(
        "import sys\n\
         out = sys.{flood}.buffer\n\
         for i in range({FLOOD_LINES}):\n    out.write(b'%07d\\n' % i)\n\
         out.flush()\n\
         sys.{other}.write('done\\n')\n\
         sys.{other}.flush()"
    )
}

#[test]
fn flooding_stderr_while_we_wait_on_stdout_does_not_deadlock() {
    const { assert!(FLOOD_BYTES > 1024 * 1024 && FLOOD_BYTES < DEFAULT_MAX_BUFFER) };
    let mut s = py(&flood_code("stderr", "stdout"), StderrMode::Separate);
    assert_eq!(s.max_buffer(), DEFAULT_MAX_BUFFER);
    // The program only writes "done" after all of its stderr went into the pipe.
    let m = s.expect("done\n").unwrap();
    assert!(m.before().is_empty(), "stdout got {}", text(m.before()));
    assert!(stdout_to_eof(&mut s).is_empty());
    // All of stderr was kept: it fits the default maximum.
    let err = stderr_to_eof(&mut s);
    assert_eq!(err.len(), FLOOD_BYTES);
    assert!(err == flood_bytes(), "stderr arrived altered");
    assert!(s.wait().unwrap().success());
}

#[test]
fn flooding_stdout_while_we_wait_on_stderr_does_not_deadlock() {
    let mut s = py(&flood_code("stdout", "stderr"), StderrMode::Separate);
    let m = s.stderr().expect("done\n").unwrap();
    assert!(m.before().is_empty(), "stderr got {}", text(m.before()));
    let out = stdout_to_eof(&mut s);
    assert_eq!(out.len(), FLOOD_BYTES);
    assert!(out == flood_bytes(), "stdout arrived altered");
    assert_eq!(s.discarded(), 0);
    assert!(stderr_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

#[test]
fn flooding_both_outputs_at_once_does_not_deadlock() {
    // Interleaved writes, each far bigger than a pipe's capacity in total.
    let mut s = py(
        "import sys\n\
         for i in range(2048):\n\
         \x20   sys.stdout.write('o' * 1023 + '\\n')\n\
         \x20   sys.stderr.write('e' * 1023 + '\\n')\n\
         sys.stdout.write('end of stdout\\n')\n\
         sys.stderr.write('end of stderr\\n')",
        StderrMode::Separate,
    );
    let m = s.expect("end of stdout\n").unwrap();
    assert_eq!(m.before().len(), 2048 * 1024);
    let m = s.stderr().expect("end of stderr\n").unwrap();
    assert_eq!(m.before().len(), 2048 * 1024);
    assert!(m.before().iter().all(|&b| b == b'e' || b == b'\n'));
    assert!(s.wait().unwrap().success());
}

// ---------------------------------------------------------------------------------------
// End of input

#[test]
fn close_input_lets_cat_finish() {
    let mut s = piped(&mut Command::new("cat"), StderrMode::Separate);
    s.send("hello\nworld\n").unwrap();
    s.expect("hello\n").unwrap();
    s.close_input().unwrap();
    assert_eq!(text(&stdout_to_eof(&mut s)), "world\n");
    assert!(stderr_to_eof(&mut s).is_empty());
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn close_input_lets_wc_count() {
    let mut s = piped(Command::new("wc").arg("-l"), StderrMode::Separate);
    s.send("one\ntwo\nthree\n").unwrap();
    s.close_input().unwrap();
    assert_eq!(text(&stdout_to_eof(&mut s)).trim(), "3");
    assert!(s.wait().unwrap().success());
}

#[test]
fn close_input_lets_sort_sort() {
    // Plain lowercase words sort the same in every locale.
    let mut s = piped(&mut Command::new("sort"), StderrMode::Separate);
    for word in ["pear", "apple", "fig"] {
        s.send_line(word).unwrap();
    }
    // sort can only answer once it has all of its input.
    assert!(
        s.expect_timeout(Pattern::timeout(), Some(Duration::from_millis(200)))
            .unwrap()
            .is_timeout()
    );
    s.close_input().unwrap();
    assert_eq!(text(&stdout_to_eof(&mut s)), "apple\nfig\npear\n");
    assert!(s.wait().unwrap().success());
}

#[test]
fn a_reader_waiting_for_eof_gets_it_once_input_is_closed() {
    let mut s = piped(&mut Command::new("cat"), StderrMode::Separate);
    // Nothing to read yet, and no end either: cat is waiting for us.
    let m = s
        .expect_timeout(
            [Pattern::eof(), Pattern::timeout()],
            Some(Duration::from_millis(100)),
        )
        .unwrap();
    assert!(m.is_timeout());
    s.close_input().unwrap();
    assert!(stdout_to_eof(&mut s).is_empty());
    assert!(s.is_eof());
    // Expecting text after the end is an end-of-output error, at once.
    let err = s.expect("anything").unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn sending_after_close_input_is_a_broken_pipe_error() {
    let mut s = piped(&mut Command::new("cat"), StderrMode::Separate);
    s.close_input().unwrap();
    let err = io_source(s.send_line("too late").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    assert!(stdout_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

#[test]
fn writing_to_a_child_that_has_exited_is_an_error() {
    // (tests/pipes_sigpipe.rs repeats this with SIGPIPE at its default action.)
    let mut s = piped(&mut Command::new("true"), StderrMode::Separate);
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
    let err = io_source(s.send(vec![b'x'; 1024 * 1024]).unwrap_err());
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    assert_eq!(err.raw_os_error(), Some(Errno::EPIPE as i32), "{err}");
}

#[test]
fn writing_to_a_child_that_closed_its_stdin_is_an_error() {
    let mut s = py(
        "import os, sys\n\
         os.close(0)\n\
         print('stdin closed', flush=True)\n\
         import signal; signal.pause()",
        StderrMode::Separate,
    );
    s.expect("stdin closed\n").unwrap();
    let err = io_source(s.send_line("hello?").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    // The child is still there until we end it.
    assert!(s.is_alive().unwrap());
    s.kill(Signal::SIGTERM).unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGTERM));
}

// ---------------------------------------------------------------------------------------
// What the child gets

/// Our fds that a child would inherit (not close-on-exec) beyond 0, 1 and 2: the test
/// runner may have been started with some. Passing those on is another matter (see
/// tests/fd_inheritance.rs); here the question is whether the session's own pipe ends leak.
fn our_inheritable_fds() -> BTreeSet<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &i32| fd > 2)
        .filter(|fd| {
            // The open flags, in octal; fds closed meanwhile by other tests drop out.
            let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
                return false;
            };
            info.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| i32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|flags| flags & nix::libc::O_CLOEXEC == 0)
        })
        .collect()
}

/// The child's open fds, each as `fd kind dev ino` (kind: `fifo`, `chr` or `other`).
const LIST_FDS: &str = "import os, stat\n\
    def kind(m):\n\
    \x20   return 'fifo' if stat.S_ISFIFO(m) else 'chr' if stat.S_ISCHR(m) else 'other'\n\
    for name in sorted(os.listdir('/proc/self/fd'), key=int):\n\
    \x20   try:\n\
    \x20       st = os.fstat(int(name))\n\
    \x20   except OSError:\n\
    \x20       continue  # the fd of the listing itself, closed by now\n\
    \x20   print(name, kind(st.st_mode), st.st_dev, st.st_ino)";

struct ChildFd {
    fd: i32,
    kind: String,
    id: (u64, u64),
}

fn child_fds(mode: StderrMode) -> Vec<ChildFd> {
    let mut s = py(LIST_FDS, mode);
    let out = text(&stdout_to_eof(&mut s));
    assert!(s.wait().unwrap().success(), "{out}");
    out.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            ChildFd {
                fd: f[0].parse().unwrap(),
                kind: f[1].to_owned(),
                id: (f[2].parse().unwrap(), f[3].parse().unwrap()),
            }
        })
        .collect()
}

#[test]
fn the_child_gets_only_its_three_stdio_fds() {
    let inherited = our_inheritable_fds();
    for mode in [
        StderrMode::Inherit,
        StderrMode::Merge,
        StderrMode::Null,
        StderrMode::Separate,
    ] {
        let fds = child_fds(mode);
        let numbers: Vec<i32> = fds
            .iter()
            .map(|f| f.fd)
            .filter(|fd| !inherited.contains(fd))
            .collect();
        assert_eq!(
            numbers,
            [0, 1, 2],
            "{mode:?}: the child has fds {numbers:?}"
        );
        let [stdin, stdout, stderr] = [&fds[0], &fds[1], &fds[2]];
        assert_eq!(stdin.kind, "fifo", "{mode:?}");
        assert_eq!(stdout.kind, "fifo", "{mode:?}");
        assert_ne!(stdin.id, stdout.id, "{mode:?}");
        match mode {
            StderrMode::Merge => assert_eq!(stderr.id, stdout.id),
            StderrMode::Separate => {
                assert_eq!(stderr.kind, "fifo");
                assert_ne!(stderr.id, stdout.id);
                assert_ne!(stderr.id, stdin.id);
            }
            StderrMode::Null => assert_eq!(stderr.kind, "chr"),
            StderrMode::Inherit => assert_eq!(stderr.id, identity(std::io::stderr())),
        }
    }
}

#[test]
fn the_child_gets_a_process_group_of_its_own_in_our_session() {
    let mut s = py(
        "import os\n\
         print(os.getpgrp() == os.getpid(), os.getsid(0))",
        StderrMode::Separate,
    );
    let our_session = nix::unistd::getsid(None).unwrap();
    assert_eq!(
        text(&stdout_to_eof(&mut s)),
        format!("True {our_session}\n")
    );
    assert!(s.wait().unwrap().success());
}

// ---------------------------------------------------------------------------------------
// Exit status and reaping, as for pty sessions

#[test]
fn exit_code_is_reported() {
    let mut s = sh("echo bye; exit 7", StderrMode::Separate);
    assert_eq!(text(&stdout_to_eof(&mut s)), "bye\n");
    let status = s.wait().unwrap();
    assert_eq!(status, ExitStatus::Exited(7));
    assert_eq!(status.code(), Some(7));
    assert!(!status.success());
    // The status is remembered.
    assert_eq!(s.try_wait().unwrap(), Some(ExitStatus::Exited(7)));
    assert!(!s.is_alive().unwrap());
}

#[test]
fn death_by_signal_is_reported() {
    let mut s = sh("kill -TERM $$", StderrMode::Separate);
    let status = s.wait().unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGTERM));
    assert_eq!(status.signal(), Some(Signal::SIGTERM));
    assert_eq!(status.code(), None);
}

#[test]
fn kill_wait_and_try_wait_on_a_running_child() {
    let mut s = piped(&mut Command::new("cat"), StderrMode::Separate);
    assert!(s.is_alive().unwrap());
    assert_eq!(s.try_wait().unwrap(), None);
    // cat waits for input we never send or close.
    assert_eq!(
        s.wait_timeout(Some(Duration::from_millis(50))).unwrap(),
        None
    );
    s.kill(Signal::SIGKILL).unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGKILL));
    assert!(stdout_to_eof(&mut s).is_empty());
}

#[test]
fn terminate_ends_a_pipe_child_with_sighup_first() {
    let mut s = piped(&mut Command::new("cat"), StderrMode::Separate);
    let status = s.terminate(LONG).unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGHUP));
}

/// True once `pid` is no child of ours: reaped (or never ours).
fn is_reaped(pid: u32) -> bool {
    waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) == Err(Errno::ECHILD)
}

#[test]
fn dropping_a_session_reaps_a_running_child() {
    let s = piped(&mut Command::new("cat"), StderrMode::Separate);
    let pid = s.pid();
    assert!(!is_reaped(pid));
    drop(s);
    assert!(is_reaped(pid), "pid {pid} was left behind");
}

#[test]
fn dropping_a_session_reaps_a_child_that_ignores_end_of_input() {
    // The child outlives its stdin closing and ignores SIGHUP: the drop must escalate.
    let mut s = py(
        "import signal, sys\n\
         signal.signal(signal.SIGHUP, signal.SIG_IGN)\n\
         print('ready', flush=True)\n\
         sys.stdin.read()\n\
         signal.pause()",
        StderrMode::Separate,
    );
    s.expect("ready\n").unwrap();
    let pid = s.pid();
    drop(s);
    assert!(is_reaped(pid), "pid {pid} was left behind");
}

#[test]
fn dropping_a_session_reaps_an_exited_child() {
    let mut s = sh("exit 3", StderrMode::Separate);
    assert!(stdout_to_eof(&mut s).is_empty());
    let pid = s.pid();
    drop(s);
    assert!(is_reaped(pid), "pid {pid} was left a zombie");
}

// ---------------------------------------------------------------------------------------
// Why ptys: programs block-buffer their output into a pipe

/// Prints a line, then blocks reading a line of input. (Not `input()`: when stdin is not a
/// terminal, `input()` flushes stdout before reading, which would hide the difference.)
const PRINT_THEN_READ: &str = "import sys\n\
    print('first')\n\
    sys.stdin.readline()\n\
    print('second')";

#[test]
fn a_line_arrives_at_once_on_a_pty() {
    let mut s = common::spawn(python(PRINT_THEN_READ).env_remove("PYTHONUNBUFFERED"));
    // On a terminal, stdout is line buffered: the line comes while Python waits for input.
    s.expect_timeout("first", Some(Duration::from_secs(10)))
        .unwrap();
    s.send_line("").unwrap();
    s.expect("second").unwrap();
    s.expect(Pattern::eof()).unwrap();
    assert!(s.wait().unwrap().success());
}

#[test]
fn the_same_line_is_held_back_in_a_pipe_until_the_program_exits() {
    let mut s = py(PRINT_THEN_READ, StderrMode::Separate);
    // Into a pipe, stdout is block buffered: while Python waits for input, the line stays in
    // its buffer. Nothing can arrive before we close the input, so this is not a race.
    let err = s
        .expect_timeout("first", Some(Duration::from_secs(1)))
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(s.buffer().is_empty());
    assert!(s.is_alive().unwrap());
    // At end of input, readline returns, the program ends and flushes everything.
    s.close_input().unwrap();
    let m = s.expect("first\n").unwrap();
    assert!(m.before().is_empty());
    assert_eq!(text(&stdout_to_eof(&mut s)), "second\n");
    assert!(stderr_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

#[test]
fn an_unbuffered_program_is_prompt_in_a_pipe_too() {
    let mut s = piped(
        python(PRINT_THEN_READ).env("PYTHONUNBUFFERED", "1"),
        StderrMode::Separate,
    );
    s.expect_timeout("first\n", Some(Duration::from_secs(10)))
        .unwrap();
    s.send_line("").unwrap();
    s.expect("second\n").unwrap();
    assert!(stdout_to_eof(&mut s).is_empty());
    assert!(s.wait().unwrap().success());
}

#[test]
fn the_session_fds_are_what_poll_waits_on() {
    // The transport exposes its fds for callers who poll alongside other work.
    let s = piped(&mut Command::new("cat"), StderrMode::Separate);
    let t = s.transport();
    let fds = [t.read_fd(), t.write_fd().unwrap(), t.stderr_fd().unwrap()];
    let raw: BTreeSet<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    assert_eq!(raw.len(), 3, "{raw:?}");
    for fd in fds {
        let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
        assert!(
            flags.contains(FdFlag::FD_CLOEXEC),
            "fd {fd:?} is inheritable"
        );
    }
}

/// Stderr kept apart drops its oldest bytes beyond the maximum, and counts them: 40 MB of
/// it while we wait on stdout leaves the newest 16 MiB and a count of the rest.
#[test]
fn stderr_discards_are_counted() {
    let mut s = Command::shell("head -c 40000000 /dev/zero >&2; echo done")
        .spawn_piped(StderrMode::Separate)
        .unwrap();
    s.expect("done\n").unwrap();
    // Everything the program wrote to stderr is in the pipe or read by now.
    while s.stderr().read_available().unwrap() > 0 {}
    let max = DEFAULT_MAX_BUFFER as u64;
    assert_eq!(s.stderr().buffer().len() as u64, max);
    assert!(s.stderr().discarded() >= 40_000_000 - max);
    assert_eq!(s.stderr().discarded(), 40_000_000 - max);
    assert!(s.stderr().buffer().iter().all(|&b| b == 0));
    // The main output lost nothing.
    assert_eq!(s.discarded(), 0);
    assert!(s.wait().unwrap().success());
}
