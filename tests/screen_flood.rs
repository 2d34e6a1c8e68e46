//! The screen under a flood of output (feature `screen`): a screen expectation reads in
//! bounded batches and looks at the screen between them. Whatever the batches were, the
//! screen must be exactly the one the same bytes give when fed by hand, in one go or in
//! small pieces: text, every cell's look, cursor, title, bells, modes and scrollback; and
//! a flood that never pauses must not hold the deadline off.
#![cfg(feature = "screen")]

mod common;

use common::spawn;
use ptychat::{Command, Error, PtySession, Screen, ScreenPattern};

/// Full-screen frames (cursor moves, colours, wide and combining characters) on the
/// alternate screen, with the modes a TUI sets, then `FLOOD-DONE` on row 12; `frames`
/// of them, about 4 KiB each.
fn flood_program(frames: usize, then: &str) -> String {
    format!(
        r#"
import sys
w = sys.stdout.buffer.write
w(b"\x1b]2;Flood\x07\x1b[?1049h\x1b[?1h\x1b=\x1b[?2004h\x1b[?1000h\x1b[?1006h")
for n in range({frames}):
    out = []
    for row in range(1, 25):
        out.append(f"\x1b[{{row}};1H")
        for run in range(8):
            out.append(f"\x1b[{{31 + (n + row + run) % 7}};{{40 + (n + run) % 8}}m")
            out.append(chr(ord("a") + (n + row + run) % 26) * 7 + ("\u754c" if run == n % 8 else "e\u0301") )
        out.append("\x1b[m")
    w("".join(out).encode())
w(b"\x07\x1b[12;30H\x1b[1;32mFLOOD-DONE\x1b[m\x1b[3;7H")
sys.stdout.flush()
{then}
"#
    )
}

fn py(code: &str) -> PtySession {
    let mut s = spawn(
        Command::new("python3")
            .args(["-u", "-c", code])
            .env("TERM", "xterm")
            .window_size(24, 80),
    );
    s.enable_screen().unwrap();
    s
}

/// The screen the session's whole output gives when fed inline, in one go and in small
/// pieces.
fn replayed(s: &PtySession) -> (Screen, Screen) {
    let (rows, cols) = s.screen().unwrap().size();
    let mut whole = Screen::with_scrollback(rows, cols, ptychat::DEFAULT_SCROLLBACK).unwrap();
    whole.feed(s.buffer());
    let mut pieces = Screen::with_scrollback(rows, cols, ptychat::DEFAULT_SCROLLBACK).unwrap();
    for piece in s.buffer().chunks(1000) {
        pieces.feed(piece);
    }
    (whole, pieces)
}

/// Asserts two screens show and report exactly the same.
fn assert_same(got: &mut Screen, want: &mut Screen) {
    assert_eq!(got.text(), want.text());
    let (rows, cols) = want.size();
    assert_eq!(got.size(), (rows, cols));
    for row in 0..rows {
        for col in 0..cols {
            assert_eq!(
                got.cell(row, col),
                want.cell(row, col),
                "cell ({row}, {col})"
            );
        }
    }
    assert_eq!(got.cursor(), want.cursor());
    assert_eq!(got.cursor_visible(), want.cursor_visible());
    assert_eq!(got.title(), want.title());
    assert_eq!(got.bells(), want.bells());
    assert_eq!(got.alternate_screen(), want.alternate_screen());
    assert_eq!(got.application_cursor(), want.application_cursor());
    assert_eq!(got.application_keypad(), want.application_keypad());
    assert_eq!(got.bracketed_paste(), want.bracketed_paste());
    assert_eq!(got.mouse_reporting(), want.mouse_reporting());
    assert_eq!(got.mouse_sgr(), want.mouse_sgr());
    assert_eq!(got.scrollback(), want.scrollback());
}

#[test]
fn a_flood_of_frames_leaves_exactly_the_screen_drawn() {
    // About 2 MiB: several batches.
    let mut s = py(&flood_program(500, "sys.stdin.readline()"));
    let found = s
        .expect_screen(ScreenPattern::text("FLOOD-DONE").in_row(11))
        .unwrap();
    assert_eq!(found.position(), Some((11, 29)));
    // Nothing was taken out of the buffer: it holds the whole output.
    let (mut whole, mut pieces) = replayed(&s);
    let got = s.screen_mut().unwrap();
    assert_eq!(got.title(), "Flood");
    assert_eq!(got.bells(), 1);
    assert_eq!(got.cursor(), (2, 6));
    assert!(got.application_cursor() && got.bracketed_paste() && got.mouse_sgr());
    assert_same(got, &mut whole);
    assert_same(got, &mut pieces);
    // The keys follow the modes the flood set.
    s.send_key(ptychat::Key::Up).unwrap();
    s.send("\n").unwrap();
    s.expect(ptychat::Pattern::eof()).unwrap();
}

#[test]
fn a_flood_of_lines_keeps_the_same_scrollback() {
    let mut s = spawn(
        Command::shell("seq 1 150000; echo LINES-DONE; read x")
            .env("TERM", "xterm")
            .window_size(24, 80),
    );
    s.enable_screen().unwrap();
    s.expect_screen(ScreenPattern::text("LINES-DONE").in_row(22))
        .unwrap();
    let (mut whole, _) = replayed(&s);
    let got = s.screen_mut().unwrap();
    let scrollback = got.scrollback();
    assert_eq!(scrollback.len(), ptychat::DEFAULT_SCROLLBACK);
    assert_eq!(scrollback.last().unwrap(), "149978");
    assert_same(got, &mut whole);
}

#[test]
fn a_failure_after_a_flood_shows_the_final_screen() {
    let mut s = py(&flood_program(300, ""));
    let err = s
        .expect_screen(ScreenPattern::text("NEVER-SHOWN"))
        .unwrap_err();
    assert!(matches!(err, Error::ScreenEof { .. }), "{err}");
    assert!(err.to_string().contains("FLOOD-DONE"), "{err}");
    let (mut whole, _) = replayed(&s);
    assert_same(s.screen_mut().unwrap(), &mut whole);
}

#[test]
fn the_deadline_holds_under_an_endless_flood() {
    let mut s = spawn(
        Command::new("yes")
            .arg("flooding")
            .env("TERM", "xterm")
            .window_size(24, 80),
    );
    s.enable_screen().unwrap();
    let err = s
        .expect_screen_timeout(
            ScreenPattern::text("NEVER-SHOWN"),
            Some(std::time::Duration::from_secs(1)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::ScreenTimeout { .. }), "{err}");
    assert!(err.to_string().contains("flooding"), "{err}");
    // The flood goes on: a pattern that holds is still found at once.
    s.expect_screen(ScreenPattern::text("flooding").in_row(0))
        .unwrap();
}
