//! Writing to a peer that has gone away is an error, never a SIGPIPE that kills us, even in
//! a process where SIGPIPE has its default action (terminate).
//!
//! Rust programs, test binaries included, start with SIGPIPE ignored, which would hide the
//! signal; every test here puts it back to the default first. The disposition is
//! process-wide, so these tests live in a binary of their own, and all of them want the
//! same disposition. A test that fails this way does not fail: the whole binary dies of
//! SIGPIPE, which `cargo test` reports as "signal: 13, SIGPIPE: write on a pipe with no
//! reader".
//!
//! The tests also run one at a time ([`one_at_a_time`]): a test that spawns a child forks,
//! and between fork and exec the child holds a copy of every fd of this process, the
//! close-on-exec ones included. A peer another test has just dropped would then still have
//! an open copy for a moment, and a write that must fail at once could be accepted.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::{SigHandler, Signal, signal};
use ptychat::{Command, Error, ExitStatus, Pattern, Session, StderrMode};

const LONG: Duration = Duration::from_secs(30);

/// Holds every other test of this binary off until the guard is dropped, so no fork of
/// theirs keeps a copy of a peer this test closed.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A test that failed while holding the lock poisons it; the others still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts SIGPIPE back to its default action (terminate the process), once, and returns the
/// guard of [`one_at_a_time`].
fn sigpipe_kills() -> MutexGuard<'static, ()> {
    let guard = one_at_a_time();
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installing SIG_DFL runs no code of ours in signal context; nothing in this
        // test binary relies on SIGPIPE being ignored (that is what is being tested).
        let previous = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();
        assert!(
            matches!(previous, SigHandler::SigIgn),
            "the Rust runtime ignores SIGPIPE"
        );
    });
    guard
}

/// The `io::Error` inside an [`Error::Io`].
fn io_source(err: Error) -> std::io::Error {
    match err {
        Error::Io { source, .. } => source,
        other => panic!("expected Error::Io, got {other}"),
    }
}

fn assert_broken_pipe(err: Error) {
    let text = err.to_string();
    let source = io_source(err);
    assert_eq!(source.kind(), ErrorKind::BrokenPipe, "{text}");
    assert_eq!(source.raw_os_error(), Some(nix::libc::EPIPE), "{text}");
}

#[test]
fn sending_to_an_exited_pipe_child_is_epipe_not_death() {
    let _serial = sigpipe_kills();
    let mut s = Command::new("true")
        .timeout(Some(LONG))
        .spawn_piped(StderrMode::Separate)
        .unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
    assert_broken_pipe(s.send(vec![b'x'; 1024 * 1024]).unwrap_err());
    // Still alive, and a second attempt fails the same way.
    assert_broken_pipe(s.send_line("again").unwrap_err());
    assert!(s.expect(Pattern::eof()).unwrap().before().is_empty());
}

#[test]
fn sending_to_a_pipe_child_that_dies_mid_write_is_epipe_not_death() {
    let _serial = sigpipe_kills();
    // head reads a little of the megabyte and exits; the rest of the write hits a closed pipe.
    let mut s = Command::new("head")
        .args(["-c", "10"])
        .timeout(Some(LONG))
        .spawn_piped(StderrMode::Separate)
        .unwrap();
    assert_broken_pipe(s.send(vec![b'y'; 1024 * 1024]).unwrap_err());
    assert_eq!(s.expect(Pattern::eof()).unwrap().before(), b"yyyyyyyyyy");
    assert!(s.wait().unwrap().success());
}

#[test]
fn sending_on_fds_whose_reader_is_gone_is_epipe_not_death() {
    let _serial = sigpipe_kills();
    let (our_read, _their_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let (their_read, our_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    drop(their_read);
    let mut s = Session::from_fds(our_read, our_write).unwrap();
    assert_broken_pipe(s.send_line("anyone?").unwrap_err());
}

#[test]
fn sending_on_a_pipe_stream_whose_reader_is_gone_is_epipe_not_death() {
    let _serial = sigpipe_kills();
    // A pipe's write end as a plain stream (not a socket, so no MSG_NOSIGNAL).
    let (their_read, our_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    drop(their_read);
    let mut s = Session::from_stream(std::fs::File::from(our_write)).unwrap();
    assert_broken_pipe(s.send_line("anyone?").unwrap_err());
}

#[test]
fn sending_on_sockets_whose_peer_is_gone_is_epipe_not_death() {
    let _serial = sigpipe_kills();
    let (mut left, right) = Session::pair().unwrap();
    drop(right);
    assert_broken_pipe(left.send_line("anyone?").unwrap_err());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s =
        Session::from_stream(TcpStream::connect(listener.local_addr().unwrap()).unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    drop(peer);
    // The first write after the peer closed may be accepted (the peer answers it with a
    // reset); keep writing until the error comes.
    s.set_timeout(Some(LONG));
    let err = (0..1000)
        .find_map(|_| s.send(vec![b'z'; 64 * 1024]).err())
        .expect("writes to a closed TCP peer kept succeeding");
    let text = err.to_string();
    let source = io_source(err);
    assert!(
        matches!(
            source.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{text}"
    );
}
