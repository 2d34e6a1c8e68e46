//! The screen (feature `screen`): full-screen programs driven by what they show — vim,
//! dialog, whiptail, less, a program of our own that draws with cursor moves and colours —
//! named keys in the program's modes, the mouse, resizing, snapshots and pictures.
//! Every wait is on the screen; nothing sleeps.
#![cfg(feature = "screen")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{LONG, require, spawn};
use ptychat::{
    Color, Command, Error, Key, KeyPress, Pattern, PtySession, Rect, Screen, ScreenPattern, Style,
};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ptychat-screen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `command` on a 24x80 xterm with a screen.
fn spawn_screen(command: &mut Command) -> PtySession {
    let mut s = spawn(command.env("TERM", "xterm").window_size(24, 80));
    s.enable_screen().unwrap();
    s
}

/// A shell line on a screen.
fn sh_screen(line: &str) -> PtySession {
    spawn_screen(&mut Command::shell(line))
}

/// A Python program on a screen, its output unbuffered.
fn py_screen(code: &str) -> PtySession {
    spawn_screen(Command::new("python3").args(["-u", "-c", code]))
}

/// Draws a frame the way a TUI does: alternate screen, cursor moves, colours, a title.
const DRAW: &str = r#"
import sys
w = sys.stdout.write
w("\x1b]2;My App\x07\x1b[?1049h\x1b[2J")
w("\x1b[1;1H\x1b[1;37;44m File  Edit  Help \x1b[m")
items = ["Apple", "Banana", "Cherry"]
for i, item in enumerate(items):
    w(f"\x1b[{4 + i};5H")
    w(("\x1b[7m" if i == 1 else "") + f" {item:<8}" + "\x1b[m")
w("\x1b[24;1H\x1b[31mstatus: ready\x1b[m")
w("\x1b[5;6H")
sys.stdout.flush()
sys.stdin.readline()
"#;

/// Waits until DRAW has drawn everything: the status line, then the cursor's last move.
fn drawn(s: &mut PtySession) {
    s.expect_screen(ScreenPattern::predicate("DRAW done", |screen| {
        screen.row_text(23) == "status: ready" && screen.cursor() == (4, 5)
    }))
    .unwrap();
}

#[test]
fn own_program_text_rows_rectangles_styles_cursor_and_title() {
    let mut s = py_screen(DRAW);
    s.expect_screen(ScreenPattern::text("status: ready").in_row(23))
        .unwrap();
    drawn(&mut s);
    let screen = s.screen().unwrap();
    assert!(screen.alternate_screen());
    assert_eq!(screen.title(), "My App");
    assert_eq!(screen.cursor(), (4, 5));

    // Where the text is, what it looks like.
    let m = s.expect_screen("Banana").unwrap();
    assert_eq!(m.position(), Some((4, 5)));
    let m = s
        .expect_screen(ScreenPattern::regex(r"status: (\w+)").unwrap())
        .unwrap();
    assert_eq!(m.group(1), Some("ready"));
    // The highlighted item is Banana, not Apple.
    let highlighted = Style::new().inverse();
    let m = s
        .expect_screen([
            ScreenPattern::text("Apple").styled(highlighted),
            ScreenPattern::text("Banana").styled(highlighted),
        ])
        .unwrap();
    assert_eq!(m.index(), 1);
    let menu_bar = Style::new()
        .bold()
        .fg(Color::Indexed(7))
        .bg(Color::Indexed(4));
    s.expect_screen(ScreenPattern::text("Edit").styled(menu_bar).in_row(0))
        .unwrap();
    s.expect_screen(ScreenPattern::cursor_at(4, 5)).unwrap();
    s.expect_screen(ScreenPattern::text("Cherry").in_rect(Rect::new(3, 4, 3, 10)))
        .unwrap();
    s.expect_screen(ScreenPattern::predicate("the title", |screen| {
        screen.title() == "My App"
    }))
    .unwrap();

    // What is not there, or not so, fails fast with the screen in the message.
    let short = Some(Duration::from_millis(100));
    let err = s
        .expect_screen_timeout(
            ScreenPattern::text("Cherry").in_rect(Rect::new(0, 0, 3, 80)),
            short,
        )
        .unwrap_err();
    assert!(err.is_timeout());
    let text = err.to_string();
    assert!(
        text.contains("waiting for the screen to show text \"Cherry\" in rows 0..3, columns 0..80"),
        "{text}"
    );
    assert!(text.contains("cursor at row 4, column 5"), "{text}");
    assert!(text.contains("title \"My App\""), "{text}");
    assert!(
        text.contains("  >  4|     Banana\n      |     ^\n"),
        "{text}"
    );
    assert!(text.contains("   23|status: ready\n"), "{text}");
    let err = s
        .expect_screen_timeout(ScreenPattern::text("Apple").styled(highlighted), short)
        .unwrap_err();
    assert!(err.to_string().contains("(inverse)"), "{err}");
    s.send_line("").unwrap();
}

#[test]
fn text_snapshot_and_svg() {
    let mut s = py_screen(DRAW);
    drawn(&mut s);
    let screen = s.screen().unwrap();
    let mut expected = String::from(" File  Edit  Help\n\n\n");
    expected.push_str("     Apple\n     Banana\n     Cherry\n");
    expected.push_str(&"\n".repeat(17));
    expected.push_str("status: ready\n");
    assert_eq!(screen.text(), expected);

    let svg = screen.svg();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    for shown in ["File  Edit  Help", "Banana", "status: ready"] {
        assert!(
            svg.contains(&format!(">{shown}</text>")),
            "{shown} in {svg}"
        );
    }
    // The menu bar's blue, the status line's red, the cursor.
    assert!(svg.contains("fill=\"#0000ee\""), "{svg}");
    assert!(svg.contains("fill=\"#cd0000\""), "{svg}");
    assert!(svg.contains("class=\"cursor\" x=\"45\" y=\"72\""), "{svg}");
    s.send_line("").unwrap();
}

#[test]
fn failure_writes_the_screen_when_asked() {
    let dir = scratch("failure");
    let mut s = py_screen(DRAW);
    s.set_screen_failure_dir(Some(dir.clone())).unwrap();
    drawn(&mut s);
    let err = s
        .expect_screen_timeout("Durian", Some(Duration::from_millis(50)))
        .unwrap_err();
    assert!(err.to_string().contains("screen-failure-1.txt"), "{err}");
    let text = std::fs::read_to_string(dir.join("screen-failure-1.txt")).unwrap();
    assert_eq!(text, s.screen().unwrap().text());
    let svg = std::fs::read_to_string(dir.join("screen-failure-1.svg")).unwrap();
    assert!(svg.contains(">Banana</text>"));
    s.send_line("").unwrap();
}

#[test]
fn end_of_output_fails_with_the_screen() {
    let mut s = sh_screen("printf 'bye\\033[1;10H'");
    let err = s.expect_screen("never").unwrap_err();
    assert!(matches!(err, Error::ScreenEof { .. }), "{err}");
    assert!(err.is_eof());
    assert!(
        err.to_string().contains("  >  0|bye\n      |         ^\n"),
        "{err}"
    );
}

#[test]
fn the_screen_sees_bytes_read_by_byte_expects() {
    let mut s = sh_screen("echo one; echo two; read x; echo three");
    // The byte expect reads the output; the screen saw it all the same.
    s.expect("two").unwrap();
    assert_eq!(s.screen().unwrap().row_text(1), "two");
    s.send_line("").unwrap();
    s.expect_screen(ScreenPattern::text("three").in_row(3))
        .unwrap();
    // And a screen expect leaves the bytes for byte expects.
    s.expect("three\r\n").unwrap();
}

#[test]
fn unchanged_for_a_while() {
    // Draws for a while, then stops: "stable" waits for the end of the drawing.
    let mut s = py_screen(
        "import sys, time\n\
         for i in range(20):\n    sys.stdout.write(f'\\x1b[1;1Hframe {i}'); sys.stdout.flush(); time.sleep(0.01)\n\
         sys.stdin.readline()",
    );
    // A blank screen before the program starts is "unchanged" too: wait for it to draw.
    s.expect_screen("frame").unwrap();
    s.expect_screen(ScreenPattern::stable(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(s.screen().unwrap().row_text(0), "frame 19");
    s.send_line("").unwrap();
}

/// Python that prints what it reads, byte by byte, in raw mode, after setting `modes`.
fn key_reader(modes: &str) -> PtySession {
    py_screen(&format!(
        "import sys, tty, os\n\
         tty.setraw(0)\n\
         sys.stdout.write('{modes}READY\\r\\n'); sys.stdout.flush()\n\
         while True:\n    b = os.read(0, 64)\n    if b == b'q': break\n    \
         sys.stdout.write(repr(b) + '\\r\\n'); sys.stdout.flush()\n"
    ))
}

#[test]
fn keys_follow_the_application_cursor_and_keypad_modes() {
    let mut s = key_reader("");
    s.expect_screen("READY").unwrap();
    s.send_key(Key::Up).unwrap();
    s.expect_screen(r"b'\x1b[A'").unwrap();
    s.send_key(Key::Keypad('5')).unwrap();
    s.expect_screen("b'5'").unwrap();
    s.send_key('q').unwrap();

    let mut s = key_reader("\\x1b[?1h\\x1b=");
    s.expect_screen("READY").unwrap();
    assert!(s.screen().unwrap().application_cursor());
    assert!(s.screen().unwrap().application_keypad());
    for (key, shown) in [
        (KeyPress::from(Key::Up), r"b'\x1bOA'"),
        (Key::Home.into(), r"b'\x1bOH'"),
        (Key::Keypad('5').into(), r"b'\x1bOu'"),
        (Key::Right.ctrl(), r"b'\x1b[1;5C'"),
        (Key::F(1).into(), r"b'\x1bOP'"),
        (Key::F(12).into(), r"b'\x1b[24~'"),
        (Key::PageDown.into(), r"b'\x1b[6~'"),
        (Key::Delete.shift(), r"b'\x1b[3;2~'"),
        ("S-Tab".parse().unwrap(), r"b'\x1b[Z'"),
        ("alt+x".parse().unwrap(), r"b'\x1bx'"),
        ("ctrl+a".parse().unwrap(), r"b'\x01'"),
    ] {
        s.send_key(key).unwrap();
        s.expect_screen(shown)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    s.send_key('q').unwrap();
}

#[test]
fn paste_is_bracketed_when_the_program_asks() {
    let mut s = key_reader("\\x1b[?2004h");
    s.expect_screen("READY").unwrap();
    assert!(s.screen().unwrap().bracketed_paste());
    s.send_paste("hi").unwrap();
    s.expect_screen(r"b'\x1b[200~hi\x1b[201~'").unwrap();
    s.send_key('q').unwrap();

    let mut s = key_reader("");
    s.expect_screen("READY").unwrap();
    s.send_paste("hi").unwrap();
    s.expect_screen("b'hi'").unwrap();
    s.send_key('q').unwrap();
}

#[test]
fn mouse_reports_in_sgr_and_x10() {
    let mut s = key_reader("\\x1b[?1000h\\x1b[?1006h");
    s.expect_screen("READY").unwrap();
    s.click(4, 9).unwrap();
    s.expect_screen(r"b'\x1b[<0;10;5M\x1b[<0;10;5m'").unwrap();
    s.send_mouse(ptychat::MouseButton::WheelDown, 0, 0).unwrap();
    s.expect_screen(r"b'\x1b[<65;1;1M'").unwrap();
    s.send_key('q').unwrap();

    let mut s = key_reader("\\x1b[?1000h");
    s.expect_screen("READY").unwrap();
    s.click(0, 0).unwrap();
    s.expect_screen(r"b'\x1b[M !!\x1b[M#!!'").unwrap();
    s.send_key('q').unwrap();

    // Without mouse reporting, a click is refused rather than typed.
    let mut s = key_reader("");
    s.expect_screen("READY").unwrap();
    let err = s.click(0, 0).unwrap_err();
    assert!(err.to_string().contains("mouse reporting"), "{err}");
    s.send_key('q').unwrap();
}

#[test]
fn resize_mid_session() {
    let mut s = py_screen(
        "import signal, shutil, sys\n\
         def show(*_):\n    c, r = shutil.get_terminal_size()\n    \
         sys.stdout.write(f'\\x1b[2J\\x1b[{r};1Hsize {r}x{c}'); sys.stdout.flush()\n\
         signal.signal(signal.SIGWINCH, show)\n\
         show()\n\
         sys.stdin.readline()",
    );
    s.expect_screen(ScreenPattern::text("size 24x80").in_row(23))
        .unwrap();
    s.set_window_size(10, 40).unwrap();
    assert_eq!(s.screen().unwrap().size(), (10, 40));
    s.expect_screen(ScreenPattern::text("size 10x40").in_row(9))
        .unwrap();
    s.send_line("").unwrap();
}

#[test]
fn vim_edits_and_saves_a_file() {
    require("vim.tiny");
    let dir = scratch("vim");
    let file = dir.join("notes.txt");
    std::fs::write(&file, "first line\n").unwrap();
    let mut vim = spawn_screen(
        Command::new("vim.tiny")
            .args(["-u", "NONE", "-N"])
            .arg(&file),
    );
    vim.expect_screen(ScreenPattern::text("first line").in_row(0))
        .unwrap();
    vim.expect_screen(ScreenPattern::regex(r"notes\.txt").unwrap().in_row(23))
        .unwrap();
    // Open a line below, type, leave insert mode with Esc, go up with an arrow key (in
    // the cursor mode vim asked for) and add a word at the end.
    vim.send("o").unwrap();
    vim.expect_screen(ScreenPattern::text("-- INSERT --").in_row(23))
        .unwrap();
    vim.send("second line").unwrap();
    vim.send_key(Key::Esc).unwrap();
    vim.expect_screen(ScreenPattern::text("-- INSERT --").in_row(23).absent())
        .unwrap();
    vim.send_key(Key::Up).unwrap();
    vim.expect_screen(ScreenPattern::cursor_at(0, 9)).unwrap();
    vim.send("A!").unwrap();
    vim.send_key(Key::Esc).unwrap();
    vim.expect_screen(ScreenPattern::text("first line!\nsecond line"))
        .unwrap();
    vim.send_line(":wq").unwrap();
    vim.expect(Pattern::eof()).unwrap();
    assert!(vim.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "first line!\nsecond line\n"
    );
}

#[test]
fn less_pages_down() {
    require("less");
    let dir = scratch("less");
    let file = dir.join("numbers.txt");
    let text: String = (1..=200).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let mut less = spawn_screen(Command::new("less").arg(&file));
    less.expect_screen(ScreenPattern::text("line 1").in_row(0))
        .unwrap();
    less.send_key(Key::PageDown).unwrap();
    less.expect_screen(ScreenPattern::text("line 24").in_row(0))
        .unwrap();
    less.send_key(Key::End).unwrap();
    less.expect_screen(ScreenPattern::text("line 200").in_row(22))
        .unwrap();
    less.send("q").unwrap();
    less.expect(Pattern::eof()).unwrap();
}

/// Runs a dialog-like program with its answer to a file; returns the session and the file.
fn answering(program: &str, args: &str, name: &str) -> (PtySession, PathBuf) {
    let answer = scratch(name).join("answer");
    let line = format!(
        "{program} {args} 2>'{}'; echo \"exit=$?\"",
        answer.display()
    );
    (sh_screen(&line), answer)
}

/// Waits for the shell's `exit=N` line after the program and returns N and the answer.
fn answer_of(s: &mut PtySession, answer: &PathBuf) -> (String, String) {
    let m = s.expect(Pattern::regex(r"exit=(\d+)").unwrap()).unwrap();
    let code = m.group_str(1).unwrap().into_owned();
    (code, std::fs::read_to_string(answer).unwrap())
}

/// How a cell looks.
fn look(screen: &Screen, at: (u16, u16)) -> (Color, Color, bool, bool) {
    let c = screen.cell(at.0, at.1).unwrap();
    (c.fg, c.bg, c.bold, c.inverse)
}

/// In a menu whose first item is selected (it looks different from the second), presses
/// Down `downs` times and waits until item `downs` has the selected look and the first
/// the plain one.
fn select_in_menu(s: &mut PtySession, items: [&str; 3], downs: usize) {
    let screen = s.screen().unwrap();
    let at = items.map(|t| screen.find(t).unwrap());
    s.expect_screen(ScreenPattern::predicate(
        "the first item selected",
        move |screen| look(screen, at[0]) != look(screen, at[1]),
    ))
    .unwrap();
    let screen = s.screen().unwrap();
    let (selected, plain) = (look(screen, at[0]), look(screen, at[1]));
    s.send_keys(vec![Key::Down; downs]).unwrap();
    let target = at[downs];
    s.expect_screen(ScreenPattern::predicate(
        format!("{} selected", items[downs]),
        move |screen| look(screen, target) == selected && look(screen, at[0]) == plain,
    ))
    .unwrap();
}

#[test]
fn dialog_menu_chosen_with_keys() {
    require("dialog");
    let (mut s, answer) = answering(
        "dialog",
        "--menu 'Pick a fruit' 12 40 3 apple Apple banana Banana cherry Cherry",
        "dialog-menu",
    );
    s.expect_screen(ScreenPattern::text("Pick a fruit"))
        .unwrap();
    s.expect_screen("cherry").unwrap();
    // The first item is selected; Down twice selects the third.
    select_in_menu(&mut s, ["apple", "banana", "cherry"], 2);
    s.send_key(Key::Enter).unwrap();
    assert_eq!(answer_of(&mut s, &answer), ("0".into(), "cherry".into()));
}

#[test]
fn dialog_checklist_toggled_with_space() {
    require("dialog");
    let (mut s, answer) = answering(
        "dialog",
        "--checklist 'Toppings' 12 40 3 cheese Cheese off ham Ham on olives Olives off",
        "dialog-checklist",
    );
    s.expect_screen(ScreenPattern::text("[*] ham")).unwrap();
    // Tick cheese (selected first), untick ham, tick olives.
    s.send_key(' ').unwrap();
    s.expect_screen(ScreenPattern::text("[*] cheese")).unwrap();
    s.send_keys([KeyPress::from(Key::Down), ' '.into()])
        .unwrap();
    s.expect_screen(ScreenPattern::text("[ ] ham")).unwrap();
    s.send_keys([KeyPress::from(Key::Down), ' '.into()])
        .unwrap();
    s.expect_screen(ScreenPattern::text("[*] olives")).unwrap();
    s.send_key(Key::Enter).unwrap();
    assert_eq!(
        answer_of(&mut s, &answer),
        ("0".into(), "cheese olives".into())
    );
}

#[test]
fn dialog_yesno_answered_with_a_mouse_click() {
    require("dialog");
    let (mut s, answer) = answering(
        "dialog",
        "--yesno 'Delete everything?' 8 40",
        "dialog-yesno",
    );
    s.expect_screen(ScreenPattern::text("Delete everything?"))
        .unwrap();
    s.expect_screen(ScreenPattern::predicate(
        "mouse reporting on",
        Screen::mouse_reporting,
    ))
    .unwrap();
    s.click_text("No").unwrap();
    // dialog's "No" is exit status 1.
    assert_eq!(answer_of(&mut s, &answer), ("1".into(), String::new()));
}

#[test]
fn dialog_yesno_answered_with_keys() {
    require("dialog");
    let (mut s, answer) = answering("dialog", "--yesno 'Proceed?' 8 40", "dialog-yesno-keys");
    s.expect_screen(ScreenPattern::text("Proceed?")).unwrap();
    s.send_key(Key::Enter).unwrap();
    assert_eq!(answer_of(&mut s, &answer), ("0".into(), String::new()));
}

#[test]
fn whiptail_menu_chosen_with_keys() {
    require("whiptail");
    let (mut s, answer) = answering(
        "whiptail",
        "--menu 'Pick a colour' 14 40 3 red Red green Green blue Blue",
        "whiptail-menu",
    );
    s.expect_screen(ScreenPattern::text("Pick a colour"))
        .unwrap();
    s.expect_screen(ScreenPattern::text("blue")).unwrap();
    select_in_menu(&mut s, ["red", "green", "blue"], 1);
    s.send_key(Key::Enter).unwrap();
    assert_eq!(answer_of(&mut s, &answer), ("0".into(), "green".into()));
}

#[test]
fn a_screen_of_its_own_size_on_any_session() {
    let mut s = Command::shell("printf 'abc\\033[2;2Hd'; sleep 30")
        .timeout(Some(LONG))
        .spawn_piped(ptychat::StderrMode::Null)
        .unwrap();
    s.enable_screen_sized(3, 5, 0).unwrap();
    s.expect_screen(ScreenPattern::cursor_at(1, 2)).unwrap();
    assert_eq!(s.screen().unwrap().text(), "abc\n d\n\n");
    let screen = s.disable_screen().unwrap();
    assert_eq!(screen.size(), (3, 5));
    assert!(s.screen().is_none());
    let err = s.expect_screen("abc").unwrap_err();
    assert!(err.to_string().contains("no screen"), "{err}");
}

#[test]
fn scrollback_keeps_what_scrolled_off() {
    let mut s = sh_screen("for i in $(seq 1 40); do echo \"row $i\"; done; read x");
    s.expect_screen(ScreenPattern::text("row 40")).unwrap();
    let screen = s.screen_mut().unwrap();
    let scrolled = screen.scrollback();
    assert_eq!(scrolled.first().map(String::as_str), Some("row 1"));
    assert_eq!(scrolled.len(), 17, "{scrolled:?}");
    assert_eq!(screen.row_text(0), "row 18");
    s.send_line("").unwrap();
}
