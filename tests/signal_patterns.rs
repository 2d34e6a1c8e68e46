//! Signals reaching `expect` through a watched `SignalPipe` (the self-pipe trick).
//! One test per binary: signal handlers are process-wide.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, raise};
use ptychat::{Command, Pattern, SignalPipe, StderrMode};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn watched_signals_end_waits_and_unclaimed_ones_are_kept() {
    // SIGCHLD ends a wait early although a grandchild holds the output open.
    let sigchld = SignalPipe::new(&[Signal::SIGCHLD]).unwrap();
    let mut s = Command::shell("echo started; sleep 120 & exit 7")
        .timeout(Some(LONG))
        .spawn_piped(StderrMode::Null)
        .unwrap();
    s.watch_signals(sigchld);
    let began = Instant::now();
    let m = s
        .expect([Pattern::eof(), Pattern::signal(Signal::SIGCHLD)])
        .unwrap();
    assert_eq!(m.index(), 1);
    assert_eq!(m.signal(), Some(Signal::SIGCHLD));
    // Nothing is consumed by a signal match: the output is still there.
    assert_eq!(m.before(), b"started\n");
    assert_eq!(s.buffer(), b"started\n");
    assert!(began.elapsed() < LONG, "the wait was not ended early");
    assert_eq!(s.wait().unwrap().code(), Some(7));
    let pipe = s.unwatch_signals().expect("the pipe comes back");
    drop(s);
    drop(pipe);

    // A signal no pattern waits for is kept for take_signals, and the wait goes on.
    let winch = SignalPipe::new(&[Signal::SIGWINCH]).unwrap();
    let mut s = Command::new("cat").timeout(Some(LONG)).spawn().unwrap();
    s.watch_signals(winch);
    raise(Signal::SIGWINCH).unwrap();
    s.send_line("after the signal").unwrap();
    s.expect("after the signal\r\n").unwrap();
    assert_eq!(s.take_signals().unwrap(), vec![Signal::SIGWINCH]);
    assert!(s.take_signals().unwrap().is_empty());

    // A signal pattern matches one that arrives while waiting.
    raise(Signal::SIGWINCH).unwrap();
    let m = s
        .expect_timeout(
            ["never".into(), Pattern::signal(Signal::SIGWINCH)],
            Some(LONG),
        )
        .unwrap();
    assert_eq!(m.signal(), Some(Signal::SIGWINCH));
    assert_eq!(
        Pattern::signal(Signal::SIGWINCH).to_string(),
        "signal SIGWINCH"
    );
}
