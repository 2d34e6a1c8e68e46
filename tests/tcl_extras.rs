//! ptychat's extras to `ptychat expect`: `--log` and `--record` (as `ptychat run` has
//! them, fed by every program the script spawns) and the `send_secret` command, through
//! the `ptychat` binary against real programs. Every wait is an `expect` on what the
//! program prints.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::cast::check_cast;
use common::{assert_success, require, run_with_input, stderr, stdout, temp_path};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

fn temp(name: &str) -> PathBuf {
    temp_path("tcl-extras", name)
}

/// `ptychat expect [OPTIONS] SCRIPT` on a script given as text.
fn expect(options: &[&str], script: &str) -> Output {
    let path = temp("script.exp");
    std::fs::write(&path, script).unwrap();
    let mut all: Vec<&str> = vec!["expect"];
    all.extend_from_slice(options);
    all.push(path.to_str().unwrap());
    run_with_input(BIN, &all, b"")
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

/// Checks that `path` is an asciicast v2 file with events (`common::cast::check_cast`)
/// and returns the data of its output events, joined.
fn cast_output(path: &Path) -> String {
    require("python3");
    let cast = check_cast(path);
    assert!(!cast.events.is_empty(), "no events in {}", read(path));
    cast.data('o')
}

#[test]
fn log_and_record_are_fed_by_every_spawned_program() {
    let (log, cast) = (temp("all.log"), temp("all.cast"));
    let output = expect(
        &[
            "--log",
            log.to_str().unwrap(),
            "--record",
            cast.to_str().unwrap(),
        ],
        r#"
            log_user 0
            spawn sh -c {echo first-program}
            expect first-program
            expect eof
            wait
            spawn cat
            send "second-line\r"
            expect "second-line\r\nsecond-line\r\n"
            close
            wait
            puts done
        "#,
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "done\n");
    let logged = read(&log);
    assert!(logged.contains("first-program\r\n"), "{logged:?}");
    assert!(
        logged.contains("second-line\r\nsecond-line\r\n"),
        "{logged:?}"
    );
    let shown = cast_output(&cast);
    assert!(shown.contains("first-program\r\n"), "{shown:?}");
    assert!(
        shown.contains("second-line\r\nsecond-line\r\n"),
        "{shown:?}"
    );
}

#[test]
fn a_log_that_cannot_be_opened_fails_before_the_script_runs() {
    let log = temp("no-such-dir").join("x.log");
    let output = expect(&["--log", log.to_str().unwrap()], "puts ran\n");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("x.log"), "{}", stderr(&output));
}

#[test]
fn a_log_that_cannot_be_written_is_a_warning() {
    let output = expect(
        &["--log", "/dev/full", "--record", "/dev/full"],
        "log_user 0\nspawn echo hello\nexpect hello\nexpect eof\nputs ok\n",
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "ok\n");
    let warning = "ptychat: warning: writing /dev/full failed: No space left on device";
    assert_eq!(
        stderr(&output).matches(warning).count(),
        2,
        "{}",
        stderr(&output)
    );
}

#[test]
fn send_secret_reaches_the_program_and_is_masked_everywhere() {
    let dir = temp("secret");
    std::fs::create_dir_all(&dir).unwrap();
    let [log, cast, log_file, trace] =
        ["all.log", "all.cast", "log_file.txt", "trace.txt"].map(|name| dir.join(name));
    // The program turns echo off, says so, and prints what it read reversed.
    let script = format!(
        r#"
            log_user 0
            log_file -a -noappend {{{}}}
            exp_internal -f {{{}}} 0
            spawn sh -c {{stty -echo; echo READY; read s; echo "$s" | rev}}
            expect READY
            send_secret -- "hunter2\r"
            expect -re {{(\S+)\r\n}}
            puts "got $expect_out(1,string)"
            expect eof
        "#,
        log_file.display(),
        trace.display()
    );
    let output = expect(
        &[
            "--log",
            log.to_str().unwrap(),
            "--record",
            cast.to_str().unwrap(),
        ],
        &script,
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "got 2retnuh\n");
    for path in [&log, &log_file, &trace] {
        let text = read(path);
        assert!(text.contains("2retnuh"), "{}: {text:?}", path.display());
        assert!(!text.contains("hunter2"), "{}: {text:?}", path.display());
    }
    assert!(read(&log).contains("[secret: 8 bytes]"), "{}", read(&log));
    assert!(
        read(&trace).contains("sent a secret of 8 bytes"),
        "{}",
        read(&trace)
    );
    let shown = cast_output(&cast);
    assert!(shown.contains("2retnuh"), "{shown:?}");
    assert!(!read(&cast).contains("hunter2"), "{}", read(&cast));
}

#[test]
fn send_secret_needs_one_string() {
    let output = expect(&[], "spawn cat\nsend_secret\n");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("usage: send_secret [-i spawn_id] [--] string"),
        "{}",
        stderr(&output)
    );
}
