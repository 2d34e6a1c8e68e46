//! Spawn options: SIGHUP ignored, fds passed under chosen numbers, pre-exec hooks, and a
//! pty for stdin/stdout with stderr on a pipe of its own. Real programs on real ptys.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use common::{LONG, read_to_eof, spawn};
use nix::libc;
use ptychat::{Command, Error, ExitStatus, Pattern, Signal, SpawnProblem, StderrMode};

/// Tests that depend on which fd numbers are free take turns (the others open fds too).
static FD_NUMBERS: Mutex<()> = Mutex::new(());

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> (std::fs::File, OwnedFd) {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    (read.into(), write)
}

fn read_all(mut reader: impl Read) -> String {
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_program_started_with_sighup_ignored_survives_it() {
    let mut s = spawn(Command::new("cat").ignore_sighup(true));
    s.kill(Signal::SIGHUP).unwrap();
    s.send_line("still here").unwrap();
    s.expect("still here\r\nstill here\r\n").unwrap();
    assert!(s.is_alive().unwrap());
    // terminate goes on past the ignored SIGHUP.
    let status = s.terminate(Duration::from_secs(1)).unwrap();
    assert!(
        matches!(status, ExitStatus::Signaled(signal) if signal != Signal::SIGHUP),
        "{status}"
    );
}

#[test]
fn without_the_option_sighup_ends_the_program() {
    let mut s = spawn(&mut Command::new("cat"));
    s.send_line("ready").unwrap();
    s.expect("ready\r\nready\r\n").unwrap();
    s.kill(Signal::SIGHUP).unwrap();
    s.expect_exit(Signal::SIGHUP).unwrap();
}

#[test]
fn the_sighup_disposition_reaches_programs_the_program_starts() {
    let mut s = spawn(
        Command::new("sh")
            .args(["-c", "grep SigIgn /proc/self/status"])
            .ignore_sighup(true),
    );
    let m = s
        .expect(Pattern::regex(r"SigIgn:\t([0-9a-f]+)").unwrap())
        .unwrap();
    let mask = u64::from_str_radix(&m.group_str(1).unwrap(), 16).unwrap();
    assert_eq!(mask & 1, 1, "SIGHUP (bit 0) is not ignored: {mask:x}");
}

#[test]
fn a_passed_fd_reaches_the_program_under_its_number() {
    let (reader, writer) = pipe();
    let mut command = Command::new("sh");
    command
        .args(["-c", "echo through fd 7 >&7"])
        .pass_fd(writer, 7);
    let mut s = spawn(&mut command);
    s.expect_exit(0).unwrap();
    drop(command); // the command keeps our copy of the write end
    assert_eq!(read_all(reader), "through fd 7\n");
}

#[test]
fn passed_fds_may_swap_numbers() {
    // Each fd goes to the other's number: set up in the wrong order, one would be lost.
    let (reader_a, writer_a) = pipe();
    let (reader_b, writer_b) = pipe();
    let (a, b) = (writer_a.as_raw_fd(), writer_b.as_raw_fd());
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("echo to-a >&{b}; echo to-b >&{a}")])
        .pass_fd(writer_a, b)
        .pass_fd(writer_b, a);
    spawn(&mut command).expect_exit(0).unwrap();
    drop(command);
    assert_eq!(read_all(reader_a), "to-a\n");
    assert_eq!(read_all(reader_b), "to-b\n");
}

#[test]
fn the_program_gets_passed_fds_and_no_others() {
    let (reader, writer) = pipe();
    let mut command =
        common::python("import os\nprint(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))");
    command.pass_fd(writer, 9);
    let mut s = spawn(&mut command);
    let out = String::from_utf8_lossy(&read_to_eof(&mut s)).into_owned();
    let listing: Vec<i32> = out
        .trim()
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|fd| fd.parse().unwrap())
        .collect();
    // Python's listdir holds one fd of its own while it reads the directory: stdio, the
    // passed fd and that one, nothing of ours.
    assert_eq!(&listing[..3], &[0, 1, 2], "{out}");
    assert!(listing.contains(&9), "fd 9 was not passed: {out}");
    assert_eq!(listing.len(), 5, "{out}");
    drop(command);
    assert_eq!(read_all(reader), "");
}

#[test]
fn a_passed_fd_goes_to_pipe_sessions_too() {
    let (reader, writer) = pipe();
    let mut command = Command::new("sh");
    command
        .args(["-c", "echo side >&4; echo main"])
        .pass_fd(writer, 4);
    let mut s = command.spawn_piped(StderrMode::Inherit).unwrap();
    s.expect_timeout("main\n", Some(LONG)).unwrap();
    s.expect_exit(0).unwrap();
    drop(command);
    assert_eq!(read_all(reader), "side\n");
}

#[test]
fn a_failed_exec_reports_through_std_even_when_a_passed_fd_takes_its_pipes_number() {
    let _turn = FD_NUMBERS.lock().unwrap_or_else(|e| e.into_inner());
    // The lowest free number now: the spawn opens the pty pair, copies of the slave and
    // std's exec-error pipe from there up. Passing an fd to each of the next numbers, one
    // of them is where that pipe would go if nothing reserved the number.
    let probe = std::fs::File::open("/dev/null").unwrap();
    let lowest = probe.as_raw_fd();
    drop(probe);
    for target in lowest..lowest + 10 {
        let (reader, writer) = pipe();
        let mut command = Command::new("/no/such/program");
        command.pass_fd(writer, target);
        let err = command.spawn().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Spawn {
                    problem: SpawnProblem::NotFound(_),
                    ..
                }
            ),
            "passing an fd as {target}: {err}"
        );
        drop(command);
        // std's error report did not end up in our pipe.
        assert_eq!(read_all(reader), "", "passing an fd as {target}");
    }
}

#[test]
fn passing_an_fd_as_stdio_or_beyond_the_limit_is_refused() {
    let err = Command::new("true")
        .pass_fd(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()), 1)
        .spawn()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument: cannot pass an fd as number 1: 0, 1 and 2 are the program's \
         stdin, stdout and stderr"
    );
    let err = Command::new("true")
        .pass_fd(std::fs::File::open("/dev/null").unwrap(), i32::MAX)
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("RLIMIT_NOFILE"), "{err}");
}

#[test]
#[allow(unsafe_code)]
fn pre_exec_hooks_run_in_order_after_the_set_up() {
    let mut command = Command::new("sh");
    command.args(["-c", "umask"]);
    // SAFETY: getsid, getpid and umask are async-signal-safe; nothing allocates.
    unsafe {
        command.pre_exec(|| {
            // The child already leads its own session.
            if libc::getsid(0) != libc::getpid() {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            libc::umask(0o027);
            Ok(())
        });
        command.pre_exec(|| {
            // Runs second: sees the first hook's umask.
            let previous = libc::umask(0o077);
            if previous != 0o027 {
                return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
            }
            Ok(())
        });
    }
    let mut s = spawn(&mut command);
    s.expect("0077").unwrap();
}

#[test]
#[allow(unsafe_code)]
fn a_failing_hook_is_named_in_the_spawn_error_not_mistaken_for_the_program() {
    let mut command = Command::new("cat");
    // SAFETY: the hook makes no call.
    unsafe {
        command.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::ENOENT)));
    }
    let err = command.spawn().unwrap_err();
    let Error::Spawn {
        problem, source, ..
    } = &err
    else {
        panic!("not a spawn error: {err}");
    };
    assert_eq!(*problem, SpawnProblem::PreExecHook, "{err}");
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(
        err.to_string(),
        "cannot spawn `cat`: the pre-exec hook failed (No such file or directory (os error 2))"
    );
    // A missing program is still a missing program when there are hooks.
    let mut command = Command::new("/no/such/program");
    // SAFETY: the hook makes no call.
    unsafe { command.pre_exec(|| Ok(())) };
    let err = command.spawn().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Spawn {
                problem: SpawnProblem::NotFound(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn stderr_on_its_own_pipe_is_kept_apart_from_the_screen() {
    let mut s = Command::new("sh")
        .args([
            "-c",
            "ls /no/such/dir; [ -t 0 ] && [ -t 1 ] && echo stdin and stdout are a tty; \
             [ -t 2 ] || echo stderr is not",
        ])
        .timeout(Some(LONG))
        .spawn_with_stderr(StderrMode::Separate)
        .unwrap();
    s.stderr().expect("No such file or directory").unwrap();
    let m = s.expect("stderr is not\r\n").unwrap();
    assert_eq!(m.before(), b"stdin and stdout are a tty\r\n");
    s.expect(Pattern::eof()).unwrap();
    s.stderr().expect(Pattern::eof()).unwrap();
    s.expect_exit(0).unwrap();
}

#[test]
fn a_program_flooding_its_stderr_pipe_does_not_block_the_screen() {
    let mut s = Command::new("sh")
        .args(["-c", "head -c 1000000 /dev/zero >&2; echo done"])
        .timeout(Some(LONG))
        .spawn_with_stderr(StderrMode::Separate)
        .unwrap();
    s.expect("done").unwrap();
    let m = s.stderr().expect(Pattern::eof()).unwrap();
    assert_eq!(m.before().len(), 1_000_000);
}

#[test]
fn a_repls_errors_go_to_the_separate_stderr_and_its_answers_to_the_screen() {
    let mut command = Command::new("python3");
    command
        .args(["-i", "-q"])
        .env("TERM", "dumb")
        .env("PYTHON_BASIC_REPL", "1")
        .timeout(Some(LONG));
    let mut s = command.spawn_with_stderr(StderrMode::Separate).unwrap();
    // With readline (stdin and stdout are a terminal), the prompt is on stdout.
    s.expect(">>> ").unwrap();
    s.send_line("print(6 * 7)").unwrap();
    s.expect("42\r\n>>> ").unwrap();
    s.send_line("1/0").unwrap();
    s.stderr().expect("ZeroDivisionError").unwrap();
    s.expect(">>> ").unwrap();
    assert!(!String::from_utf8_lossy(s.buffer()).contains("Error"));
}

#[test]
fn a_shells_prompt_goes_to_the_separate_stderr() {
    let mut s = Command::new("bash")
        .args(["--norc", "--noprofile", "-i"])
        .env("PS1", "$ ")
        .env("TERM", "dumb")
        .timeout(Some(LONG))
        .spawn_with_stderr(StderrMode::Separate)
        .unwrap();
    s.stderr().expect("$ ").unwrap();
    s.send_line("echo $((6 * 7))").unwrap();
    s.expect("42\r\n").unwrap();
    s.stderr().expect("$ ").unwrap();
    s.send_line("exit 3").unwrap();
    s.expect_exit(3).unwrap();
}

#[test]
fn stderr_merged_or_discarded_on_a_pty() {
    let line = "echo out; echo err >&2";
    let mut merged = Command::shell(line)
        .timeout(Some(LONG))
        .spawn_with_stderr(StderrMode::Merge)
        .unwrap();
    merged.expect("out\r\nerr\r\n").unwrap();
    let mut discarded = Command::shell(line)
        .timeout(Some(LONG))
        .spawn_with_stderr(StderrMode::Null)
        .unwrap();
    let m = discarded.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"out\r\n");
}
