//! `SignalPipe`: signals as bytes on a socketpair.
//!
//! Signal dispositions are process-wide and the tests of one binary run in parallel, so
//! each test uses signals no other test here uses: SIGUSR1, SIGCHLD, SIGUSR2, and SIGWINCH
//! with SIGURG (the refusal test installs nothing).

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, raise, sigaction};
use nix::unistd::getpid;
use ptychat::{Error, SignalPipe};

const LONG: Duration = Duration::from_secs(30);

/// The current disposition of `signal`, left unchanged.
fn disposition(signal: Signal) -> libc::sigaction {
    // SAFETY: all-zero bytes are a valid `sigaction` (integers, a signal set, an `Option` of
    // a function pointer).
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, sigaction(2) only writes the current one into
    // `current`, a local that outlives the call.
    let rc = unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), &mut current) };
    assert_eq!(rc, 0, "querying {signal}");
    current
}

/// What a disposition means, comparable: the handler, the flags and the signals in the
/// mask. Left out: `SA_RESTORER` and the restorer address, which glibc adds to every action
/// it installs (so a default disposition read before anyone set it lacks them), and the
/// bytes of `sa_mask` beyond the kernel's 64 signals, which glibc leaves uninitialised.
fn meaning(action: &libc::sigaction) -> (usize, libc::c_int, Vec<libc::c_int>) {
    const SA_RESTORER: libc::c_int = 0x0400_0000;
    let mask = (1..=64)
        // SAFETY: `sa_mask` is an initialised sigset_t and every number is a valid signal.
        .filter(|&signal| unsafe { libc::sigismember(&action.sa_mask, signal) } == 1)
        .collect();
    (action.sa_sigaction, action.sa_flags & !SA_RESTORER, mask)
}

#[test]
fn raised_signal_is_read_from_the_pipe() {
    let mut pipe = SignalPipe::new(&[Signal::SIGUSR1]).unwrap();
    assert_eq!(pipe.signals(), [Signal::SIGUSR1]);
    assert_eq!(pipe.wait(Some(Duration::from_millis(20))).unwrap(), None);
    assert_eq!(pipe.drain().unwrap(), []);

    // `raise` signals this thread; the handler has run when it returns.
    raise(Signal::SIGUSR1).unwrap();
    assert_eq!(pipe.wait(Some(LONG)).unwrap(), Some(Signal::SIGUSR1));
    assert_eq!(pipe.drain().unwrap(), []);

    // `kill` to the process: any thread may run the handler; poll the fd until it is ready.
    kill(getpid(), Signal::SIGUSR1).unwrap();
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(30_000u16)).unwrap(), 1);
    assert_eq!(pipe.drain().unwrap(), [Signal::SIGUSR1]);
    assert_eq!(pipe.wait(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn sigchld_arrives_when_a_child_exits() {
    let mut pipe = SignalPipe::new(&[Signal::SIGCHLD]).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    assert_eq!(pipe.wait(Some(LONG)).unwrap(), Some(Signal::SIGCHLD));
    assert!(child.wait().unwrap().success());
    // Nothing more came: `true` ended once.
    assert_eq!(pipe.wait(Some(Duration::from_millis(20))).unwrap(), None);
}

static KNOWN_HANDLER_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn known_handler(_: libc::c_int) {
    KNOWN_HANDLER_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn previous_disposition_is_restored_exactly_on_drop() {
    // A handler with flags and a mask of its own, so that restoring "something close" would
    // show.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGQUIT);
    mask.add(Signal::SIGTTIN);
    let known = SigAction::new(
        SigHandler::Handler(known_handler),
        SaFlags::SA_NODEFER | SaFlags::SA_ONSTACK,
        mask,
    );
    // SAFETY: `known_handler` only increments an atomic, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR2, &known) }.unwrap();
    let before = disposition(Signal::SIGUSR2);
    assert_eq!(
        before.sa_sigaction,
        known_handler as extern "C" fn(libc::c_int) as usize
    );

    let mut first = SignalPipe::new(&[Signal::SIGUSR2]).unwrap();
    let mut second = SignalPipe::new(&[Signal::SIGUSR2]).unwrap();
    let ours = disposition(Signal::SIGUSR2);
    assert_ne!(ours.sa_sigaction, before.sa_sigaction);
    assert_ne!(
        ours.sa_flags & libc::SA_RESTART,
        0,
        "installed with SA_RESTART"
    );

    // Ours replaces the known handler: both pipes get it, the known handler does not.
    raise(Signal::SIGUSR2).unwrap();
    assert_eq!(first.drain().unwrap(), [Signal::SIGUSR2]);
    assert_eq!(second.drain().unwrap(), [Signal::SIGUSR2]);
    assert_eq!(KNOWN_HANDLER_CALLS.load(Ordering::SeqCst), 0);

    // Dropping one pipe leaves the other working.
    drop(first);
    assert_eq!(meaning(&disposition(Signal::SIGUSR2)), meaning(&ours));
    raise(Signal::SIGUSR2).unwrap();
    assert_eq!(second.drain().unwrap(), [Signal::SIGUSR2]);
    assert_eq!(KNOWN_HANDLER_CALLS.load(Ordering::SeqCst), 0);

    // Dropping the last one restores the known handler: handler, flags and mask.
    drop(second);
    let after = disposition(Signal::SIGUSR2);
    assert_eq!(meaning(&after), meaning(&before));
    // `before` was installed by glibc too, so here even the restorer matches.
    assert_eq!(after.sa_flags, before.sa_flags);
    assert_eq!(
        after.sa_restorer.map(|f| f as usize),
        before.sa_restorer.map(|f| f as usize)
    );
    raise(Signal::SIGUSR2).unwrap();
    assert_eq!(KNOWN_HANDLER_CALLS.load(Ordering::SeqCst), 1);
}

#[test]
fn bursts_are_coalesced_and_kept_in_order() {
    let default_winch = disposition(Signal::SIGWINCH);
    let mut both = SignalPipe::new(&[Signal::SIGWINCH, Signal::SIGURG, Signal::SIGWINCH]).unwrap();
    assert_eq!(both.signals(), [Signal::SIGWINCH, Signal::SIGURG]);
    let mut winch = SignalPipe::new(&[Signal::SIGWINCH]).unwrap();

    for _ in 0..5 {
        raise(Signal::SIGURG).unwrap();
    }
    for _ in 0..100 {
        raise(Signal::SIGWINCH).unwrap();
    }
    raise(Signal::SIGURG).unwrap();
    // One byte per signal since the last drain, in order of first arrival.
    assert_eq!(both.drain().unwrap(), [Signal::SIGURG, Signal::SIGWINCH]);
    assert_eq!(winch.drain().unwrap(), [Signal::SIGWINCH]);
    assert_eq!(both.drain().unwrap(), []);

    // After a drain, the next delivery writes again.
    raise(Signal::SIGWINCH).unwrap();
    raise(Signal::SIGURG).unwrap();
    assert_eq!(both.wait(Some(LONG)).unwrap(), Some(Signal::SIGWINCH));
    raise(Signal::SIGWINCH).unwrap();
    assert_eq!(both.drain().unwrap(), [Signal::SIGURG, Signal::SIGWINCH]);

    // A burst from another thread, sent to the process while we wait.
    let sender = std::thread::spawn(|| {
        for _ in 0..1000 {
            kill(getpid(), Signal::SIGWINCH).unwrap();
        }
    });
    assert_eq!(winch.wait(Some(LONG)).unwrap(), Some(Signal::SIGWINCH));
    sender.join().unwrap();
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        // Never more than one byte per drain, however many were sent.
        assert!(winch.drain().unwrap().len() <= 1);
    }

    drop(both);
    drop(winch);
    assert_eq!(
        meaning(&disposition(Signal::SIGWINCH)),
        meaning(&default_winch)
    );
    assert_eq!(disposition(Signal::SIGWINCH).sa_sigaction, libc::SIG_DFL);
}

#[test]
fn uncatchable_and_fault_signals_are_refused() {
    for signals in [
        &[][..],
        &[Signal::SIGKILL],
        &[Signal::SIGSTOP],
        &[Signal::SIGSEGV],
        &[Signal::SIGBUS],
        &[Signal::SIGILL],
        &[Signal::SIGFPE],
    ] {
        let result = SignalPipe::new(signals);
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{signals:?}: {result:?}"
        );
    }
}
