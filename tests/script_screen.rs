//! The screen commands of scripts (`expect_screen`, `key`, `click`, `snapshot`) and
//! `ptychat run --screen`, on dialog and a drawing program of our own, run through the
//! `ptychat` binary. Every wait is on the screen, never a sleep.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{assert_success, require, run_with_input, stderr, stdout, temp_path};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

fn temp(name: &str) -> PathBuf {
    temp_path("script-screen", name)
}

/// Runs `ptychat run [OPTIONS] SCRIPT ARGS` on a script given as text.
fn run(options: &[&str], source: &str, args: &[&Path]) -> Output {
    let path = temp("script.ptychat");
    std::fs::write(&path, source).unwrap();
    let mut all = vec![std::ffi::OsString::from("run")];
    all.extend(options.iter().map(Into::into));
    all.push(path.into());
    all.extend(args.iter().map(|a| a.as_os_str().to_owned()));
    run_with_input(BIN, &all, b"")
}

/// Draws with cursor moves and colours, like a full-screen program, then waits for a line.
const DRAWING: &str = "import sys\n\
    w = sys.stdout.write\n\
    w('\\x1b[2J\\x1b[1;1HMenu')\n\
    w('\\x1b[5;10H\\x1b[7mSelected\\x1b[0m  Other')\n\
    w('\\x1b[6;10HTotal: 42')\n\
    sys.stdout.flush()\n\
    input()\n";

fn drawing_script(tail: &str) -> String {
    let python = DRAWING
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("set env TERM xterm\nspawn python3 -c \"{python}\"\n{tail}")
}

#[test]
fn screen_expectations_captures_and_snapshots() {
    let text = temp("screen.txt");
    let svg = temp("screen.svg");
    let output = run(
        &[],
        &drawing_script(concat!(
            "expect_screen -row 4 -inverse Selected\n",
            "expect_screen /Total: (\\d+)/\n",
            "print \"total $1 from $program\"\n",
            // After `Total: 42` at row 5, column 9 the cursor is at column 18.
            "expect_screen -cursor 5 18\n",
            "expect_screen -absent Loading\n",
            "snapshot $arg1\n",
            "snapshot -svg $arg2\n",
            "snapshot\n",
            "sendline\n",
            "expect eof\n",
            "assert_exit 0\n",
        )),
        &[&text, &svg],
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.starts_with("total 42 from main\n"), "{out}");
    let snapshot = std::fs::read_to_string(&text).unwrap();
    let rows: Vec<&str> = snapshot.lines().collect();
    assert_eq!(rows[0], "Menu");
    assert_eq!(rows[4], "         Selected  Other");
    assert_eq!(rows[5], "         Total: 42");
    // `snapshot` without a path prints the same text.
    assert!(out.ends_with(&snapshot), "{out:?}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{picture}");
    assert!(picture.contains("Selected"), "{picture}");
}

#[test]
fn a_style_that_never_appears_fails_with_the_screen_and_the_line() {
    let output = run(
        &[],
        &drawing_script(concat!(
            "expect_screen Selected\n",
            // `Other` is on the screen but not in reverse video.
            "expect_screen -timeout 0.3 -inverse Other\n",
        )),
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains(":4:"), "the failing line: {err}");
    assert!(err.contains("Other"), "the pattern: {err}");
    assert!(
        err.contains("|         Selected  Other"),
        "the rendered screen: {err}"
    );
}

#[test]
fn a_dialog_checklist_driven_with_keys() {
    require("dialog");
    let answer = temp("answer");
    let output = run(
        &[],
        concat!(
            "set env TERM xterm\n",
            "spawn_shell \"dialog --checklist Toppings 12 40 3 cheese Cheese off ham Ham on \
             olives Olives off 2>$arg1\"\n",
            "expect_screen \"[*] ham\"\n",
            "key Space\n",
            "expect_screen \"[*] cheese\"\n",
            "key Down space\n",
            "expect_screen -absent \"[*] ham\"\n",
            "key Enter\n",
            "expect eof\n",
            "assert_exit 0\n",
        ),
        &[&answer],
    );
    assert_success(&output);
    assert_eq!(std::fs::read_to_string(&answer).unwrap(), "cheese");
}

#[test]
fn a_dialog_button_clicked_by_its_text() {
    require("dialog");
    let output = run(
        &[],
        concat!(
            "set env TERM xterm\n",
            "spawn dialog --yesno Proceed? 8 40\n",
            "expect_screen /<\\s*No\\s*>/\n",
            "click No\n",
            "expect eof\n",
            // dialog's "No" is exit status 1.
            "assert_exit 1\n",
        ),
        &[],
    );
    assert_success(&output);
}

#[test]
fn run_with_screen_prints_the_final_screen() {
    let output = run(
        &["--screen"],
        "spawn printf \"first\\r\\nsecond\"\nexpect eof\n",
        &[],
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(
        out.starts_with("screen 24x80, cursor at row 1, column 6"),
        "{out}"
    );
    assert!(out.contains("|first\n"), "{out}");
    assert!(out.contains("|second\n"), "{out}");
}

#[test]
fn mistakes_in_screen_commands_are_reported_with_their_line() {
    for (source, message) in [
        (
            "spawn cat\nexpect_screen -row x Menu\n",
            ":2: expect_screen -row: expected a row or column from 0 to 65535, found `x`",
        ),
        ("spawn cat\nkey Dwn\n", ":2: key: unknown key \"Dwn\""),
        ("spawn cat\nexpect_screen /(/\n", ":2: invalid regex /(/"),
        (
            "spawn cat\nsnapshot -svg\n",
            ":2: snapshot: -svg needs a PATH",
        ),
        (
            "spawn cat\nexpect_screen -row 1 -rect 0 0 2 2 a\n",
            ":2: expect_screen: -row and -rect cannot be used together",
        ),
        (
            "spawn cat\nexpect_screen -timeout 1\n",
            ":2: usage: expect_screen",
        ),
        ("spawn cat\nclick 1 2 3\n", ":2: usage: click"),
    ] {
        let output = run(&[], source, &[]);
        assert_eq!(output.status.code(), Some(1), "{source}");
        assert!(
            stderr(&output).contains(message),
            "{source}: {}",
            stderr(&output)
        );
    }
}
