//! Recording a session for asciinema: `cargo run --example record`.
//!
//! Types a few lines into python3 at a human pace while an asciicast v2 recording of the
//! terminal (output, and what was typed as input events) goes to a file in the temporary
//! directory; `asciinema play FILE` replays it with the original timing.

use std::fs::File;
use std::time::Duration;

use ptychat::{AsciicastRecorder, Command, Pattern, PtySession, Recording};

/// A pause between keys, so the replay looks typed. Pacing for human eyes only: the
/// conversation itself waits for prompts, never for time.
const KEY_DELAY: Duration = Duration::from_millis(60);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("ptychat-record.cast");
    let mut python = Command::new("python3")
        .arg("-q")
        .env("TERM", "dumb") // no escape sequences from readline
        .env("PYTHON_BASIC_REPL", "1") // the classic prompt on Python 3.13+
        .timeout(Some(Duration::from_secs(10)))
        .spawn()?;
    let (rows, cols) = python.window_size()?;
    let recorder = AsciicastRecorder::new(File::create(&path)?, cols, rows)
        .with_title("ptychat: a short python3 session")
        .with_env("TERM", "dumb")
        .record_input(true);
    let recording = Recording::start(&mut python, recorder);

    python.expect(">>> ")?;
    for line in ["6 * 7", "sum(range(101))", "'ptychat'.upper()"] {
        type_slowly(&mut python, line)?;
        let answer = python.expect(Pattern::regex(r"\r\n(.*)\r\n>>> ")?)?;
        let answer = String::from_utf8_lossy(answer.group(1).unwrap_or_default());
        println!("  typed: {line:<20} python answered: {answer}");
    }
    python.send_eof()?; // Ctrl-D at the prompt: python exits
    python.expect(Pattern::eof())?;
    let status = python.wait()?;
    let seconds = recording.recorder().lock().elapsed().as_secs_f64();
    recording.stop(&mut python)?;

    println!(
        "python3 exited ({status}); recorded {seconds:.1} s to {}",
        path.display()
    );
    println!("Replay it with:  asciinema play {}", path.display());
    Ok(())
}

/// Types `line` one key at a time, then presses Enter. After each key the echo is read
/// (into the session's buffer, for the next `expect`), so the recording shows it when it
/// appeared: a recording sees output when the session reads it.
fn type_slowly(session: &mut PtySession, line: &str) -> ptychat::Result<()> {
    for c in line.chars() {
        session.send(c.encode_utf8(&mut [0; 4]).as_bytes())?;
        std::thread::sleep(KEY_DELAY);
        session.read_available()?;
    }
    session.send_line("")
}
