//! Sessions over streams we did not spawn: a TCP and a Unix-domain "Command? " server
//! (examples/command_server.rs, run in-process), socket pairs, pairs of pipes, and a
//! terminal opened as a file, like a serial line.

mod common;

#[allow(dead_code)] // main() and the parts the tests do not use
#[path = "../examples/command_server.rs"]
mod command_server;

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use command_server::{HELP, PROMPT};
use common::{LONG, open_pty};
use nix::fcntl::OFlag;
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use ptychat::{Error, Pattern, Session, StreamSession};

/// The welcome line the command server sends before its first prompt.
const WELCOME: &str = "Welcome to the command server; type help for the command list.\n";

/// Starts the command server on a free TCP port of the loopback interface.
fn tcp_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || command_server::serve(listener));
    address
}

/// A session with the deadline of the tests.
fn session<S: AsFd>(stream: S) -> StreamSession<S> {
    let mut s = Session::from_stream(stream).unwrap();
    s.set_timeout(Some(LONG));
    s
}

/// A Unix-socket path unique to this process and `name`, removed on drop.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ptychat-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The `io::Error` inside an [`Error::Io`].
fn io_source(err: Error) -> std::io::Error {
    match err {
        Error::Io { source, .. } => source,
        other => panic!("expected Error::Io, got {other}"),
    }
}

/// Sends `command` and returns the server's answer, up to its next prompt.
fn ask<S: AsFd>(s: &mut StreamSession<S>, command: &str) -> String {
    s.send_line(command).unwrap();
    let m = s.expect(PROMPT).unwrap();
    m.before_str().into_owned()
}

/// The whole repertoire of the command server, ending with `quit`.
fn converse<S: AsFd>(s: &mut StreamSession<S>) {
    let m = s.expect(PROMPT).unwrap();
    assert_eq!(m.before_str(), WELCOME);

    assert_eq!(ask(s, "motd"), command_server::motd());

    s.send_line("date").unwrap();
    let m = s
        .expect(
            Pattern::regex(r"(\w{3}) (\w{3}) ([ \d]\d) \d\d:\d\d:\d\d (\d{4})\nCommand\? ")
                .unwrap(),
        )
        .unwrap();
    assert!(m.before().is_empty(), "{:?}", m.before_str());
    let year: u32 = std::str::from_utf8(m.group(4).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(year >= 2024, "{}", m.matched_str());

    // Whoever is logged in (maybe nobody); only the prompt after it is certain.
    let _ = ask(s, "who");
    assert_eq!(ask(s, ""), "", "a blank line gets only a new prompt");
    assert_eq!(ask(s, "help"), HELP);
    assert_eq!(
        ask(s, "  MOTD  "),
        command_server::motd(),
        "case and spaces do not matter"
    );

    s.send_line("quit").unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    assert!(m.before().is_empty(), "{:?}", m.before_str());
    assert!(s.is_eof());
}

// ---------------------------------------------------------------------------------------
// The command server

#[test]
fn command_server_formats_dates_like_gmtime() {
    let at = |secs| command_server::gmtime(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "Thu Jan  1 00:00:00 1970");
    assert_eq!(at(951_782_400), "Tue Feb 29 00:00:00 2000");
    assert_eq!(at(1_000_000_000), "Sun Sep  9 01:46:40 2001");
    assert_eq!(at(1_735_689_599), "Tue Dec 31 23:59:59 2024");
    assert!(command_server::gmtime(SystemTime::now()).len() == 24);
}

#[test]
fn tcp_command_server_conversation() {
    let mut s = session(TcpStream::connect(tcp_server()).unwrap());
    converse(&mut s);
}

#[test]
fn tcp_clients_are_served_at_the_same_time() {
    let address = tcp_server();
    let mut first = session(TcpStream::connect(address).unwrap());
    let mut second = session(TcpStream::connect(address).unwrap());
    second.expect(PROMPT).unwrap();
    first.expect(PROMPT).unwrap();
    assert_eq!(ask(&mut second, "help"), HELP);
    assert_eq!(ask(&mut first, "motd"), command_server::motd());
    second.send_line("quit").unwrap();
    second.expect(Pattern::eof()).unwrap();
    // The first client is still being served.
    assert_eq!(ask(&mut first, "help"), HELP);
    first.send_line("exit").unwrap();
    first.expect(Pattern::eof()).unwrap();
}

#[test]
fn tcp_close_input_half_closes_and_the_answer_still_arrives() {
    let mut s = session(TcpStream::connect(tcp_server()).unwrap());
    s.expect(PROMPT).unwrap();
    s.send_line("help").unwrap();
    // Our side is done talking; the server answers, sees our end of file and hangs up.
    s.close_input().unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before_str(), format!("{HELP}{PROMPT}"));
    let err = io_source(s.send_line("help").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
}

#[test]
fn unix_socket_command_server_conversation() {
    let path = SocketPath::new("command-server");
    let listener = UnixListener::bind(&path.0).unwrap();
    std::thread::spawn(move || command_server::serve_unix(listener));
    let mut s = session(UnixStream::connect(&path.0).unwrap());
    converse(&mut s);

    // Half-closing works on Unix sockets too.
    let mut s = session(UnixStream::connect(&path.0).unwrap());
    s.expect(PROMPT).unwrap();
    s.close_input().unwrap();
    assert!(s.expect(Pattern::eof()).unwrap().before().is_empty());
}

// ---------------------------------------------------------------------------------------
// Socket pairs

#[test]
fn pair_round_trip_and_half_close() {
    let (mut left, mut right) = Session::pair().unwrap();
    left.set_timeout(Some(LONG));
    right.set_timeout(Some(LONG));
    assert_eq!(left.line_ending(), b"\n");

    left.send_line("ping").unwrap();
    right.expect("ping\n").unwrap();
    right.send_line("pong").unwrap();
    left.expect("pong\n").unwrap();

    // Left stops talking: right reads the end, but can still answer.
    left.send("last words").unwrap();
    left.close_input().unwrap();
    let m = right.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"last words");
    right.send_line("heard you").unwrap();
    left.expect("heard you\n").unwrap();
    assert!(!left.is_eof());

    let err = io_source(left.send_line("more").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");

    drop(right);
    assert!(left.expect(Pattern::eof()).unwrap().before().is_empty());
}

#[test]
fn pair_talks_to_a_thread() {
    let (mut us, mut peer) = Session::pair().unwrap();
    us.set_timeout(Some(LONG));
    peer.set_timeout(Some(LONG));
    // The thread answers each line in upper case until our input ends.
    let shouter = std::thread::spawn(move || {
        let mut lines = 0;
        loop {
            let m = peer.expect([Pattern::exact("\n"), Pattern::eof()]).unwrap();
            if m.is_eof() {
                assert!(m.before().is_empty(), "{:?}", m.before_str());
                break;
            }
            peer.send_line(m.before_str().to_uppercase()).unwrap();
            lines += 1;
        }
        peer.send_line(format!("bye after {lines} lines")).unwrap();
    });
    for word in ["hello", "there", "thread"] {
        us.send_line(word).unwrap();
        assert_eq!(us.expect("\n").unwrap().before_str(), word.to_uppercase());
    }
    us.close_input().unwrap();
    us.expect("bye after 3 lines\n").unwrap();
    // The thread ended and its session closed.
    assert!(us.expect(Pattern::eof()).unwrap().before().is_empty());
    shouter.join().unwrap();
}

#[test]
fn pair_moves_a_megabyte_each_way_without_deadlock() {
    // Both sides send more than a socket buffer holds before reading: each send drains
    // incoming data while it waits, so neither blocks the other.
    let (mut a, mut b) = Session::pair().unwrap();
    a.set_timeout(Some(LONG));
    b.set_timeout(Some(LONG));
    let payload = vec![b'a'; 1024 * 1024];
    let other = std::thread::spawn(move || {
        b.send(vec![b'b'; 1024 * 1024]).unwrap();
        b.send("|end-b").unwrap();
        let m = b.expect("|end-a").unwrap();
        assert_eq!(m.before().len(), 1024 * 1024);
        assert!(m.before().iter().all(|&c| c == b'a'));
    });
    a.send(&payload).unwrap();
    a.send("|end-a").unwrap();
    let m = a.expect("|end-b").unwrap();
    assert_eq!(m.before().len(), 1024 * 1024);
    assert!(m.before().iter().all(|&c| c == b'b'));
    other.join().unwrap();
}

// ---------------------------------------------------------------------------------------
// Two pipes

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap()
}

#[test]
fn from_fds_over_two_pipes_to_a_process() {
    let (child_stdin, to_child) = pipe();
    let (from_child, child_stdout) = pipe();
    let mut child = std::process::Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(Stdio::from(child_stdin))
        .stdout(Stdio::from(child_stdout))
        .spawn()
        .unwrap();
    // The child's ends were moved into the Command, which closed them after spawning.
    let mut s = Session::from_fds(from_child, to_child).unwrap();
    s.set_timeout(Some(LONG));
    s.send_line("hello").unwrap();
    s.send_line("world").unwrap();
    s.close_input().unwrap();
    let m = s.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"HELLO\nWORLD\n");
    assert!(child.wait().unwrap().success());
    let err = io_source(s.send_line("late").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
}

#[test]
fn from_fds_over_two_pipes_to_a_thread() {
    let (their_read, our_write) = pipe();
    let (our_read, their_write) = pipe();
    let echo = std::thread::spawn(move || {
        let mut out = File::from(their_write);
        for line in BufReader::new(File::from(their_read)).lines() {
            writeln!(out, "echo: {}", line.unwrap()).unwrap();
        }
        // Our end of input came through.
        writeln!(out, "input closed").unwrap();
    });
    let mut s = Session::from_fds(our_read, our_write).unwrap();
    s.set_timeout(Some(LONG));
    for word in ["one", "two", "three"] {
        s.send_line(word).unwrap();
        s.expect(format!("echo: {word}\n").as_str()).unwrap();
    }
    s.close_input().unwrap();
    s.expect("input closed\n").unwrap();
    assert!(s.expect(Pattern::eof()).unwrap().before().is_empty());
    echo.join().unwrap();
}

// ---------------------------------------------------------------------------------------
// A terminal opened as a file, like a serial line

/// Puts a terminal in raw mode: bytes pass unchanged, as on a serial line. Done before
/// anything is sent, or the terminal would cook what arrives meanwhile.
fn make_raw(line: &File) {
    let mut termios = tcgetattr(line).unwrap();
    cfmakeraw(&mut termios);
    tcsetattr(line, SetArg::TCSANOW, &termios).unwrap();
}

/// A modem on the far end of a raw serial line: answers `AT` commands ending in `\r`, and
/// hangs up (closes the line) on `ATH`.
fn modem(line: File) {
    let mut writer = line.try_clone().unwrap();
    let mut reader = BufReader::new(line);
    loop {
        let mut command = Vec::new();
        if reader.read_until(b'\r', &mut command).unwrap() == 0 {
            return;
        }
        let answer: &[u8] = match command.as_slice() {
            b"AT\r" => b"\r\nOK\r\n",
            b"ATI\r" => b"\r\nptychat virtual modem\r\nOK\r\n",
            b"ATH\r" => {
                writer.write_all(b"\r\nOK\r\n").unwrap();
                return; // both copies of the slave close: the line hangs up
            }
            _ => b"\r\nERROR\r\n",
        };
        writer.write_all(answer).unwrap();
    }
}

#[test]
fn serial_like_tty_conversation() {
    let (master, slave) = open_pty();
    make_raw(&slave);
    let far_end = std::thread::spawn(move || modem(slave));
    let mut s = session(master);
    s.set_line_ending("\r");
    s.send_line("AT").unwrap();
    assert!(s.expect("OK\r\n").unwrap().before() == b"\r\n");
    s.send_line("ATI").unwrap();
    let m = s
        .expect(Pattern::regex(r"\r\n(.*)\r\nOK\r\n").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some(&b"ptychat virtual modem"[..]));
    s.send_line("ATX9").unwrap();
    s.expect("\r\nERROR\r\n").unwrap();
    // A terminal cannot half-close: there is no "end of input" short of hanging up.
    let err = io_source(s.close_input().unwrap_err());
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    s.send_line("ATH").unwrap();
    s.expect("\r\nOK\r\n").unwrap();
    far_end.join().unwrap();
}

#[test]
fn serial_like_tty_hangup_is_end_of_output() {
    let (master, slave) = open_pty();
    make_raw(&slave);
    let far_end = std::thread::spawn(move || modem(slave));
    let mut s = session(master);
    s.set_line_ending("\r");
    s.send_line("ATH").unwrap();
    far_end.join().unwrap();
    // Everything written before the hang-up arrives, then the end.
    let m = s.expect(Pattern::eof()).unwrap();
    assert_eq!(m.before(), b"\r\nOK\r\n");
}

#[test]
fn tty_line_discipline_works_between_session_and_thread() {
    // A terminal in its default (cooked) mode: it echoes what we send, hands the far end
    // whole lines with CR turned into NL, and turns NL into CR NL on the way back.
    let (master, slave) = open_pty();
    let far_end = std::thread::spawn(move || {
        let mut writer = slave.try_clone().unwrap();
        let mut reader = BufReader::new(slave);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        writeln!(writer, "got {:?}", line).unwrap();
        // Hold the line open until the session has seen the answer.
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"\n");
    });
    let mut s = session(master);
    s.set_line_ending("\r");
    s.send_line("hello").unwrap();
    let m = s.expect("\r\ngot \"hello\\n\"\r\n").unwrap();
    assert_eq!(m.before(), b"hello", "the terminal's echo of our input");
    s.send_line("").unwrap();
    far_end.join().unwrap();
}
