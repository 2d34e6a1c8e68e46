//! The child starts with default signal dispositions and an empty mask even when the
//! process that spawns it ignores and blocks signals.
//!
//! This changes the whole test process's signal dispositions, so it lives in a binary of
//! its own with a single test.

mod common;

use common::spawn;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, signal};
use ptychat::Command;

fn mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line[field.len() + 1..].trim(), 16).unwrap()
}

#[test]
fn child_resets_ignored_and_blocked_signals() {
    let ignored = [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGTSTP,
        Signal::SIGTTOU,
        Signal::SIGCHLD,
    ];
    for sig in ignored {
        // SAFETY: SIG_IGN installs no handler code; nothing else in this binary relies on
        // these signals.
        unsafe { signal(sig, SigHandler::SigIgn) }.unwrap();
    }
    // A real-time signal too (SIGRTMIN + 1 as glibc numbers them).
    let rt = nix::libc::SIGRTMIN() + 1;
    // SAFETY: as above; sigaction with SIG_IGN on a valid signal number.
    unsafe {
        let mut action: nix::libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = nix::libc::SIG_IGN;
        assert_eq!(nix::libc::sigaction(rt, &action, std::ptr::null_mut()), 0);
    }
    // The mask is per thread and inherited through fork by the spawning thread.
    let mut blocked = SigSet::empty();
    for sig in [
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGALRM,
        Signal::SIGTERM,
    ] {
        blocked.add(sig);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None).unwrap();

    // (`thread-self`: the mask belongs to this thread, not to the main thread.)
    let ours = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert_ne!(
        mask(&ours, "SigIgn") & (1 << (Signal::SIGINT as u64 - 1)),
        0
    );
    assert_ne!(mask(&ours, "SigIgn") & (1 << (rt as u64 - 1)), 0);
    assert_ne!(
        mask(&ours, "SigBlk") & (1 << (Signal::SIGUSR2 as u64 - 1)),
        0
    );

    // `cat` exec'd directly (no shell to set up handlers of its own), waiting for input,
    // so its state can be read while SIGCHLD is still ignored here. `spawn` returns once
    // the program has been exec'd.
    let mut s = spawn(&mut Command::new("cat"));
    let theirs = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    // Ignoring SIGCHLD makes the kernel reap children itself; restore it before waiting.
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) }.unwrap();
    for field in ["SigIgn", "SigBlk", "SigCgt"] {
        let m = mask(&theirs, field);
        assert_eq!(m, 0, "{field} is {m:016x} in the child:\n{theirs}");
    }
    s.send_eof().unwrap();
    s.expect(ptychat::Pattern::eof()).unwrap();
    assert!(s.wait().unwrap().success());

    // And signals really are default: SIGINT through the terminal kills a child although
    // this process ignores it.
    let mut s = spawn(Command::new("sleep").arg("30"));
    s.send_intr().unwrap();
    assert_eq!(
        s.wait().unwrap(),
        ptychat::ExitStatus::Signaled(Signal::SIGINT)
    );
}
