//! `interact` without a real terminal: the library with pipes (or a pty pair of our own)
//! standing for the user, and the `ptychat interact` binary with its stdin a pipe. The
//! tests with a real terminal, tmux, are in `interact_tmux.rs`.

mod common;

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use common::{LONG, contains, open_pty, set_terminal_size, spawn};
use nix::fcntl::OFlag;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::termios::{LocalFlags, tcgetattr};
use ptychat::{
    ChildTransport, Command, Error, ExitStatus, Flow, Interact, InteractOutcome, Pattern, Session,
    StderrMode, Transcript,
};

/// The "user": a keyboard (a pipe interact reads) and a screen (a pipe it writes).
struct User {
    stdin: OwnedFd,
    keyboard: Option<File>,
    stdout: Option<OwnedFd>,
    screen: File,
}

impl User {
    /// A user who types `typed`; `close` ends their input after it.
    fn typing(typed: &[u8], close: bool) -> User {
        let (stdin, keyboard) = pipe();
        let (screen, stdout) = pipe();
        let mut keyboard = File::from(keyboard);
        keyboard.write_all(typed).unwrap();
        User {
            stdin,
            keyboard: (!close).then_some(keyboard),
            stdout: Some(stdout),
            screen: File::from(screen),
        }
    }

    fn options(&self) -> Interact<'_> {
        Interact::new()
            .stdin(self.stdin.as_fd())
            .stdout(self.stdout.as_ref().unwrap().as_fd())
    }

    /// Everything interact wrote to the screen (call after it returned).
    fn screen(mut self) -> Vec<u8> {
        self.stdout = None;
        self.keyboard = None;
        let mut seen = Vec::new();
        self.screen.read_to_end(&mut seen).unwrap();
        seen
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap()
}

/// What the user saw, plus what the program wrote after interact returned at the end of
/// the user's input, and how the program ended. Interact returns at the end of the user's
/// input (as Expect's does), or with the program's end if its output had ended too.
fn seen_to_the_end<T: ChildTransport>(
    outcome: InteractOutcome,
    s: &mut Session<T>,
    user: User,
) -> (Vec<u8>, ExitStatus) {
    let mut seen = user.screen();
    let status = match outcome {
        InteractOutcome::Exited(status) => status,
        InteractOutcome::InputEnded => {
            seen.extend_from_slice(s.expect(Pattern::eof()).unwrap().before());
            s.wait().unwrap()
        }
        other => panic!("expected the end of the user's input or of the program, got {other:?}"),
    };
    (seen, status)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn output_hooks_reply_and_filters_transform() {
    #[derive(Clone, Default)]
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Transcript for Seen {
        fn output(&mut self, bytes: &[u8]) {
            self.0.lock().unwrap().extend_from_slice(bytes);
        }
        fn input(&mut self, _: &[u8]) {}
    }

    let user = User::typing(b"", false);
    let mut s = spawn(&mut Command::shell(
        "printf 'Name? '; read name; echo \"hi $name\"",
    ));
    let seen = Seen::default();
    s.add_transcript(Box::new(seen.clone()));
    let hooked = Cell::new(0);
    let outcome = s
        .interact_with(
            user.options()
                .on_output("Name? ", |m, reply| {
                    assert_eq!(m.matched(), b"Name? ");
                    hooked.set(hooked.get() + 1);
                    reply.send("Ann\r");
                    reply.show("<hooked>");
                    Flow::Continue
                })
                .output_filter(|bytes| bytes.to_ascii_uppercase()),
        )
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(0)));
    assert_eq!(hooked.get(), 1);
    assert_eq!(text(&user.screen()), "NAME? <hooked>ANN\r\nHI ANN\r\n");
    // Transcripts see the program's output as it passes, unfiltered.
    assert_eq!(text(&seen.0.lock().unwrap()), "Name? Ann\r\nhi Ann\r\n");
}

#[test]
fn buffered_output_is_written_first() {
    let user = User::typing(b"zz\n", false);
    let mut s = spawn(&mut Command::shell(
        "printf 'abc\\n'; read x; echo got-$x; exit 3",
    ));
    s.expect("ab").unwrap();
    let outcome = s.interact_with(user.options()).unwrap();
    assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(3)));
    let screen = text(&user.screen());
    assert!(screen.starts_with("c\r\n"), "{screen:?}");
    assert!(screen.ends_with("got-zz\r\n"), "{screen:?}");
}

#[test]
fn escape_byte_returns_with_the_program_running() {
    let user = User::typing(b"one\n\x1dlost\n", false);
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s.interact_with(user.options()).unwrap();
    assert_eq!(outcome, InteractOutcome::Escaped);
    // What was typed before the escape reached cat; what came after it in the same read
    // did not. The session goes on.
    s.send_line("two").unwrap();
    let m = s.expect("two\r\n").unwrap();
    let mut all = user.screen();
    all.extend_from_slice(m.before());
    assert_eq!(text(&all), "one\r\n");
    assert!(s.is_alive().unwrap());
}

#[test]
fn escape_can_be_changed_or_disabled() {
    let user = User::typing(b"a\x1db\x18c\n", true);
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s.interact_with(user.options().escape(Some(0x18))).unwrap();
    assert_eq!(outcome, InteractOutcome::Escaped);
    s.send_line("").unwrap();
    assert_eq!(s.expect("\r\n").unwrap().before(), b"a\x1db");

    let user = User::typing(b"a\x1db\x18c\n", true);
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s.interact_with(user.options().escape(None)).unwrap();
    let (seen, status) = seen_to_the_end(outcome, &mut s, user);
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(seen, b"a\x1db\x18c\r\n");
}

#[test]
fn input_hooks_see_what_was_typed_and_filters_change_what_is_sent() {
    let user = User::typing(b"hello secret world\n", true);
    let mut s = spawn(Command::new("cat").echo(false));
    let groups = RefCell::new(Vec::new());
    let outcome = s
        .interact_with(
            user.options()
                .on_input(Pattern::regex(r"w(or)ld").unwrap(), |m, reply| {
                    groups.borrow_mut().push(text(m.group(1).unwrap()));
                    reply.send("+hook\n");
                    Flow::Continue
                })
                .input_filter(|bytes| bytes.to_ascii_uppercase()),
        )
        .unwrap();
    // The end of the typed input reached cat as end of file, after the hook's reply.
    let (seen, status) = seen_to_the_end(outcome, &mut s, user);
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(*groups.borrow(), ["or"]);
    assert_eq!(text(&seen), "HELLO SECRET WORLD\r\n+hook\r\n");
}

#[test]
fn hooks_can_stop_interacting() {
    let user = User::typing(b"", false);
    let mut s = spawn(&mut Command::shell("echo ready; read x; echo \"got $x\""));
    let outcome = s
        .interact_with(user.options().on_output("ready", |_, _| Flow::Stop))
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Stopped);
    s.send_line("more").unwrap();
    s.expect("got more").unwrap();

    let user = User::typing(b"abc quit xyz\n", false);
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s
        .interact_with(user.options().on_input("quit", |_, _| Flow::Stop))
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Stopped);
    s.send_eof().unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    let mut all = user.screen();
    all.extend_from_slice(m.before());
    // Hooks observe: the whole read was passed on before interact stopped.
    assert_eq!(text(&all), "abc quit xyz\r\n");
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn how_the_program_ended_is_returned() {
    let user = User::typing(b"", false);
    let mut s = spawn(&mut Command::shell("echo bye; kill -9 $$"));
    let outcome = s.interact_with(user.options()).unwrap();
    assert_eq!(
        outcome,
        InteractOutcome::Exited(ExitStatus::Signaled(Signal::SIGKILL))
    );
    assert_eq!(user.screen(), b"bye\r\n");
}

#[test]
fn input_ending_mid_line_still_ends_the_programs_input() {
    // On a terminal the first end-of-file character hands over the partial line, the
    // second is the end of file.
    let user = User::typing(b"abc", true);
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s.interact_with(user.options()).unwrap();
    let (seen, status) = seen_to_the_end(outcome, &mut s, user);
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(seen, b"abc");
}

#[test]
fn pipe_sessions_get_their_input_closed_at_the_end_of_ours() {
    let user = User::typing(b"hello\n", true);
    let mut s = Command::new("cat").spawn_piped(StderrMode::Merge).unwrap();
    let outcome = s.interact_with(user.options()).unwrap();
    let (seen, status) = seen_to_the_end(outcome, &mut s, user);
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(seen, b"hello\n");
}

#[test]
fn separate_stderr_goes_to_the_users_stderr() {
    // The user's input stays open: interact relays until the program's output ends.
    let user = User::typing(b"", false);
    let (errors, stderr) = pipe();
    let mut s = Command::shell("echo out; echo err >&2")
        .spawn_piped(StderrMode::Separate)
        .unwrap();
    let outcome = s
        .interact_with(user.options().stderr(stderr.as_fd()))
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(0)));
    drop(stderr);
    let mut seen = String::new();
    File::from(errors).read_to_string(&mut seen).unwrap();
    assert_eq!(seen, "err\n");
    assert_eq!(user.screen(), b"out\n");
}

/// As Expect's `interact`, the end of the user's input ends interact at once: a program
/// that ignores its end-of-file character is not waited for, and stays usable.
#[test]
fn the_end_of_the_users_input_returns_without_waiting_for_the_program() {
    let user = User::typing(b"typed\n", true);
    let mut s =
        spawn(Command::shell("while :; do read -r line && echo \"got $line\"; done").echo(false));
    let outcome = s.interact_with(user.options()).unwrap();
    assert_eq!(outcome, InteractOutcome::InputEnded);
    assert!(s.is_alive().unwrap());
    let mut seen = user.screen();
    if !contains(&seen, b"got typed") {
        let m = s.expect("got typed\r\n").unwrap();
        seen.extend_from_slice(m.before());
        seen.extend_from_slice(m.matched());
    }
    assert_eq!(text(&seen), "got typed\r\n");
    s.send_line("more").unwrap();
    s.expect("got more").unwrap();
}

#[test]
fn stream_sessions_end_with_eof() {
    let (mut ours, mut peer) = Session::pair().unwrap();
    peer.send("from the peer").unwrap();
    drop(peer);
    // The user's input stays open: with it closed, whichever end comes first would end
    // interact, and a child another test forks meanwhile can hold the peer's socket open
    // for a moment, so the end of the output may come second.
    let user = User::typing(b"", false);
    let outcome = ours.interact_with(user.options()).unwrap();
    assert_eq!(outcome, InteractOutcome::Eof);
    assert_eq!(user.screen(), b"from the peer");
}

#[test]
fn hook_patterns_must_match_text() {
    let user = User::typing(b"", false);
    let mut s = spawn(&mut Command::new("cat"));
    for pattern in [Pattern::eof(), Pattern::timeout(), Pattern::exact("")] {
        let err = s
            .interact_with(user.options().on_output(pattern, |_, _| Flow::Continue))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
}

/// The current handler of `signal`, left unchanged.
fn handler(signal: Signal) -> libc::sighandler_t {
    // SAFETY: all-zero bytes are a valid `sigaction`.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into a local.
    let rc = unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), &mut current) };
    assert_eq!(rc, 0);
    current.sa_sigaction
}

/// Reads the pty master until `done` holds for what was read.
fn read_until(master: &File, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + LONG;
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(Instant::now() < deadline, "read so far: {:?}", text(&seen));
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).unwrap() > 0 {
            let mut buf = [0u8; 4096];
            let n = nix::unistd::read(master, &mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
    }
    seen
}

/// A pty pair of our own as the user's terminal: raw mode while interacting, the exact
/// mode back afterwards, its size copied to the program's terminal, and the signal
/// handlers interact installs removed again.
#[test]
fn a_terminal_as_the_user_is_put_in_raw_mode_and_restored() {
    let _serial = DISPOSITIONS.lock().unwrap_or_else(|e| e.into_inner());
    let (master, slave) = open_pty();
    set_terminal_size(&slave, 33, 101);
    let before = tcgetattr(&slave).unwrap();
    let handlers = || TERMINATING.map(handler);
    let handlers_before = handlers();
    // Typed before interact starts: the terminal holds it until interact reads it.
    nix::unistd::write(&master, b"go\r").unwrap();
    let mut s = spawn(&mut Command::shell("read x; stty size; echo got-$x"));
    let raw = Cell::new(None);
    let outcome = s
        .interact_with(
            Interact::new()
                .stdin(slave.as_fd())
                .stdout(slave.as_fd())
                .on_output("33 101", |_, _| {
                    let mode = tcgetattr(&slave).unwrap();
                    raw.set(Some(!mode.local_flags.contains(LocalFlags::ICANON)));
                    Flow::Continue
                }),
        )
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(0)));
    assert_eq!(raw.get(), Some(true), "raw mode while interacting");
    assert_eq!(tcgetattr(&slave).unwrap(), before);
    assert_eq!(handlers(), handlers_before);
    let screen = read_until(&master, |seen| contains(seen, b"got-go\r\n"));
    assert!(contains(&screen, b"33 101\r\n"), "{:?}", text(&screen));
}

const TERMINATING: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// Taken by the tests that compare signal dispositions before and after interact with a
/// terminal (which changes them while it runs), so they do not see each other's.
static DISPOSITIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_panicking_hook_leaves_the_terminal_as_it_was() {
    let _serial = DISPOSITIONS.lock().unwrap_or_else(|e| e.into_inner());
    let (_master, slave) = open_pty();
    let before = tcgetattr(&slave).unwrap();
    let handlers = || TERMINATING.map(handler);
    let handlers_before = handlers();
    let mut s = spawn(&mut Command::shell("echo BOOM; exec sleep 30"));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.interact_with(
            Interact::new()
                .stdin(slave.as_fd())
                .stdout(slave.as_fd())
                .on_output("BOOM", |_, _| panic!("hook panics")),
        )
    }));
    assert!(panicked.is_err());
    assert_eq!(tcgetattr(&slave).unwrap(), before);
    assert_eq!(handlers(), handlers_before);
    assert!(s.is_alive().unwrap());
}

/// The `ptychat interact` binary with its input a pipe.
#[cfg(feature = "cli")]
mod cli {
    use std::io::Write;

    use super::text;

    const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

    /// Runs `ptychat ARGS` with `stdin` piped in (then closed); returns its exit code and
    /// output.
    fn ptychat(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
        let mut child = std::process::Command::new(BIN)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }

    #[test]
    fn cli_passes_piped_input_and_its_end_and_returns_the_exit_code() {
        let (code, out, err) =
            ptychat(&["interact", "--", "sh", "-c", "cat; exit 5"], b"echo hi\n");
        assert_eq!(code, Some(5), "{err}");
        // The terminal's echo, then cat's copy.
        assert_eq!(out, "echo hi\r\necho hi\r\n");

        // A shell reading commands from its terminal runs them, then exits at end of input.
        let (code, out, err) = ptychat(&["interact", "sh"], b"echo hi\n");
        assert_eq!(code, Some(0), "{err}");
        // (The prompt and the terminal's echo of the line come in either order.)
        assert!(
            out.replace("echo hi", "").contains("hi\r\n"),
            "output {out:?}, stderr {err:?}"
        );

        let (code, out, err) =
            ptychat(&["interact", "--escape", "none", "sh", "-c", "exit 3"], b"");
        assert_eq!((code, out.as_str(), err.as_str()), (Some(3), "", ""));
    }

    #[test]
    fn cli_reports_mistakes() {
        let (code, _, err) = ptychat(&["interact"], b"");
        assert_eq!(code, Some(2));
        assert!(err.contains("interact: missing PROGRAM"), "{err}");
        let (code, _, err) = ptychat(&["interact", "--escape", "x", "sh"], b"");
        assert_eq!(code, Some(2));
        assert!(err.contains("escape key `x`"), "{err}");
        let (code, _, err) = ptychat(&["interact", "/no/such/program"], b"");
        assert_eq!(code, Some(1));
        assert!(err.contains("cannot spawn `/no/such/program`"), "{err}");
    }
}

#[test]
fn output_that_ended_before_interact_is_still_shown() {
    let mut s = spawn(&mut Command::shell("echo done; exit 4"));
    let m = s.expect_timeout("never", Some(LONG)).unwrap_err();
    assert!(m.is_eof(), "{m}");
    // The failed expect left the output buffered, and the program is gone.
    let user = User::typing(b"", false);
    let outcome = s.interact_with(user.options()).unwrap();
    assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(4)));
    assert_eq!(user.screen(), b"done\r\n");
}

/// A stop takes effect after the hooks of every match the same read completed have run,
/// in stream order (as Expect's `interact` runs every action a read completes).
#[test]
fn a_stop_still_runs_the_other_hooks_of_the_same_read() {
    // Written before interact starts, in one write smaller than a pipe's atomic size:
    // interact reads it in one read.
    let user = User::typing(b"a1 stop a2 a3\n", false);
    let seen = RefCell::new(Vec::new());
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s
        .interact_with(
            user.options()
                .on_input("stop", |_, _| {
                    seen.borrow_mut().push("stop".to_string());
                    Flow::Stop
                })
                .on_input(Pattern::regex(r"a\d").unwrap(), |m, _| {
                    seen.borrow_mut().push(text(m.matched()));
                    Flow::Continue
                }),
        )
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Stopped);
    assert_eq!(*seen.borrow(), ["a1", "stop", "a2", "a3"]);
    s.send_eof().unwrap();
    s.expect(Pattern::eof()).unwrap();
}

/// An input idle hook runs when the user types nothing; an output idle hook when the
/// program writes nothing, again after each silence.
#[test]
fn idle_hooks_run_after_silence() {
    // The user's keyboard stays open, and nothing is typed.
    let user = User::typing(b"", false);
    let calls = Cell::new(0);
    let mut s = spawn(&mut Command::shell("read x; echo \"got $x\""));
    let outcome = s
        .interact_with(user.options().on_input_idle(
            std::time::Duration::from_millis(50),
            |reply| {
                calls.set(calls.get() + 1);
                reply.send("nobody\r");
                Flow::Continue
            },
        ))
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(0)));
    assert!(calls.get() >= 1);
    assert!(contains(&user.screen(), b"got nobody"));

    // Silence: ping the program; once it answered, silence again stops.
    let user = User::typing(b"", false);
    let (sent, answered) = (Cell::new(false), Cell::new(false));
    let mut s = spawn(Command::new("cat").echo(false));
    let outcome = s
        .interact_with(
            user.options()
                .on_output("ping", |_, _| {
                    answered.set(true);
                    Flow::Continue
                })
                .on_output_idle(std::time::Duration::from_millis(50), |reply| {
                    if answered.get() {
                        return Flow::Stop;
                    }
                    if !sent.replace(true) {
                        reply.send("ping\n");
                    }
                    Flow::Continue
                }),
        )
        .unwrap();
    assert_eq!(outcome, InteractOutcome::Stopped);
    assert!(contains(&user.screen(), b"ping\r\n"));
    s.send_eof().unwrap();
    s.expect(Pattern::eof()).unwrap();
}
