//! Tests of the logging side of `ptychat run`: `--log`, `--log-output`, `--record`,
//! `-v`, and the script commands `log_user`, `log_file`, `record` and `send_secret`.
//! Recordings are checked with python3's `json` module. Nothing sleeps to synchronise.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use common::cast::check_cast;
use common::{assert_success, require, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

/// A new path in the test's scratch directory.
fn scratch(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-logging-{}-{n}-{name}", std::process::id()))
}

/// Writes `source` to a new script file and returns its path.
fn script(source: &str) -> String {
    let path = scratch("script.ptychat");
    std::fs::write(&path, source).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `ptychat ARGS` in the crate's directory with `env` added to its environment.
fn ptychat(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("the ptychat binary runs")
}

fn read(path: &Path) -> String {
    String::from_utf8(std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn record_writes_a_valid_cast_of_the_bc_script() {
    require("bc");
    let cast_path = scratch("bc.cast");
    let output = ptychat(
        &[
            "run",
            "--record",
            cast_path.to_str().unwrap(),
            "scripts/bc.ptychat",
        ],
        &[],
    );
    assert_success(&output);
    assert!(stdout(&output).contains("bc answered: 42000"));
    let cast = check_cast(&cast_path);
    assert_eq!(cast.size, "80x24");
    assert!(cast.events.iter().all(|(kind, _)| *kind == 'o'));
    let shown = cast.data('o');
    for answer in ["42\r\n", "42000\r\n", "3.14159265358979323844\r\n"] {
        assert!(shown.contains(answer), "{shown:?}");
    }
}

/// A program that asks for a name on a terminal without echo and greets it.
const GREETER: &str = "set echo off\n\
                       spawn sh -c 'printf \"name? \"; read x; echo \"hi $x\"'\n\
                       expect \"name? \"\n\
                       sendline bob\n\
                       expect eof\n";

#[test]
fn log_options_keep_both_directions_or_only_the_output() {
    let (both, only_output) = (scratch("both.log"), scratch("output.log"));
    let both_arg = format!("--log={}", both.display());
    let output = ptychat(
        &[
            "run",
            &both_arg,
            "--log-output",
            only_output.to_str().unwrap(),
            &script(GREETER),
        ],
        &[],
    );
    assert_success(&output);
    assert_eq!(read(&both), "name? bob\rhi bob\r\n");
    assert_eq!(read(&only_output), "name? hi bob\r\n");
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");
}

#[test]
fn send_secret_stays_out_of_traces_logs_and_recordings() {
    let (log, cast, cast_input) = (
        scratch("secret.log"),
        scratch("secret.cast"),
        scratch("secret-input.cast"),
    );
    let source = format!(
        "set echo off\n\
         record -i {}\n\
         spawn sh -c 'printf \"Password: \"; read pw; echo \"got ${{#pw}} chars\"'\n\
         expect \"Password: \"\n\
         send_secret \"hunter2-xyzzy\\r\"\n\
         expect /got (\\d+) chars/\n\
         print \"length $1\"\n\
         expect eof\n",
        cast_input.display()
    );
    let output = ptychat(
        &[
            "run",
            "-v",
            "-x",
            "--log",
            log.to_str().unwrap(),
            "--record",
            cast.to_str().unwrap(),
            &script(&source),
        ],
        &[("PTYCHAT_TRACE", "1")],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "length 13\n");
    let stderr = stderr(&output);
    assert!(
        stderr.contains(": send_secret (secret not shown)\n"),
        "{stderr}"
    );
    assert!(stderr.contains("sent a secret of 14 bytes"), "{stderr}");
    let log = read(&log);
    assert_eq!(log, "Password: [secret: 14 bytes]got 13 chars\r\n");
    let casts = [check_cast(&cast), check_cast(&cast_input)];
    assert_eq!(casts[0].data('o'), "Password: got 13 chars\r\n");
    assert_eq!(casts[1].data('o'), casts[0].data('o'));
    assert_eq!(casts[1].data('i'), "", "a secret is not input to record");
    for (what, text) in [
        ("stderr", stderr.clone()),
        ("the log", log),
        ("the recording", read(&cast)),
        ("the recording with input", read(&cast_input)),
    ] {
        assert!(!text.contains("xyzzy"), "{what} shows the secret: {text}");
    }
}

#[test]
fn log_user_copies_the_output_to_stdout_while_on() {
    let source = "set echo off\n\
                  spawn sh -c 'echo one; read x; echo two; read y; echo three'\n\
                  log_user on\n\
                  expect \"one\\r\\n\"\n\
                  log_user off\n\
                  sendline\n\
                  expect \"two\\r\\n\"\n\
                  log_user on\n\
                  sendline\n\
                  expect eof\n\
                  print done\n";
    let output = ptychat(&["run", &script(source)], &[]);
    assert_success(&output);
    assert_eq!(stdout(&output), "one\r\nthree\r\ndone\n");
}

#[test]
fn log_file_and_record_commands_start_stop_and_resize() {
    let (log, cast) = (scratch("commands.log"), scratch("commands.cast"));
    let source = "set echo off\n\
                  record $arg2\n\
                  set rows 40\n\
                  log_file -o $arg1\n\
                  spawn sh -c 'echo first; read x; echo second; read y; echo third'\n\
                  expect \"first\\r\\n\"\n\
                  set cols 100\n\
                  log_file\n\
                  sendline\n\
                  expect \"second\\r\\n\"\n\
                  record\n\
                  log_file -a $arg1\n\
                  sendline again\n\
                  expect eof\n";
    let output = ptychat(
        &[
            "run",
            &script(source),
            log.to_str().unwrap(),
            cast.to_str().unwrap(),
        ],
        &[],
    );
    assert_success(&output);
    assert_eq!(read(&log), "first\r\nagain\rthird\r\n");
    let cast = check_cast(&cast);
    assert_eq!(
        cast.size, "80x40",
        "a resize before any event sets the header"
    );
    assert_eq!(
        cast.merged(),
        [
            ('o', "first\r\n".to_owned()),
            ('r', "100x40".to_owned()),
            ('o', "second\r\n".to_owned())
        ]
    );
}

#[test]
fn verbose_shows_output_as_it_is_read_even_when_nothing_matches() {
    let source = "spawn sh -c 'echo first; exec sleep 30'\nexpect -t 0.3 second\n";
    let path = script(source);
    let output = ptychat(&["run", "-v", &path], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with(&format!("first\r\nptychat: {path}:2: timed out")),
        "{stderr}"
    );
}

#[test]
fn logs_that_cannot_be_opened_or_written_are_reported() {
    let missing = scratch("no-such-dir").join("x.log");
    let missing = missing.to_str().unwrap();
    let output = ptychat(&["run", "--log", missing, &script("print hi\n")], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).starts_with(&format!("ptychat: opening a log: {missing}: ")),
        "{}",
        stderr(&output)
    );

    let path = script(&format!("print hi\nrecord {missing}\n"));
    let output = ptychat(&["run", &path], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!(
            "ptychat: {path}:2: record: cannot open {missing}: "
        )),
        "{}",
        stderr(&output)
    );

    // A full disk: the script goes on, and ptychat warns at the end.
    if Path::new("/dev/full").exists() {
        let output = ptychat(&["run", "--log", "/dev/full", &script(GREETER)], &[]);
        assert_success(&output);
        assert_eq!(
            stderr(&output),
            "ptychat: warning: writing /dev/full failed: No space left on device (os error 28)\n"
        );
    }
}

#[test]
fn misuse_is_reported_before_anything_runs() {
    let output = ptychat(&["run", "--record"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("run: --record needs a FILE"));
    for (source, message) in [
        ("log_file -z x", "log_file: unknown option `-z`"),
        ("log_file a b", "usage: log_file"),
        ("log_file -a", "log_file: the options need a PATH"),
        ("record -i", "record: the options need a PATH"),
        ("send_secret", "usage: send_secret"),
        ("log_user maybe", "`on` or `off`"),
    ] {
        let output = ptychat(&["check", &script(source)], &[]);
        assert_eq!(output.status.code(), Some(1), "{source}");
        assert!(
            stderr(&output).contains(message),
            "{source}: {}",
            stderr(&output)
        );
    }
}
