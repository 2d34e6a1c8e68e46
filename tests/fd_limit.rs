//! Spawning at the limit of open files: an error that names RLIMIT_NOFILE and its value,
//! no panic, no fd left open and no child left behind, whichever step of the spawn runs
//! out (the pty pair, a pipe, the copies of the child's ends, the fork path's pipes; a
//! session's pidfd is opened later, by a wait, which falls back to a backoff without it).
//!
//! This lowers the whole process's RLIMIT_NOFILE and counts its fds and children, so it
//! lives in a binary of its own with a single test.

mod common;

use std::collections::BTreeSet;
use std::fs::File;

use common::LONG;
use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::wait::{WaitPidFlag, waitpid};
use ptychat::{Command, Error, Pattern, SpawnProblem, StderrMode};

/// The fds open in this process.
fn open_fds() -> BTreeSet<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        // read_dir's own fd is in the list but closed by now.
        .filter(|fd| std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok())
        .collect()
}

/// The pids of this process's children, from every thread's `children` list.
fn children() -> Vec<String> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        let list = std::fs::read_to_string(path).unwrap_or_default();
        found.extend(list.split_whitespace().map(str::to_owned));
    }
    found
}

/// True when this process has no child at all, zombie or not (needs no fd).
fn no_child_left() -> bool {
    waitpid(None, Some(WaitPidFlag::WNOHANG)) == Err(Errno::ECHILD)
}

/// Opens `/dev/null` until the limit, then closes `free` of those: the next spawn has
/// exactly `free` fds to work with.
fn leave_free(free: usize) -> Vec<File> {
    let mut fillers = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => fillers.push(file),
            Err(e) if e.raw_os_error() == Some(nix::libc::EMFILE) => break,
            Err(e) => panic!("filling the fd table: {e}"),
        }
    }
    assert!(
        fillers.len() >= free,
        "only {} fds were free",
        fillers.len()
    );
    fillers.truncate(fillers.len() - free);
    fillers
}

/// Asserts that `error` is the spawn error for RLIMIT_NOFILE at `limit`.
fn assert_names_the_limit(error: &Error, limit: u64, what: &str) {
    let text = error.to_string();
    match error {
        Error::Spawn {
            problem: SpawnProblem::OpenFileLimit { soft, .. },
            source,
            ..
        } => {
            assert_eq!(*soft, limit, "{what}: {text}");
            assert_eq!(source.raw_os_error(), Some(nix::libc::EMFILE), "{what}");
        }
        _ => panic!("{what}: not the open-file limit: {text}"),
    }
    assert!(
        text.contains(&format!(
            "has reached its limit of {limit} open files (RLIMIT_NOFILE, soft limit {limit}"
        )),
        "{what}: {text}"
    );
    assert!(text.contains("ulimit -n"), "{what}: {text}");
}

/// The ways to spawn, each running `true` (or `cat` with a hook) to the end.
const KINDS: [&str; 7] = [
    "pty",
    "pty, stderr apart",
    "pty, stderr to /dev/null",
    "pipes, stderr apart",
    "pipes, stderr merged",
    "pty, a passed fd",
    "pty, a pre-exec hook (the fork path)",
];

/// The command for `kind`: `true`, with an fd passed or a hook as the kind says.
#[allow(unsafe_code)]
fn command(kind: &str) -> Command {
    let mut command = Command::new("true");
    command.timeout(Some(LONG));
    if kind == "pty, a passed fd" {
        command.pass_fd(File::open("/dev/null").unwrap(), 10);
    }
    if kind == "pty, a pre-exec hook (the fork path)" {
        // SAFETY: the hook makes no call.
        unsafe { command.pre_exec(|| Ok(())) };
    }
    command
}

/// Spawns `command` as `kind` says; on success, reads to the end and waits for it.
fn run(kind: &str, command: &mut Command) -> Result<(), Error> {
    match kind {
        "pty" | "pty, a passed fd" | "pty, a pre-exec hook (the fork path)" => {
            finish(command.spawn()?)
        }
        "pty, stderr apart" => finish(command.spawn_with_stderr(StderrMode::Separate)?),
        "pty, stderr to /dev/null" => finish(command.spawn_with_stderr(StderrMode::Null)?),
        "pipes, stderr apart" | "pipes, stderr merged" => {
            let stderr = match kind {
                "pipes, stderr apart" => StderrMode::Separate,
                _ => StderrMode::Merge,
            };
            let mut s = command.spawn_piped(stderr)?;
            s.expect(Pattern::eof()).unwrap();
            assert!(s.wait().unwrap().success());
            Ok(())
        }
        other => unreachable!("{other}"),
    }
}

fn finish(mut s: ptychat::PtySession) -> Result<(), Error> {
    s.expect(Pattern::eof()).unwrap();
    assert!(s.wait().unwrap().success());
    Ok(())
}

#[test]
fn spawning_at_the_fd_limit_names_the_limit_and_leaves_nothing_behind() {
    // Warm-up: anything opened once and kept (lazily) is not a leak.
    for kind in KINDS {
        run(kind, &mut command(kind)).unwrap();
    }
    let before = open_fds();
    assert!(children().is_empty());
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // The limit that leaves 40 numbers free (fds of ours above it stay open).
    let (mut limit, mut free) = (0u64, 0);
    while free < 40 {
        if !before.contains(&(limit as i32)) {
            free += 1;
        }
        limit += 1;
    }
    assert!(limit <= soft, "the test needs a soft limit above {limit}");
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();

    // Sessions kept open until one more does not fit.
    let mut sessions = Vec::new();
    let error = loop {
        match Command::new("cat").timeout(Some(LONG)).spawn() {
            Ok(session) => sessions.push(session),
            Err(error) => break error,
        }
        // Each session keeps its master open: at most 40 fit in 40 free fds.
        assert!(
            sessions.len() <= 40,
            "no error after {} sessions",
            sessions.len()
        );
    };
    assert!(sessions.len() >= 5, "only {} sessions fit", sessions.len());
    assert_names_the_limit(&error, limit, "spawning until failure");
    drop(sessions);
    assert!(
        no_child_left(),
        "a child is left after dropping the sessions"
    );

    // Every step of every kind of spawn running out: with 0, 1, 2... fds free, each
    // spawn either works or fails naming the limit, and leaves nothing behind.
    for kind in KINDS {
        let mut succeeded = false;
        for free in 0..16 {
            let mut command = command(kind);
            let fillers = leave_free(free);
            let result = run(kind, &mut command);
            drop(fillers);
            drop(command);
            match result {
                Ok(()) => succeeded = true,
                Err(error) => {
                    assert!(
                        !succeeded,
                        "{kind}: failed with {free} fds free after a success"
                    );
                    assert_names_the_limit(&error, limit, &format!("{kind}, {free} fds free"));
                }
            }
            assert!(no_child_left(), "{kind}, {free} fds free: a child is left");
        }
        assert!(succeeded, "{kind}: never spawned with up to 15 fds free");
    }

    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    assert_eq!(open_fds(), before, "fds changed");
    assert!(children().is_empty(), "children left: {:?}", children());
    assert!(no_child_left());
}
