//! Logs, asciicast recordings and secrets, on real programs on real terminals.
//!
//! Recordings are checked by python3's `json` module, one line at a time, so "valid JSON"
//! means what a real parser says. Every wait is a deadline far above what it needs.

mod common;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LONG, contains, python, spawn};
use ptychat::{
    AsciicastRecorder, Command, Direction, LogWriter, Pattern, Recording, Shared, Transcript,
};

/// A new path in the test's scratch directory.
fn scratch(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("transcripts-{}-{n}-{name}", std::process::id()))
}

/// Every chunk of output, as the session read it.
#[derive(Clone, Default)]
struct Chunks(Shared<Vec<Vec<u8>>>);

impl Chunks {
    fn all(&self) -> Vec<Vec<u8>> {
        self.0.lock().clone()
    }

    fn joined(&self) -> Vec<u8> {
        self.all().concat()
    }
}

impl Transcript for Chunks {
    fn output(&mut self, bytes: &[u8]) {
        // The end of output is reported as an empty read.
        if !bytes.is_empty() {
            self.0.lock().push(bytes.to_vec());
        }
    }

    fn input(&mut self, _bytes: &[u8]) {}
}

/// A log file of `direction`, shared so its errors can be checked.
fn log_file(path: &Path, direction: Direction) -> Shared<LogWriter<std::fs::File>> {
    Shared::new(LogWriter::new(
        std::fs::File::create(path).unwrap(),
        direction,
    ))
}

/// What python3's `json` module makes of an asciicast file.
#[derive(Debug)]
struct Cast {
    width: u64,
    height: u64,
    term: String,
    title: String,
    /// One letter per event: `o`, `i`, `r`, `m`.
    kinds: String,
    /// The data of each `"o"` event.
    outputs: Vec<String>,
    /// The data of each `"i"` event.
    inputs: Vec<String>,
    /// The data of each `"r"` event.
    resizes: Vec<String>,
}

impl Cast {
    fn output(&self) -> String {
        self.outputs.concat()
    }
}

/// Parses every line of an asciicast v2 file with `json.loads` and checks its shape: a
/// header object with version 2 and a size, then `[time, kind, text]` events whose times
/// never decrease. Panics with python's message if anything is off.
fn check_cast(path: &Path) -> Cast {
    const CHECK: &str = r#"
import json, sys
text = open(sys.argv[1], encoding='utf-8').read()
assert text.endswith('\n'), 'the file does not end with a newline'
lines = text[:-1].split('\n')
header = json.loads(lines[0])
assert isinstance(header, dict) and header.get('version') == 2, header
for key in ('width', 'height'):
    assert isinstance(header[key], int) and header[key] > 0, header
if 'timestamp' in header:
    assert isinstance(header['timestamp'], int), header
last = 0.0
events = {'o': [], 'i': [], 'r': [], 'm': []}
kinds = ''
for line in lines[1:]:
    event = json.loads(line)
    assert isinstance(event, list) and len(event) == 3, line
    time, kind, data = event
    assert isinstance(time, (int, float)) and time >= last, 'time goes back: ' + line
    last = time
    assert kind in events and isinstance(data, str), line
    kinds += kind
    events[kind].append(data)
hexes = lambda texts: ','.join(t.encode('utf-8').hex() for t in texts)
print('width', header['width'])
print('height', header['height'])
print('term', header.get('env', {}).get('TERM', '').encode().hex())
print('title', header.get('title', '').encode().hex())
print('kinds', kinds)
print('o', hexes(events['o']))
print('i', hexes(events['i']))
print('r', hexes(events['r']))
"#;
    let out = Process::new("python3")
        .args(["-c", CHECK])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} is not a valid asciicast v2 file: {}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default())
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    let unhex = |hex: &str| -> String {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        String::from_utf8(bytes).unwrap()
    };
    let list = |name: &str| -> Vec<String> {
        let value = field(name);
        if value.is_empty() {
            return Vec::new();
        }
        value.split(',').map(unhex).collect()
    };
    Cast {
        width: field("width").parse().unwrap(),
        height: field("height").parse().unwrap(),
        term: unhex(&field("term")),
        title: unhex(&field("title")),
        kinds: field("kinds"),
        outputs: list("o"),
        inputs: list("i"),
        resizes: list("r"),
    }
}

#[test]
fn logs_output_and_input_separately_and_together() {
    let mut command = python(
        "import os, sys\n\
         os.write(1, b'name? ')\n\
         line = sys.stdin.readline()\n\
         os.write(1, b'hello ' + line.strip().encode() + b'\\n')\n",
    );
    let mut s = spawn(command.echo(false));
    let paths = ["output", "input", "both"].map(scratch);
    let logs = [Direction::Output, Direction::Input, Direction::Both]
        .iter()
        .zip(&paths)
        .map(|(&direction, path)| log_file(path, direction))
        .collect::<Vec<_>>();
    for log in &logs {
        s.add_transcript(Box::new(log.clone()));
    }
    let chunks = Chunks::default();
    s.add_transcript(Box::new(chunks.clone()));

    s.expect("name? ").unwrap();
    s.send_line("ann").unwrap();
    s.expect(Pattern::eof()).unwrap();
    assert!(s.wait().unwrap().success());

    for log in &logs {
        assert!(log.lock().error().is_none());
    }
    let [output, input, both] = paths.map(|p| std::fs::read(p).unwrap());
    assert_eq!(chunks.joined(), b"name? hello ann\r\n");
    assert_eq!(output, chunks.joined());
    assert_eq!(input, b"ann\r");
    assert_eq!(both, b"name? ann\rhello ann\r\n");
}

#[test]
fn a_log_that_cannot_be_written_does_not_disturb_the_session() {
    /// Takes four bytes, then fails.
    struct Small(usize);
    impl Write for Small {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 >= 4 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
            }
            let n = buf.len().min(4 - self.0);
            self.0 += n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let log = Shared::new(LogWriter::new(Small(0), Direction::Both));
    let mut s = spawn(Command::new("cat").echo(false));
    s.add_transcript(Box::new(log.clone()));
    for line in ["one", "two", "three"] {
        s.send_line(line).unwrap();
        s.expect(format!("{line}\r\n").as_str()).unwrap();
    }
    let error = log.lock().take_error().expect("the error is kept");
    assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    assert_eq!(log.lock().get_ref().0, 4);
}

#[test]
fn the_secret_never_appears_in_logs_recordings_traces_or_errors() {
    const SECRET: &str = "hunter2-xyzzy";
    let mut s = spawn(&mut python(
        "import getpass\np = getpass.getpass()\nprint('len', len(p))\ninput()\n",
    ));
    let log_path = scratch("secret.log");
    let cast_path = scratch("secret.cast");
    let log = log_file(&log_path, Direction::Both);
    s.add_transcript(Box::new(log.clone()));
    let (rows, cols) = s.window_size().unwrap();
    let recorder = AsciicastRecorder::new(std::fs::File::create(&cast_path).unwrap(), cols, rows)
        .record_input(true);
    let recording = Recording::start(&mut s, recorder);
    let trace = Shared::new(Vec::new());
    s.set_trace(Some(Box::new(trace.clone())));
    let chunks = Chunks::default();
    s.add_transcript(Box::new(chunks.clone()));

    s.expect("Password: ").unwrap();
    // getpass turns echo off before it prints the prompt; check, as a person would look.
    assert!(s.wait_for_echo_off(Some(LONG)).unwrap());
    s.send_secret(format!("{SECRET}\r")).unwrap();
    s.expect("len 13\r\n").unwrap();
    // A failed expect shows the output that did not match; the secret is not in it.
    let err = s
        .expect_timeout("never printed", Some(Duration::from_millis(200)))
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    s.send_line("typed in the open").unwrap();
    s.expect(Pattern::eof()).unwrap();
    recording.stop(&mut s).unwrap();
    drop(s);

    let log_text = std::fs::read(&log_path).unwrap();
    let cast_text = std::fs::read(&cast_path).unwrap();
    let trace_text = trace.lock().clone();
    for (what, text) in [
        ("the log", &log_text),
        ("the recording", &cast_text),
        ("the trace", &trace_text),
        ("the output", &chunks.joined()),
        ("the timeout error", &err.to_string().into_bytes()),
        (
            "the timeout error's Debug",
            &format!("{err:?}").into_bytes(),
        ),
    ] {
        assert!(
            !contains(text, SECRET.as_bytes()) && !contains(text, b"xyzzy"),
            "{what} shows the secret: {}",
            String::from_utf8_lossy(text)
        );
    }
    assert!(contains(&log_text, b"[secret: 14 bytes]"));
    assert!(contains(&log_text, b"typed in the open\r"));
    assert!(contains(&trace_text, b"sent a secret of 14 bytes"));
    let cast = check_cast(&cast_path);
    assert_eq!(cast.inputs, ["typed in the open\r"]);
    assert_eq!(cast.output(), String::from_utf8(chunks.joined()).unwrap());
}

#[test]
fn a_secret_that_cannot_be_sent_is_not_in_the_error() {
    // `sleep` never reads its terminal: the terminal's input queue fills and the send
    // times out part way.
    let mut s = spawn(Command::new("sleep").arg("30").echo(false));
    let trace = Shared::new(Vec::new());
    s.set_trace(Some(Box::new(trace.clone())));
    s.set_timeout(Some(Duration::from_millis(300)));
    // Whole lines: a terminal discards the end of an overlong line instead of blocking.
    let secret = b"hunter2!\r".repeat(256 * 1024);
    let err = s.send_secret(&secret).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("timed out"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!contains(&trace.lock(), b"hunter2"));
}

#[test]
fn a_recording_parses_and_replays_to_the_bytes_read() {
    let mut command = python(
        "import os, sys\n\
         for chunk in [b'plain\\n', b'\"quotes\" \\\\back\\\\slash\\\\ \\ttab\\n',\n\
                       b'\\x1b[1mbold\\x1b[0m\\n', b'\\x00\\x01\\x07\\x08\\x0c\\x7f controls\\n',\n\
                       b'\\xff\\xfe bad \\xc3\\n', '\\u00e9 \\u20ac \\U0001f600 \\u2028\\n'.encode()]:\n\
         \x20   os.write(1, chunk)\n\
         sys.stdin.readline()\n",
    );
    let mut s = spawn(command.window_size(30, 100).echo(false));
    let path = scratch("replay.cast");
    let recording = s.record_asciicast_file(&path).unwrap();
    let chunks = Chunks::default();
    s.add_transcript(Box::new(chunks.clone()));
    s.expect("\u{2028}\r\n").unwrap();
    s.send_line("say \"hi\" \\ \u{e9}").unwrap();
    s.expect(Pattern::eof()).unwrap();
    recording.stop(&mut s).unwrap();

    let cast = check_cast(&path);
    assert_eq!((cast.width, cast.height), (100, 30));
    assert_eq!(cast.term, std::env::var("TERM").unwrap_or_default());
    assert!(cast.inputs.is_empty(), "input is not recorded by default");
    assert!(cast.kinds.chars().all(|k| k == 'o'), "{}", cast.kinds);
    let read = chunks.joined();
    assert!(contains(&read, b"\xff\xfe bad \xc3\r\n"));
    assert_eq!(cast.output(), String::from_utf8_lossy(&read));
}

#[test]
fn input_events_are_recorded_when_asked() {
    let mut s = spawn(Command::new("cat").echo(false));
    let recorder = AsciicastRecorder::new(Vec::new(), 80, 24)
        .with_title("cat \"demo\"")
        .with_env("TERM", "dumb")
        .record_input(true);
    let recording = Recording::start(&mut s, recorder);
    s.send_line("say \"hi\" \\ \u{e9}").unwrap();
    s.expect("\r\n").unwrap();
    recording.resize(100, 40);
    s.send(b"\xff\r").unwrap();
    s.expect("\r\n").unwrap();
    let path = scratch("input.cast");
    std::fs::write(&path, recording.stop(&mut s).unwrap()).unwrap();

    let cast = check_cast(&path);
    assert_eq!(cast.title, "cat \"demo\"");
    assert_eq!(cast.term, "dumb");
    let mut kinds = cast.kinds.clone().into_bytes();
    kinds.dedup();
    assert_eq!(kinds, b"iorio", "{}", cast.kinds);
    assert_eq!(cast.inputs, ["say \"hi\" \\ \u{e9}\r", "\u{fffd}\r"]);
    assert_eq!(cast.resizes, ["100x40"]);
    assert_eq!(cast.output(), "say \"hi\" \\ \u{e9}\r\n\u{fffd}\r\n");
}

#[test]
fn a_character_split_between_reads_is_recorded_whole() {
    // The program writes the three bytes of the euro sign in separate writes, each only
    // after we answered, so each arrives in a read of its own.
    let mut command = python(
        "import os, sys\n\
         os.write(1, b'A\\xe2')\n\
         sys.stdin.readline()\n\
         os.write(1, b'\\x82')\n\
         sys.stdin.readline()\n\
         os.write(1, b'\\xacB\\n')\n",
    );
    let mut s = spawn(command.echo(false));
    let path = scratch("split.cast");
    let recording = s.record_asciicast_file(&path).unwrap();
    let chunks = Chunks::default();
    s.add_transcript(Box::new(chunks.clone()));
    s.expect(&b"A\xe2"[..]).unwrap();
    s.send_line("").unwrap();
    s.expect(&b"\x82"[..]).unwrap();
    s.send_line("").unwrap();
    s.expect(Pattern::eof()).unwrap();
    recording.stop(&mut s).unwrap();

    assert_eq!(
        chunks.all(),
        [&b"A\xe2"[..], b"\x82", b"\xacB\r\n"],
        "the bytes came in three reads"
    );
    let cast = check_cast(&path);
    assert_eq!(cast.outputs, ["A", "\u{20ac}B\r\n"]);
}

#[test]
fn timestamps_never_decrease_over_many_reads() {
    let mut s = common::sh("for i in $(seq 1 300); do echo line $i; done");
    let path = scratch("many.cast");
    let recording = s.record_asciicast_file(&path).unwrap();
    let chunks = Chunks::default();
    s.add_transcript(Box::new(chunks.clone()));
    s.expect(Pattern::eof()).unwrap();
    recording.stop(&mut s).unwrap();
    // check_cast fails if a time goes back.
    let cast = check_cast(&path);
    assert_eq!(cast.outputs.len(), chunks.all().len());
    assert_eq!(cast.output(), String::from_utf8(chunks.joined()).unwrap());
    assert!(cast.output().ends_with("line 300\r\n"));
}

/// Runs `shell_command` in a detached tmux session of 80 x 24 and returns the screen's
/// text once the command has finished.
fn tmux_screen(shell_command: &str) -> String {
    let done = scratch("tmux-done");
    // A server of its own: a server being killed may still answer on its socket.
    let socket = done.file_name().unwrap().to_str().unwrap();
    let line = format!("{shell_command}; touch '{}'; sleep 60", done.display());
    let started = Process::new("tmux")
        .args([
            "-L",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "80",
        ])
        .args(["-y", "24", "-s", "replay", &line])
        .env_remove("TMUX")
        .output()
        .expect("tmux runs");
    assert!(
        started.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let deadline = std::time::Instant::now() + LONG;
    while !done.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "tmux never ran the command"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let screen = Process::new("tmux")
        .args(["-L", socket, "capture-pane", "-p", "-t", "replay"])
        .output()
        .expect("tmux capture-pane runs");
    let _ = Process::new("tmux")
        .args(["-L", socket, "kill-server"])
        .status();
    String::from_utf8_lossy(&screen.stdout).into_owned()
}

#[test]
fn a_recording_replays_to_the_same_screen_in_a_real_terminal() {
    assert!(
        Process::new("tmux").arg("-V").output().is_ok(),
        "tmux is not installed (bash .ci/run installs it)"
    );
    // Cursor movement, overwriting, colours and a character split between writes.
    let program = scratch("screen.py");
    std::fs::write(
        &program,
        "import os, time\n\
         os.write(1, b'hello\\rj\\n\\x1b[31mred\\x1b[0m plain\\n')\n\
         os.write(1, b'tab\\tstop \\xe2\\x82')\n\
         time.sleep(0.05)\n\
         os.write(1, b'\\xac end\\x1b[2A\\x1b[5Cup\\n\\n\\n')\n",
    )
    .unwrap();
    let mut s = spawn(Command::new("python3").arg(&program).window_size(24, 80));
    let path = scratch("screen.cast");
    let recording = s.record_asciicast_file(&path).unwrap();
    s.expect(Pattern::eof()).unwrap();
    recording.stop(&mut s).unwrap();
    let replay = scratch("screen.txt");
    std::fs::write(&replay, check_cast(&path).output()).unwrap();

    let live = tmux_screen(&format!("python3 '{}'", program.display()));
    let replayed = tmux_screen(&format!("cat '{}'", replay.display()));
    assert!(live.contains("jello"), "{live}");
    assert!(live.contains("\u{20ac} end"), "{live}");
    assert_eq!(replayed, live);
}
