//! Sessions leave nothing behind: no zombie, no unreaped or running child, no fd, however
//! they end (dropped while running, after exiting, ignoring SIGHUP, failing to spawn).
//!
//! These tests count this process's fds and children, so they live in a binary of their
//! own and take turns through a lock: nothing else may spawn or open fds meanwhile.

mod common;

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{LONG, read_to_eof, spawn};
use ptychat::{Command, Pattern};

static EXCLUSIVE: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    // A failed test must not fail the others.
    EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fds open in this process.
fn open_fds() -> BTreeSet<String> {
    let dir = std::fs::read_dir("/proc/self/fd").unwrap();
    let fds: BTreeSet<String> = dir
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // read_dir's own fd is in the list but closed by now.
    fds.into_iter()
        .filter(|fd| std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok())
        .collect()
}

/// `(pid, state, command)` of every process whose parent is this process.
fn children() -> Vec<(u32, char, String)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap() {
        let name = entry.unwrap().file_name();
        let Ok(pid) = name.to_string_lossy().parse::<u32>() else {
            continue;
        };
        // The process may be gone by the time we look.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map_or("", |(_, c)| c).to_string();
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap().chars().next().unwrap();
        let ppid: u32 = fields.next().unwrap().parse().unwrap();
        if ppid == me {
            found.push((pid, state, comm));
        }
    }
    found
}

/// Asserts that the process has no child at all (zombie or not) and exactly the fds of
/// `before`.
fn assert_clean(before: &BTreeSet<String>, what: &str) {
    let kids = children();
    assert!(kids.is_empty(), "{what}: children left: {kids:?}");
    let zombies: Vec<_> = kids.iter().filter(|(_, state, _)| *state == 'Z').collect();
    assert!(zombies.is_empty(), "{what}: zombies: {zombies:?}");
    let after = open_fds();
    assert_eq!(&after, before, "{what}: fds changed");
}

/// Runs `cycle` `n` times after a warm-up, then checks that nothing was left behind.
fn check(what: &str, n: usize, mut cycle: impl FnMut(usize)) {
    cycle(0); // warm-up: anything opened once and kept (lazily) is not a leak
    let before = open_fds();
    assert!(children().is_empty(), "{what}: children before the test");
    for i in 0..n {
        cycle(i);
    }
    assert_clean(&before, what);
}

#[test]
fn spawn_and_drop_at_once() {
    let _lock = exclusive();
    check("spawn and drop", 200, |_| {
        drop(spawn(&mut Command::new("true")));
    });
}

#[test]
fn drop_while_the_child_runs() {
    let _lock = exclusive();
    check("drop while running", 200, |_| {
        let s = spawn(Command::new("sleep").arg("100"));
        drop(s);
    });
}

#[test]
fn drop_after_the_child_exited() {
    let _lock = exclusive();
    check("drop after exit", 200, |i| {
        let mut s = spawn(Command::new("echo").arg(i.to_string()));
        assert_eq!(read_to_eof(&mut s), format!("{i}\r\n").as_bytes());
        assert!(s.wait().unwrap().success());
        drop(s);
    });
}

#[test]
fn drop_after_the_child_exited_unreaped() {
    let _lock = exclusive();
    check("drop after exit, unreaped", 100, |_| {
        let mut s = spawn(&mut Command::new("true"));
        s.expect(Pattern::eof()).unwrap();
        // Not waited for: the drop reaps it.
        drop(s);
    });
}

#[test]
fn drop_of_a_child_that_ignores_sighup() {
    let _lock = exclusive();
    // Each drop waits out a grace period before the next signal, so fewer rounds.
    check("drop ignoring SIGHUP", 5, |_| {
        let mut s =
            spawn(Command::new("sh").args(["-c", r#"trap "" HUP; echo ready; exec sleep 100"#]));
        s.expect("ready\r\n").unwrap();
        let started = Instant::now();
        drop(s);
        assert!(started.elapsed() < Duration::from_secs(20));
    });
}

#[test]
fn drop_of_a_child_that_ignores_sighup_and_sigterm() {
    let _lock = exclusive();
    check("drop ignoring SIGHUP and SIGTERM", 3, |_| {
        let mut s = spawn(
            Command::new("sh").args(["-c", r#"trap "" HUP TERM; echo ready; exec sleep 100"#]),
        );
        s.expect("ready\r\n").unwrap();
        let started = Instant::now();
        drop(s);
        assert!(started.elapsed() < Duration::from_secs(20));
    });
}

#[test]
fn drop_with_unread_output_pending() {
    let _lock = exclusive();
    check("drop with unread output", 20, |_| {
        // The child blocks writing to a full terminal that nobody reads.
        let s = spawn(Command::new("sh").args(["-c", "yes | head -c 10000000"]));
        drop(s);
    });
}

#[test]
fn failed_spawns_leak_nothing() {
    let _lock = exclusive();
    check("failed spawn", 200, |_| {
        let err = Command::new("/no/such/program").spawn().unwrap_err();
        assert!(matches!(err, ptychat::Error::Spawn { .. }), "{err}");
        let err = Command::new("true")
            .current_dir("/no/such/directory")
            .spawn()
            .unwrap_err();
        assert!(matches!(err, ptychat::Error::Spawn { .. }), "{err}");
    });
}

#[test]
fn drop_ends_the_childs_background_helpers() {
    let _lock = exclusive();
    // The shell starts a helper in the background (same process group) and exits
    // only when dropped; the helper must not outlive the session.
    let mut s = spawn(Command::new("sh").args(["-c", "sleep 100 & echo helper=$!; wait"]));
    let m = s
        .expect(Pattern::regex(r"helper=(\d+)\r\n").unwrap())
        .unwrap();
    let helper: u32 = std::str::from_utf8(m.group(1).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    drop(s);
    // The helper was signalled with its group; it may take a moment to die, and once its
    // parent is gone it is reaped by init (or left as a zombie of init in containers).
    assert!(wait_until_dead(helper), "helper {helper} still alive");
    assert!(children().is_empty());
}

/// The state letter of process `pid`, or `None` once it is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.chars().next()
}

/// Waits until `pid` is gone or a zombie (dead, waiting for its parent); false if it is
/// still running at the deadline.
fn wait_until_dead(pid: u32) -> bool {
    let deadline = Instant::now() + LONG;
    loop {
        match process_state(pid) {
            None | Some('Z') | Some('X') => return true,
            Some(_) if Instant::now() >= deadline => return false,
            // Process states change without an event to wait on: poll /proc.
            Some(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

#[test]
fn drop_ends_helpers_that_outlive_the_child() {
    let _lock = exclusive();
    // The helper ignores SIGHUP, so the kernel's hangup does not end it when the shell
    // (the session leader) exits.
    let mut s =
        spawn(Command::new("sh").args(["-c", r#"trap "" HUP; sleep 100 & echo helper=$!"#]));
    let m = s
        .expect(Pattern::regex(r"helper=(\d+)\r\n").unwrap())
        .unwrap();
    let helper: u32 = std::str::from_utf8(m.group(1).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(s.wait().unwrap().success());
    drop(s);
    // Only wait a little: if the helper survived the drop it would run for 100 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut state = process_state(helper);
    while matches!(state, Some(c) if c != 'Z' && c != 'X') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1)); // polling /proc
        state = process_state(helper);
    }
    if matches!(state, Some(c) if c != 'Z' && c != 'X') {
        // Clean up before failing.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(helper as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        panic!("helper {helper} is still running (state {state:?}) after the session was dropped");
    }
}

#[test]
fn many_sessions_open_at_once_then_dropped() {
    let _lock = exclusive();
    check("many at once", 3, |_| {
        let mut sessions: Vec<_> = (0..50).map(|_| spawn(&mut Command::new("cat"))).collect();
        for (i, s) in sessions.iter_mut().enumerate().step_by(2) {
            s.send_line(i.to_string()).unwrap();
            s.expect(format!("{i}\r\n{i}\r\n")).unwrap();
        }
        drop(sessions);
    });
}
