//! The terminal side: echo, window size and SIGWINCH, passwords, and the special keys
//! (end-of-file, interrupt, control characters).

mod common;

use std::time::{Duration, Instant};

use common::{LONG, assert_waited, py, read_to_eof, sh, spawn};
use ptychat::{Command, ExitStatus, Pattern, Signal};

#[test]
fn echo_is_on_by_default() {
    let mut s = spawn(&mut Command::new("cat"));
    assert!(s.echo().unwrap());
    s.send_line("hello").unwrap();
    // The terminal echoes the line as it is typed, then cat prints it.
    let m = s.expect("hello\r\nhello\r\n").unwrap();
    assert_eq!(m.before(), b"");
    s.send_eof().unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
}

#[test]
fn echo_off_in_the_builder_hides_what_is_sent() {
    let mut s = spawn(Command::new("cat").echo(false));
    assert!(!s.echo().unwrap());
    s.send_line("secret").unwrap();
    s.send_line("END").unwrap();
    let m = s.expect("END\r\n").unwrap();
    assert_eq!(m.before(), b"secret\r\n", "only cat's copy, no echo");
    s.send_eof().unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
}

#[test]
fn set_echo_turns_echo_off_and_on() {
    let mut s = spawn(&mut Command::new("cat"));
    s.set_echo(false).unwrap();
    assert!(!s.echo().unwrap());
    s.send_line("quiet").unwrap();
    s.send_line("END1").unwrap();
    assert_eq!(s.expect("END1\r\n").unwrap().before(), b"quiet\r\n");
    s.set_echo(true).unwrap();
    assert!(s.echo().unwrap());
    s.send_line("loud").unwrap();
    assert_eq!(s.expect("loud\r\nloud\r\n").unwrap().before(), b"");
}

#[test]
fn window_size_from_the_builder() {
    let mut s = spawn(Command::new("stty").arg("size").window_size(33, 121));
    assert_eq!(s.window_size().unwrap(), (33, 121));
    assert_eq!(read_to_eof(&mut s), b"33 121\r\n");
}

#[test]
fn set_window_size_is_seen_by_the_program() {
    let mut s = spawn(Command::new("sh").args(["-c", "echo ready; read line; stty size"]));
    s.expect("ready\r\n").unwrap();
    s.set_window_size(40, 132).unwrap();
    assert_eq!(s.window_size().unwrap(), (40, 132));
    s.send_line("").unwrap();
    let m = s
        .expect(Pattern::regex(r"(\d+) (\d+)\r\n").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"40"[..]));
    assert_eq!(m.group(2), Some(&b"132"[..]));
}

#[test]
fn resizing_sends_sigwinch() {
    // The program blocks SIGWINCH before it says it is ready and then takes each one with
    // sigwait, so no resize can arrive before it listens or be lost between two waits (a
    // shell trap can miss a signal that lands while the shell is inside a builtin).
    let mut s = spawn(
        Command::new("python3")
            .args([
                "-c",
                "import os, signal, sys\n\
                 signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH})\n\
                 print('ready', flush=True)\n\
                 for _ in range(3):\n    \
                     signal.sigwait({signal.SIGWINCH})\n    \
                     cols, rows = os.get_terminal_size(0)\n    \
                     print('WINCH', rows, cols, flush=True)\n\
                 sys.stdin.readline()",
            ])
            .echo(false),
    );
    s.expect("ready\r\n").unwrap();
    for (rows, cols) in [(50, 100), (20, 60), (30, 70)] {
        s.set_window_size(rows, cols).unwrap();
        s.expect(format!("WINCH {rows} {cols}\r\n")).unwrap();
    }
    s.send_line("quit").unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    assert!(s.wait().unwrap().success());
}

#[test]
fn wait_for_echo_off_sees_a_password_prompt() {
    let mut s = py("import getpass\n\
         p = getpass.getpass('Password: ')\n\
         print('got', p)");
    assert!(s.wait_for_echo_off(Some(LONG)).unwrap());
    assert!(!s.echo().unwrap());
    s.expect("Password: ").unwrap();
    s.send_line("hunter2").unwrap();
    let m = s.expect("got hunter2\r\n").unwrap();
    assert!(
        !common::contains(m.before(), b"hunter2"),
        "the password was echoed: {:?}",
        m.before_str()
    );
    // getpass restored echo before printing.
    assert!(s.echo().unwrap());
    assert!(s.wait().unwrap().success());
}

#[test]
fn wait_for_echo_off_gives_up_at_the_deadline() {
    let mut s = spawn(&mut Command::new("cat"));
    let wait = Duration::from_millis(200);
    let started = Instant::now();
    assert!(!s.wait_for_echo_off(Some(wait)).unwrap());
    assert_waited(started.elapsed(), wait);
}

#[test]
fn wait_for_echo_off_returns_at_once_when_echo_is_off() {
    let mut s = spawn(Command::new("cat").echo(false));
    let started = Instant::now();
    assert!(s.wait_for_echo_off(None).unwrap());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn send_eof_ends_cat() {
    let mut s = spawn(&mut Command::new("cat"));
    s.send_eof().unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn send_eof_mid_line_hands_over_the_partial_line() {
    let mut s = spawn(&mut Command::new("cat"));
    s.send("partial").unwrap();
    s.send_eof().unwrap();
    // The echo, then cat's copy; the EOF character itself is not echoed.
    s.expect("partialpartial").unwrap();
    s.send_eof().unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    assert!(s.wait().unwrap().success());
}

#[test]
fn send_intr_interrupts_sleep() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    let started = Instant::now();
    s.send_intr().unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGINT));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn send_control_c_interrupts_sleep() {
    for c in ['c', 'C'] {
        let mut s = spawn(Command::new("sleep").arg("30"));
        s.send_control(c).unwrap();
        assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGINT));
    }
}

#[test]
fn send_control_d_ends_cat() {
    let mut s = spawn(&mut Command::new("cat"));
    s.send_control('d').unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    assert!(s.wait().unwrap().success());
}

#[test]
fn send_control_backslash_quits() {
    let mut s = spawn(Command::new("sleep").arg("30"));
    s.send_control('\\').unwrap();
    assert_eq!(s.wait().unwrap(), ExitStatus::Signaled(Signal::SIGQUIT));
}

#[test]
fn send_control_sends_the_keyboard_bytes() {
    // In raw mode the terminal passes every byte through; the program reports them in hex.
    let mut s = py("import os, sys, tty\n\
         tty.setraw(0)\n\
         os.write(1, b'ready\\r\\n')\n\
         got = b''\n\
         while len(got) < 10:\n\
         \x20   got += os.read(0, 10 - len(got))\n\
         os.write(1, got.hex().encode() + b'\\r\\n')");
    s.expect("ready\r\n").unwrap();
    for c in ['a', 'Z', '@', ' ', '[', '\\', ']', '^', '_', '?'] {
        s.send_control(c).unwrap();
    }
    let m = s
        .expect(Pattern::regex(r"([0-9a-f]{20})\r\n").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"011a00001b1c1d1e1f7f"[..]));
}

#[test]
fn send_and_send_line_bytes_reach_the_program() {
    let mut s = py("import os, sys, tty\n\
         tty.setraw(0)\n\
         os.write(1, b'ready\\r\\n')\n\
         got = b''\n\
         while not got.endswith(b'!'):\n\
         \x20   got += os.read(0, 100)\n\
         os.write(1, got.hex().encode() + b'\\r\\n')");
    s.expect("ready\r\n").unwrap();
    assert_eq!(s.line_ending(), b"\r");
    s.send_line("ab").unwrap();
    s.set_line_ending("\n");
    assert_eq!(s.line_ending(), b"\n");
    s.send_line(b"\xc3\xa9").unwrap();
    s.send(b"\x00\xff!").unwrap();
    let m = s
        .expect(Pattern::regex(r"([0-9a-f]+)\r\n").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"61620dc3a90a00ff21"[..]));
}

#[test]
fn terminal_modes_set_by_the_program_are_visible() {
    let mut s = spawn(Command::new("sh").args(["-c", "stty -echo; echo done; read x"]));
    s.expect("done").unwrap();
    assert!(!s.echo().unwrap());
    s.send_line("").unwrap();
    s.expect(Pattern::eof()).unwrap();
}

/// In canonical mode the kernel keeps 4095 bytes of a line and silently drops the rest;
/// `send` refuses such a line, sends nothing, and says why and what to do.
#[test]
fn a_line_longer_than_canonical_mode_keeps_is_refused_not_truncated() {
    let mut s = sh("stty -echo; echo ready; head -n 1 | wc -c");
    s.expect("ready\r\n").unwrap();
    let err = s.send_line("x".repeat(10_000)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "sending: nothing was sent: a line of 10000 bytes is longer than the 4095 bytes"
        ),
        "{text}"
    );
    assert!(text.contains("stty -icanon"), "{text}");
    // Nothing reached the program: the longest line that fits goes through whole.
    s.send_line("y".repeat(4095)).unwrap();
    s.expect("4096\r\n").unwrap();
}

/// Without canonical mode there is no line limit: every byte arrives.
#[test]
fn long_lines_go_through_whole_without_canonical_mode() {
    let mut s = sh("stty -icanon -echo; echo ready; head -c 10001 | wc -c");
    s.expect("ready\r\n").unwrap();
    s.send_line("x".repeat(10_000)).unwrap();
    s.expect("10001\r\n").unwrap();
}
