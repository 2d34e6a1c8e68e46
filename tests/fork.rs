//! Forking a child that runs a closure (`ptychat::fork`).
//!
//! Forking without exec is refused in a multi-threaded process, and libtest runs tests on
//! several threads, so this binary has `harness = false`: `main` runs the cases one after
//! the other on the only thread and ends with `N passed, M failed`, exiting non-zero if any
//! failed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::panic::catch_unwind;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, raise};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use ptychat::{Error, ExitStatus, Pattern, SignalPipe, fork};

const LONG: Duration = Duration::from_secs(30);

fn main() {
    let cases: &[(&str, fn())] = &[
        ("socketpair_round_trip", socketpair_round_trip),
        (
            "closure_may_borrow_parent_locals",
            closure_may_borrow_parent_locals,
        ),
        (
            "exit_code_is_the_closure_value",
            exit_code_is_the_closure_value,
        ),
        (
            "panic_exits_101_without_unwinding_into_parent",
            panic_exits_101_without_unwinding_into_parent,
        ),
        (
            "socketpair_child_leads_its_process_group",
            socketpair_child_leads_its_process_group,
        ),
        (
            "pty_child_talks_on_its_terminal",
            pty_child_talks_on_its_terminal,
        ),
        (
            "pty_child_print_without_newline_is_flushed",
            pty_child_print_without_newline_is_flushed,
        ),
        (
            "parent_stdout_buffer_is_not_printed_twice",
            parent_stdout_buffer_is_not_printed_twice,
        ),
        (
            "pty_child_panic_message_reaches_parent",
            pty_child_panic_message_reaches_parent,
        ),
        ("no_zombie_after_drop", no_zombie_after_drop),
        (
            "signal_pipes_are_detached_in_the_child",
            signal_pipes_are_detached_in_the_child,
        ),
        ("signal_pipe_limit", signal_pipe_limit),
        (
            "forked_children_in_a_group_with_a_program",
            forked_children_in_a_group_with_a_program,
        ),
        // Last: it starts a thread.
        (
            "multi_threaded_process_is_refused",
            multi_threaded_process_is_refused,
        ),
    ];
    let me = std::process::id();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        let outcome = catch_unwind(case);
        if std::process::id() != me {
            // A forked child came back into the harness: that is a bug in itself.
            eprintln!("a forked child returned into the test harness from {name}");
            std::process::abort();
        }
        match outcome {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!();
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// `pid` has been reaped: it is no child of ours any more.
fn assert_reaped(pid: u32) {
    assert_eq!(
        waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)),
        Err(Errno::ECHILD),
        "child {pid} was not reaped"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} still exists"
    );
}

/// Upper-cases every line until end of input.
fn upper_case_echo(stream: UnixStream) -> i32 {
    let mut out = &stream;
    for line in BufReader::new(&stream).lines() {
        writeln!(out, "{}", line.unwrap().to_uppercase()).unwrap();
    }
    0
}

/// Forked closures (over a socketpair and on a pty) and a program, in one group.
fn forked_children_in_a_group_with_a_program() {
    let mut group: ptychat::Group<Box<dyn ptychat::ChildTransport + Send>> = ptychat::Group::new();
    group.set_timeout(Some(LONG));
    let socket = group.add_named(
        "socket",
        fork::socketpair_child(upper_case_echo)
            .unwrap()
            .boxed_child(),
    );
    let pty = group.add_named(
        "pty",
        fork::pty_child(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            println!("pty child got {}", line.trim());
            0
        })
        .unwrap()
        .boxed_child(),
    );
    let cat = group.add_named(
        "cat",
        ptychat::Command::new("cat").spawn().unwrap().boxed_child(),
    );
    group[pty].send_line("one").unwrap();
    group[socket].send_line("two").unwrap();
    group[cat].send_line("three").unwrap();
    let mut waits = vec![
        (socket, "TWO\n"),
        (pty, "pty child got one\r\n"),
        (cat, "three\r\nthree\r\n"),
    ];
    let mut seen = Vec::new();
    while !waits.is_empty() {
        let hit = group.expect(waits.clone()).unwrap();
        seen.push(group.name(hit.id()).unwrap().to_owned());
        // The pty child exits after answering: wait on the others only.
        waits.retain(|(id, _)| *id != hit.id());
    }
    seen.sort();
    assert_eq!(seen, ["cat", "pty", "socket"]);
    assert_eq!(group[pty].wait().unwrap(), ExitStatus::Exited(0));
}

fn socketpair_round_trip() {
    let mut child = fork::socketpair_child(upper_case_echo).unwrap();
    child.set_timeout(Some(LONG));
    for word in ["hello", "forked world", "ümlaut"] {
        child.send_line(word).unwrap();
        let m = child
            .expect(Pattern::regex(r"(?m)^(.*)\n").unwrap())
            .unwrap();
        assert_eq!(m.group(1).unwrap(), word.to_uppercase().as_bytes());
    }
    // Many lines at once: the engine keeps reading while it writes.
    let many: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    child.send(&many).unwrap();
    child.expect("LINE 1999\n").unwrap();
    child.close_input().unwrap();
    let m = child.expect(Pattern::eof()).unwrap();
    assert!(m.is_eof());
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

fn closure_may_borrow_parent_locals() {
    let greeting = String::from("borrowed from the parent");
    let mut counter = 0;
    let mut child = fork::socketpair_child(|mut stream| {
        counter += 1; // changes the child's copy only
        writeln!(stream, "{greeting} {counter}").unwrap();
        0
    })
    .unwrap();
    child.expect("borrowed from the parent 1\n").unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
    assert_eq!(counter, 0);
}

fn exit_code_is_the_closure_value() {
    for (code, expected) in [(0, 0), (42, 42), (255, 255), (300, 300 & 0xff)] {
        let mut child = fork::socketpair_child(move |_| code).unwrap();
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(expected));
        let mut child = fork::pty_child(move || code).unwrap();
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(expected));
    }
}

/// Keeps deliberate panics in a child from cluttering the test output.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// A panic payload whose destructor panics: dropping it in the child would unwind.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("payload dropped");
    }
}

fn panic_exits_101_without_unwinding_into_parent() {
    let me = std::process::id();
    let mut child = fork::socketpair_child(|_| {
        quiet_panics();
        panic!("deliberate panic in the child")
    })
    .unwrap();
    // Had the child unwound out of `socketpair_child`, it would be here, and exit 99.
    if std::process::id() != me {
        std::process::exit(99);
    }
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(101));

    let mut child = fork::socketpair_child(|_| {
        quiet_panics();
        std::panic::panic_any(PanicsOnDrop)
    })
    .unwrap();
    if std::process::id() != me {
        std::process::exit(99);
    }
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(101));
}

fn socketpair_child_leads_its_process_group() {
    let mut child = fork::socketpair_child(|mut stream| {
        let pid = nix::unistd::getpid();
        let pgid = nix::unistd::getpgrp();
        writeln!(stream, "pid {pid} pgid {pgid}").unwrap();
        0
    })
    .unwrap();
    let pid = child.pid();
    child
        .expect(format!("pid {pid} pgid {pid}\n").as_str())
        .unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

fn pty_child_talks_on_its_terminal() {
    let mut child = fork::pty_child(|| {
        let stdin = std::io::stdin();
        let tty = nix::unistd::isatty(&stdin).unwrap();
        let leader = nix::unistd::getsid(None).unwrap() == nix::unistd::getpid();
        let foreground = nix::unistd::tcgetpgrp(&stdin).unwrap() == nix::unistd::getpgrp();
        println!("tty={tty} leader={leader} foreground={foreground}");
        for line in stdin.lock().lines() {
            let line = line.unwrap();
            if line == "quit" {
                return 7;
            }
            println!("got: {line}");
        }
        8
    })
    .unwrap();
    child.set_timeout(Some(LONG));
    child
        .expect("tty=true leader=true foreground=true\r\n")
        .unwrap();
    child.send_line("hello").unwrap();
    child.expect("got: hello\r\n").unwrap();
    child.set_echo(false).unwrap();
    child.send_line("no echo").unwrap();
    let m = child.expect("got: no echo\r\n").unwrap();
    assert_eq!(m.before(), b"", "echo was off");
    child.send_line("quit").unwrap();
    child.expect(Pattern::eof()).unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(7));

    // End of input on the terminal.
    let mut child = fork::pty_child(|| {
        let lines = std::io::stdin().lock().lines().count();
        println!("{lines} lines");
        0
    })
    .unwrap();
    child.set_timeout(Some(LONG));
    child.send_line("one").unwrap();
    child.send_line("two").unwrap();
    child.send_eof().unwrap();
    child.expect("2 lines\r\n").unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

fn pty_child_print_without_newline_is_flushed() {
    let mut child = fork::pty_child(|| {
        print!("no newline at the end");
        0
    })
    .unwrap();
    let m = child.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"no newline at the end");
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
}

fn parent_stdout_buffer_is_not_printed_twice() {
    // Sits in std's stdout buffer (a line writer) until the next newline.
    print!("[parent's pending output] ");
    let mut child = fork::pty_child(|| {
        println!("child ready");
        0
    })
    .unwrap();
    println!();
    let m = child.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"child ready\r\n");
    child.wait().unwrap();
}

fn pty_child_panic_message_reaches_parent() {
    let mut child = fork::pty_child(|| panic!("oops in the child")).unwrap();
    child.expect("oops in the child").unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(101));
}

fn no_zombie_after_drop() {
    // A child that has exited on its own.
    let child = fork::socketpair_child(|_| 0).unwrap();
    let pid = child.pid();
    std::thread::sleep(Duration::from_millis(50));
    drop(child);
    assert_reaped(pid);

    // Children that would run for ever: the drop ends them.
    let forever = || loop {
        std::thread::sleep(Duration::from_secs(3600));
    };
    for pty in [false, true] {
        let started = Instant::now();
        let pid = if pty {
            let child = fork::pty_child(forever).unwrap();
            let pid = child.pid();
            drop(child);
            pid
        } else {
            let child = fork::socketpair_child(|_| forever()).unwrap();
            let pid = child.pid();
            drop(child);
            pid
        };
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "drop took {:?}",
            started.elapsed()
        );
        assert_reaped(pid);
    }

    // A child that ignores its input's end and reads nothing: the socket closing is not
    // enough, the signals are.
    let child = fork::socketpair_child(|stream| {
        let _keep = stream;
        forever()
    })
    .unwrap();
    let pid = child.pid();
    drop(child);
    assert_reaped(pid);
}

fn signal_pipes_are_detached_in_the_child() {
    let mut parent_pipe = SignalPipe::new(&[Signal::SIGUSR1, Signal::SIGUSR2]).unwrap();

    // The child has SIGUSR1's previous disposition (the default: terminate) back.
    let mut child = fork::socketpair_child(|_| {
        raise(Signal::SIGUSR1).unwrap();
        0
    })
    .unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Signaled(Signal::SIGUSR1));

    // A child can make signal pipes of its own, and they work.
    let mut child = fork::socketpair_child(|mut stream| {
        let mut own = SignalPipe::new(&[Signal::SIGUSR2]).unwrap();
        raise(Signal::SIGUSR2).unwrap();
        let got = own.wait(Some(LONG)).unwrap();
        writeln!(stream, "child got {got:?}").unwrap();
        0
    })
    .unwrap();
    child.expect("child got Some(SIGUSR2)\n").unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));

    // Nothing of the children's signals reached the parent's pipe.
    assert_eq!(parent_pipe.drain().unwrap(), []);
    // And it still works in the parent.
    raise(Signal::SIGUSR2).unwrap();
    assert_eq!(parent_pipe.wait(Some(LONG)).unwrap(), Some(Signal::SIGUSR2));
}

fn signal_pipe_limit() {
    let mut pipes = Vec::new();
    let error = loop {
        match SignalPipe::new(&[Signal::SIGWINCH]) {
            Ok(pipe) => pipes.push(pipe),
            Err(e) => break e,
        }
        assert!(pipes.len() <= 64, "more than 64 signal pipes");
    };
    assert_eq!(pipes.len(), 64);
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert!(
        error.to_string().contains("too many signal pipes"),
        "{error}"
    );
    raise(Signal::SIGWINCH).unwrap();
    for pipe in &mut pipes {
        assert_eq!(pipe.drain().unwrap(), [Signal::SIGWINCH]);
    }
    drop(pipes);
    // All slots are free again.
    let _again: Vec<SignalPipe> = (0..64)
        .map(|_| SignalPipe::new(&[Signal::SIGWINCH]).unwrap())
        .collect();
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn multi_threaded_process_is_refused() {
    let (release, wait_here) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || wait_here.recv().unwrap());
    assert_eq!(thread_count(), 2);

    let error = fork::socketpair_child(|_| 0).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
    assert!(error.to_string().contains("2 threads"), "{error}");
    let error = fork::pty_child(|| 0).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error}");

    // The unchecked variant forks anyway.
    // SAFETY: the closure only returns a number; dropping the stream is close(2). Both are
    // async-signal-safe.
    let mut child = unsafe { fork::socketpair_child_unchecked(|_stream| 3) }.unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(3));

    release.send(()).unwrap();
    thread.join().unwrap();
    // The joined thread's task can linger for a moment after `join` returns.
    let deadline = Instant::now() + LONG;
    while thread_count() > 1 {
        assert!(Instant::now() < deadline, "the thread never went away");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut child = fork::socketpair_child(|_| 4).unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(4));
}
