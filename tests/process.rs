//! The child process: exit codes, signals, polite termination, and waiting with and
//! without deadlines.

mod common;

use std::time::{Duration, Instant};

use common::{LONG, assert_waited, py, read_to_eof, sh, spawn, wait_until_buffered};
use ptychat::{Command, ExitStatus, Pattern, Signal};

#[test]
fn exit_code_is_reported() {
    for code in [0, 1, 7, 255] {
        let mut s = sh(&format!("exit {code}"));
        let status = s.wait().unwrap();
        assert_eq!(status, ExitStatus::Exited(code));
        assert_eq!(status.code(), Some(code));
        assert_eq!(status.signal(), None);
        assert_eq!(status.success(), code == 0);
        assert_eq!(status.to_string(), format!("exit code {code}"));
    }
}

#[test]
fn output_then_exit_code() {
    let mut s = sh("echo bye; exit 3");
    assert_eq!(read_to_eof(&mut s), b"bye\r\n");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(3));
}

#[test]
fn kill_reports_the_signal() {
    for signal in [Signal::SIGKILL, Signal::SIGTERM, Signal::SIGUSR1] {
        let mut s = spawn(Command::new("sleep").arg("30"));
        s.kill(signal).unwrap();
        let status = s.wait().unwrap();
        assert_eq!(status, ExitStatus::Signaled(signal));
        assert_eq!(status.signal(), Some(signal));
        assert_eq!(status.code(), None);
        assert!(!status.success());
        assert_eq!(status.to_string(), format!("killed by {signal}"));
        // The end of the process is the end of its output.
        assert_eq!(read_to_eof(&mut s), b"");
    }
}

#[test]
fn kill_after_exit_is_harmless() {
    let mut s = sh("exit 4");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(4));
    s.kill(Signal::SIGKILL).unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(4));
}

#[test]
fn is_alive_and_try_wait() {
    let mut s = spawn(&mut Command::new("cat"));
    assert!(s.is_alive().unwrap());
    assert_eq!(s.try_wait().unwrap(), None);
    s.send_eof().unwrap();
    read_to_eof(&mut s);
    // The output ends as the process exits; it may take a moment to become waitable.
    assert_eq!(
        s.wait_timeout(Some(LONG)).unwrap(),
        Some(ExitStatus::Exited(0))
    );
    assert!(!s.is_alive().unwrap());
    assert_eq!(s.try_wait().unwrap(), Some(ExitStatus::Exited(0)));
    assert_eq!(s.try_wait().unwrap(), Some(ExitStatus::Exited(0)));
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn wait_timeout_returns_none_while_running() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    let wait = Duration::from_millis(200);
    let started = Instant::now();
    assert_eq!(s.wait_timeout(Some(wait)).unwrap(), None);
    assert_waited(started.elapsed(), wait);
    assert!(s.is_alive().unwrap());
    s.kill(Signal::SIGKILL).unwrap();
    assert_eq!(
        s.wait_timeout(Some(LONG)).unwrap(),
        Some(ExitStatus::Signaled(Signal::SIGKILL))
    );
}

#[test]
fn wait_timeout_returns_as_soon_as_the_child_exits() {
    let mut s = spawn(
        Command::new("sh")
            .args(["-c", "read x; exit 5"])
            .echo(false),
    );
    s.send_line("").unwrap();
    let started = Instant::now();
    assert_eq!(
        s.wait_timeout(Some(LONG)).unwrap(),
        Some(ExitStatus::Exited(5))
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn wait_timeout_zero_polls() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    assert_eq!(s.wait_timeout(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn wait_does_not_need_the_output_read() {
    let mut s = sh("echo unread output; exit 2");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(2));
    // The output is still there afterwards.
    assert_eq!(read_to_eof(&mut s), b"unread output\r\n");
}

#[test]
fn terminate_ends_a_plain_program_with_sighup() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    let started = Instant::now();
    let status = s.terminate(LONG).unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGHUP));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!s.is_alive().unwrap());
}

#[test]
fn terminate_moves_on_to_sigint_when_sighup_is_ignored() {
    let mut s = sh(r#"trap "" HUP; echo ready; exec sleep 30"#);
    s.expect("ready\r\n").unwrap();
    let grace = Duration::from_millis(100);
    let status = s.terminate(grace).unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGINT));
}

#[test]
fn terminate_moves_on_to_sigterm() {
    let mut s = sh(r#"trap "" HUP INT; echo ready; exec sleep 30"#);
    s.expect("ready\r\n").unwrap();
    let status = s.terminate(Duration::from_millis(100)).unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGTERM));
}

#[test]
fn terminate_kills_a_program_that_ignores_everything_polite() {
    let mut s = py("import signal\n\
         for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):\n\
         \x20   signal.signal(sig, signal.SIG_IGN)\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   signal.pause()");
    s.expect("ready\r\n").unwrap();
    let grace = Duration::from_millis(100);
    let started = Instant::now();
    let status = s.terminate(grace).unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGKILL));
    // Three signals, each with its grace period, before SIGKILL.
    assert_waited(started.elapsed(), grace * 3);
    assert!(!s.is_alive().unwrap());
}

#[test]
fn terminate_continues_a_stopped_program() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    s.kill(Signal::SIGSTOP).unwrap();
    // Wait until the process is really stopped (state T in /proc).
    let stat = format!("/proc/{}/stat", s.pid());
    let deadline = Instant::now() + LONG;
    loop {
        let text = std::fs::read_to_string(&stat).unwrap();
        let state = text.rsplit_once(") ").unwrap().1.chars().next().unwrap();
        if state == 'T' {
            break;
        }
        assert!(Instant::now() < deadline, "never stopped: {text}");
        // Process states change without an event to wait on: poll /proc.
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(s.try_wait().unwrap(), None, "stopped is not ended");
    let status = s.terminate(LONG).unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGHUP));
}

#[test]
fn terminate_after_exit_returns_the_status() {
    let mut s = sh("exit 6");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(6));
    assert_eq!(
        s.terminate(Duration::from_millis(100)).unwrap(),
        ExitStatus::Exited(6)
    );
}

#[test]
fn program_that_exits_on_its_own_reports_its_code_to_terminate() {
    // A program that cleans up and exits with a code of its own on SIGHUP.
    // (Short sleeps rather than signal.pause(): a signal that lands just before pause()
    // starts would leave it waiting for another one.)
    let mut s = py("import signal, sys, time\n\
         signal.signal(signal.SIGHUP, lambda *_: sys.exit(42))\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   time.sleep(0.05)");
    s.expect("ready\r\n").unwrap();
    let status = s.terminate(LONG).unwrap();
    assert_eq!(status, ExitStatus::Exited(42));
}

#[test]
fn exit_status_equality_and_display() {
    assert_eq!(ExitStatus::Exited(0), ExitStatus::Exited(0));
    assert_ne!(ExitStatus::Exited(0), ExitStatus::Exited(1));
    assert!(ExitStatus::Exited(0).success());
    assert_eq!(
        ExitStatus::Signaled(Signal::SIGINT).to_string(),
        "killed by SIGINT"
    );
}

#[test]
fn expect_eof_then_wait_on_a_killed_program() {
    let mut s = sh("echo started; exec sleep 30");
    s.expect("started\r\n").unwrap();
    s.kill(Signal::SIGKILL).unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"");
    assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGKILL));
}

#[test]
fn wait_timeout_accepts_a_huge_timeout() {
    let mut s = sh("exit 3");
    assert_eq!(
        s.wait_timeout(Some(Duration::MAX)).unwrap(),
        Some(ExitStatus::Exited(3))
    );
}

#[test]
fn terminate_accepts_a_huge_grace() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    assert_eq!(
        s.terminate(Duration::MAX).unwrap(),
        ExitStatus::Signaled(Signal::SIGHUP)
    );
}

/// pexpect's `isalive()` is false right after EOF. Linux reports the end of a pty's output
/// while the child is still finishing its exit, so without the final answer this failed
/// in most runs.
#[test]
fn is_alive_is_false_right_after_the_end_of_output() {
    for _ in 0..50 {
        let mut s = spawn(&mut Command::new("true"));
        s.expect(Pattern::eof()).unwrap();
        assert!(!s.is_alive().unwrap());
        assert_eq!(s.try_wait().unwrap(), Some(ExitStatus::Exited(0)));
    }
}

/// A program that closes its output and goes on running is still alive: the question
/// after the end of output waits for the exit a moment, not until it happens.
#[test]
fn a_program_that_closed_its_output_is_still_alive() {
    let mut s = sh("exec >/dev/null 2>&1 </dev/null; exec sleep 30");
    s.expect(Pattern::eof()).unwrap();
    assert!(s.is_alive().unwrap());
    assert!(s.is_alive().unwrap());
    s.kill(Signal::SIGKILL).unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGKILL));
}

/// Expect's `wait` returns when the program exits, although a background job of its
/// keeps the terminal open (so the output never ends); what it wrote stays readable. The
/// job inherits an ignored SIGHUP: otherwise the hang-up the kernel sends when the shell,
/// the session leader, exits would end it.
#[test]
fn wait_returns_when_the_program_exits_while_a_background_job_holds_the_terminal() {
    let mut s = sh("trap '' HUP; echo before-exit; sleep 100 & exit 5");
    let started = Instant::now();
    assert_eq!(
        s.wait_timeout(Some(LONG)).unwrap(),
        Some(ExitStatus::Exited(5))
    );
    assert!(started.elapsed() < LONG);
    s.expect("before-exit").unwrap();
    assert!(!s.is_eof());
}

/// Waiting reads the output meanwhile: a program that writes more than the terminal holds
/// and then exits is not left blocked on its write, and every byte stays readable.
#[test]
fn wait_reads_the_output_so_a_program_blocked_writing_can_exit() {
    let mut s = sh("head -c 1000000 /dev/zero | tr '\\0' x; echo; echo done");
    assert_eq!(
        s.wait_timeout(Some(LONG)).unwrap(),
        Some(ExitStatus::Exited(0))
    );
    let m = s.expect("done").unwrap();
    assert_eq!(m.before().iter().filter(|&&b| b == b'x').count(), 1_000_000);
}

/// On a pty, writes after the program exited still succeed (the terminal takes them into
/// the void); once the output has ended, sending says the program has gone, and how.
#[test]
fn sending_to_a_program_that_has_exited_is_an_error_that_says_how_it_ended() {
    let mut s = sh("exit 3");
    s.expect(Pattern::eof()).unwrap();
    let err = s.send_line("anyone?").unwrap_err();
    assert_eq!(
        err.to_string(),
        "sending: the program has exited (exit code 3)"
    );
    match err {
        ptychat::Error::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe)
        }
        other => panic!("expected an I/O error, got {other}"),
    }

    let mut s = spawn(Command::new("sleep").arg("30"));
    s.kill(Signal::SIGKILL).unwrap();
    s.expect(Pattern::eof()).unwrap();
    let err = s.send_eof().unwrap_err();
    assert!(err.to_string().ends_with("(killed by SIGKILL)"), "{err}");
}

/// `expect_exit` explains itself as a timeout does: the expected and the actual status
/// (or that the program was still running), how long it waited, the tail of the output.
#[test]
fn expect_exit_shows_the_actual_status_and_the_tail_of_the_output() {
    let mut s = sh("echo all good; exit 0");
    assert_eq!(s.expect_exit(0).unwrap(), ExitStatus::Exited(0));

    let mut s = sh("echo 'error: disk full'; exit 28");
    let err = s.expect_exit(0).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "expected the program to end with exit code 0, but it ended with exit code 28 after"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(r#"ending with: "error: disk full\r\n""#),
        "{text}"
    );
    // The output stays for expect.
    s.expect("disk full").unwrap();

    let mut s = sh("echo started; exec sleep 30");
    wait_until_buffered(&mut s, |buffered| buffered.ends_with(b"started\r\n"));
    s.set_timeout(Some(Duration::from_millis(200)));
    let err = s.expect_exit(0).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "expected the program to end with exit code 0, but it was still running at the \
             deadline (200ms) after"
        ),
        "{text}"
    );
    assert!(
        matches!(err, ptychat::Error::Exit { buffered, .. } if buffered == "started\r\n".len()),
        "{text}"
    );
}
