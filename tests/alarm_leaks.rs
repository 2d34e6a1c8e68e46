//! `with_timeout` leaves nothing behind: after 10,000 uses (timeouts, successes, nesting,
//! panics, another thread at the same time) the process has the same POSIX timers, the same
//! fds, no pending SIGALRM and exactly the SIGALRM action it had before.
//!
//! One test in its own binary, because it looks at and changes process-wide state (the
//! SIGALRM action, the process's timers and fds) that parallel tests would disturb.

use std::fs;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use nix::libc;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{pipe, read};
use ptychat::{Error, with_timeout};

const LONG: Duration = Duration::from_secs(30);
/// A deadline that passes almost at once, but usually after the closure is blocked (when it
/// passes before, the timer's 10 ms repeat interrupts the call).
const SOON: Duration = Duration::from_micros(200);

/// Calls of the handler this test installs (stands for "other code's SIGALRM handler").
static FOREIGN_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn foreign_handler(_: libc::c_int) {
    FOREIGN_CALLS.fetch_add(1, Ordering::SeqCst);
}

/// The SIGALRM action now in force.
fn sigalrm_action() -> libc::sigaction {
    // SAFETY: `sigaction` holds integers, a signal set and an `Option` of a function pointer,
    // for all of which zero bytes are valid; with a null new action, sigaction(2) only writes
    // the current one into `current`.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::sigaction(libc::SIGALRM, std::ptr::null(), &mut current) };
    assert_eq!(rc, 0);
    current
}

/// Linux's flag for a signal-return trampoline, which glibc adds (with its own trampoline)
/// to every action it installs. It is not the caller's to choose, so it is not compared when
/// the earlier action lacked it (the default action of a new process does).
const SA_RESTORER: libc::c_int = 0x0400_0000;

/// The signals (1 to 64, what the kernel keeps) in `set`. glibc copies more bytes than the
/// kernel fills into a `sigset_t` it returns, so the rest of it is not comparable.
fn signals_in(set: &libc::sigset_t) -> Vec<libc::c_int> {
    // SAFETY: sigismember only reads the set, which is a valid reference.
    (1..=64)
        .filter(|&signal| unsafe { libc::sigismember(set, signal) } == 1)
        .collect()
}

fn assert_same_action(now: &libc::sigaction, before: &libc::sigaction) {
    assert_eq!(now.sa_sigaction, before.sa_sigaction, "handler");
    assert_eq!(
        signals_in(&now.sa_mask),
        signals_in(&before.sa_mask),
        "mask"
    );
    if before.sa_flags & SA_RESTORER != 0 {
        assert_eq!(now.sa_flags, before.sa_flags, "flags");
        // Both addresses come from the kernel, so comparing them is meaningful.
        let restorer = |action: &libc::sigaction| action.sa_restorer.map(|f| f as usize);
        assert_eq!(restorer(now), restorer(before), "restorer");
    } else {
        assert_eq!(now.sa_flags & !SA_RESTORER, before.sa_flags, "flags");
    }
}

fn process_timers() -> usize {
    fs::read_to_string("/proc/self/timers")
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("ID:"))
        .count()
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Whether SIGALRM is pending for this thread or for the process.
fn sigalrm_pending() -> bool {
    let bit = 1u64 << (libc::SIGALRM - 1);
    let mask = |file: &str, field: &str| {
        let text = fs::read_to_string(file).unwrap();
        let line = text.lines().find(|l| l.starts_with(field)).unwrap();
        u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
    };
    (mask("/proc/thread-self/status", "SigPnd:") | mask("/proc/self/status", "ShdPnd:")) & bit != 0
}

fn read_once(fd: &OwnedFd) -> nix::Result<usize> {
    let mut buf = [0u8; 16];
    read(fd, &mut buf)
}

/// One use of `with_timeout`, of the kind picked by `i`.
fn one_use(i: usize, idle: &OwnedFd) {
    match i % 5 {
        // Expires while (or before) the closure blocks.
        0 => assert!(matches!(
            with_timeout(SOON, || read_once(idle)),
            Err(Error::CallTimeout(_))
        )),
        // Finishes in time.
        1 => assert_eq!(with_timeout(LONG, || i).unwrap(), i),
        // Nested: the inner call expires, the outer one does not.
        2 => {
            let outer = with_timeout(LONG, || with_timeout(SOON, || read_once(idle)));
            assert!(matches!(outer, Ok(Err(Error::CallTimeout(_)))));
        }
        // A race with the deadline: either result is fine.
        3 => {
            let _ = with_timeout(Duration::from_micros(5), || std::hint::black_box(i));
        }
        // A panic in the closure (every 50th use), else an inner panic-free nesting.
        _ if i % 50 == 4 => {
            let result =
                std::panic::catch_unwind(|| with_timeout::<()>(LONG, || panic!("use {i}")));
            assert!(result.is_err());
        }
        _ => {
            let outer = with_timeout(SOON, || with_timeout(LONG, || read_once(idle)));
            assert!(matches!(outer, Err(Error::CallTimeout(_))));
        }
    }
}

#[test]
fn ten_thousand_uses_leak_nothing_and_restore_the_sigalrm_action() {
    // The pipes first, so that they are in the baseline fd count.
    let (idle, _idle_writer) = pipe().unwrap();
    let (other_idle, _other_idle_writer) = pipe().unwrap();
    let timers_before = process_timers();
    let fds_before = open_fds();

    // With the default action (which would kill the process on a stray SIGALRM).
    let default_action = sigalrm_action();
    assert_eq!(default_action.sa_sigaction, libc::SIG_DFL);
    assert!(with_timeout(Duration::from_millis(1), || read_once(&idle)).is_err());
    assert_same_action(&sigalrm_action(), &default_action);

    // With other code's handler installed, with flags and a mask of its own.
    let foreign = SigAction::new(
        SigHandler::Handler(foreign_handler),
        SaFlags::SA_RESTART,
        SigSet::from(Signal::SIGUSR2),
    );
    // SAFETY: the handler only does an atomic add.
    unsafe { signal::sigaction(Signal::SIGALRM, &foreign) }.unwrap();
    let foreign_action = sigalrm_action();

    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // quiet the deliberate panics
    thread::scope(|scope| {
        // Another thread at the same time: the handler is shared, the timers are not.
        scope.spawn(|| {
            for i in 0..2_000 {
                one_use(i, &other_idle);
            }
        });
        for i in 0..10_000 {
            one_use(i, &idle);
        }
    });
    std::panic::set_hook(previous_hook);

    assert_same_action(&sigalrm_action(), &foreign_action);
    assert_eq!(
        FOREIGN_CALLS.load(Ordering::SeqCst),
        0,
        "a timer signal reached the foreign handler"
    );
    assert_eq!(process_timers(), timers_before, "timers were left behind");
    assert_eq!(open_fds(), fds_before, "fds were left behind");
    assert!(!sigalrm_pending(), "a SIGALRM was left pending");

    // A SIGALRM that is not from a with_timeout timer goes to the handler that was there
    // before, and is not taken for an expiry.
    let raised = with_timeout(LONG, || signal::raise(Signal::SIGALRM));
    assert_eq!(raised.unwrap(), Ok(()));
    assert_eq!(FOREIGN_CALLS.load(Ordering::SeqCst), 1);
    assert_same_action(&sigalrm_action(), &foreign_action);

    // SAFETY: putting the default action back.
    unsafe {
        signal::sigaction(
            Signal::SIGALRM,
            &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty()),
        )
    }
    .unwrap();
    assert_eq!(process_timers(), timers_before);
    assert!(!sigalrm_pending());
}
