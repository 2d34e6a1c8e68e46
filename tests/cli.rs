//! Tests of the `ptychat` binary: error reports, `unbuffer` and `chat` (the example
//! scripts, usage errors and unbuffer's exit codes are file tests in
//! tests/interactive/cli/). Every wait in these tests is a deadline far above what it
//! needs; nothing sleeps to synchronise.
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use common::{assert_success, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

/// Runs `ptychat ARGS` in the crate's directory, feeding `stdin`.
fn ptychat(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ptychat binary runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Writes `source` to a new script file and returns its path.
fn script(source: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{}-{n}.ptychat", std::process::id()));
    std::fs::write(&path, source).unwrap();
    path
}

/// Runs a script given as text; returns the output and the script's path (as shown in
/// messages).
fn run_script(source: &str) -> (Output, String) {
    let path = script(source);
    let path = path.to_str().unwrap().to_owned();
    (ptychat(&["run", &path], ""), path)
}

#[test]
fn the_example_scripts_parse() {
    let output = ptychat(
        &[
            "check",
            "scripts/bc.ptychat",
            "scripts/python.ptychat",
            "scripts/sqlite3.ptychat",
        ],
        "",
    );
    assert_success(&output);
}

#[test]
fn a_bad_line_is_reported_with_file_and_line_before_anything_runs() {
    let (output, path) = run_script("print started\n\n# a comment\nspawn cat\nexpct \"x\"\n");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "", "nothing runs when a line is wrong");
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!("ptychat: {path}:5: unknown command `expct`")),
        "{err}"
    );
    let (output, path) = run_script("spawn cat\nsend \"tab\\q\"\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!("ptychat: {path}:2: unknown escape \\q")),
        "{}",
        stderr(&output)
    );
    let output = ptychat(&["check", &path], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&format!("{path}:2: unknown escape")));
}

#[test]
fn a_timeout_reports_line_patterns_deadline_and_output() {
    // The first expect (with the default, generous deadline) makes sure the rest of the
    // line, written at the same time, is buffered when the short deadline passes.
    let (output, path) = run_script(concat!(
        "spawn sh -c 'echo almost there; exec sleep 30'\n",
        "expect almost\n",
        "expect -t 0.5 \"ready>\" /done \\d+/\n",
    ));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!("ptychat: {path}:3: timed out after")),
        "{err}"
    );
    for part in [
        r#"one of ["ready>", /done \d+/]"#,
        "deadline 500ms",
        r#"ending with: " there\r\n""#,
    ] {
        assert!(err.contains(part), "missing {part:?} in {err}");
    }
}

#[test]
fn end_of_output_is_reported() {
    let (output, path) = run_script("spawn printf 'bye\\n'\nexpect \"hello\"\n");
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!("ptychat: {path}:2: end of output")),
        "{err}"
    );
    assert!(err.contains(r#"waiting for "hello""#), "{err}");
    assert!(err.contains(r#"ending with: "bye\r\n""#), "{err}");
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let (output, path) = run_script("print starting\nspawn /no/such/program --flag\n");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "starting\n");
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:2: cannot spawn `/no/such/program`: `/no/such/program` does not \
             exist (No such file or directory (os error 2))\n"
        )
    );
    let output = ptychat(&["run", "/no/such/script.ptychat"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/no/such/script.ptychat: No such file"));
}

#[test]
fn scripts_read_from_stdin_take_arguments_and_exit_codes() {
    let output = ptychat(
        &["run", "-", "one", "two words"],
        "print \"$argc: $arg1, $arg2\"\nspawn sh -c 'exit 4'\nwait\nexit $status\n",
    );
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert_eq!(stdout(&output), "2: one, two words\n");
}

#[test]
fn trace_and_verbose_write_to_stderr() {
    let path = script("spawn printf 'out\\n'\nexpect out\nexpect eof\n");
    let output = ptychat(&["run", "-v", "--trace", path.to_str().unwrap()], "");
    assert_success(&output);
    let p = path.to_str().unwrap();
    // The output is copied as it is read: usually in one read, but the terminal may hand
    // over the line end separately, after the first expect has matched.
    let (line1, line2, line3) = (
        format!("+ {p}:1: spawn printf 'out\\n'\n"),
        format!("+ {p}:2: expect out\n"),
        format!("+ {p}:3: expect eof\n"),
    );
    let stderr = stderr(&output);
    assert!(
        stderr == format!("{line1}{line2}out\r\n{line3}")
            || stderr == format!("{line1}{line2}out{line3}\r\n"),
        "{stderr:?}"
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn unbuffer_passes_output_through_on_a_terminal() {
    let output = ptychat(
        &[
            "unbuffer",
            "sh",
            "-c",
            "printf 'a\\nb\\n'; test -t 1 && echo on a tty; printf '\\342\\202\\254 \\377'",
        ],
        "",
    );
    assert_success(&output);
    assert_eq!(output.stdout, b"a\nb\non a tty\n\xe2\x82\xac \xff");
}

#[test]
fn unbuffer_streams_lots_of_output() {
    let output = ptychat(&["unbuffer", "seq", "1", "100000"], "");
    assert_success(&output);
    let expected: String = (1..=100_000).map(|n| format!("{n}\n")).collect();
    assert!(stdout(&output) == expected, "the output differs from seq's");
}

#[test]
fn chat_holds_a_dialogue_and_returns_the_exit_code() {
    let output = ptychat(
        &[
            "chat",
            "-t",
            "20",
            "--",
            "",
            "world",
            "name? ",
            "6\\c",
            "code? ",
            "",
            "--",
            "sh",
            "-c",
            "printf 'name? '; read name; echo \"hello $name\"; printf 'code? '; read code; \
             exit $code",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
}

#[test]
fn chat_reports_timeouts_and_aborts() {
    let output = ptychat(
        &[
            "chat",
            "--",
            "no",
            "\\c",
            "TIMEOUT",
            "0.5",
            "login:",
            "me",
            "--",
            "sh",
            "-c",
            "echo no login here; exec sleep 30",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with(r#"ptychat: chat: expecting "login:": timed out"#),
        "{err}"
    );
    assert!(err.contains("deadline 500ms"), "{err}");
    assert!(err.contains(r#"ending with: " login here\r\n""#), "{err}");

    let output = ptychat(
        &[
            "chat",
            "--",
            "ABORT",
            "BUSY",
            "CONNECT",
            "",
            "--",
            "sh",
            "-c",
            "echo BUSY; exec sleep 30",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "ptychat: chat: ABORT string \"BUSY\" appeared while expecting \"CONNECT\"\n"
    );
}

/// `wait` and `assert_exit` return when the program exits, although a background job of
/// its (which ignores the hang-up) keeps the terminal open, as Expect's `wait` does.
#[test]
fn script_wait_does_not_need_the_end_of_output() {
    let (output, _) = run_script(
        "set timeout 30\n\
         spawn sh -c \"trap '' HUP; echo started; sleep 100 & exit 5\"\n\
         expect started\n\
         assert_exit 5\n\
         print \"status $status\"\n",
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "status 5\n");
}

/// A script may spawn the next program as soon as it has seen the end of the previous
/// one's output: the process question after EOF waits for the exit that follows it.
#[test]
fn script_spawns_again_right_after_the_end_of_output() {
    let source = "spawn true\nexpect eof\n".repeat(30) + "print ok\n";
    let (output, _) = run_script(&source);
    assert_success(&output);
    assert_eq!(stdout(&output), "ok\n");
}

/// `chat` returns the program's exit code once it exits, without waiting for a
/// background job that holds its terminal.
#[test]
fn chat_returns_when_the_program_exits_while_a_background_job_holds_the_terminal() {
    let output = ptychat(
        &[
            "chat",
            "-t",
            "30",
            "--",
            "started",
            "",
            "--",
            "sh",
            "-c",
            "trap '' HUP; echo started; sleep 100 & exit 5",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
}

/// `unbuffer -p`: standard input is typed to the program (without echo), and its end
/// reaches the program as end of file, so a filter in a pipeline finishes.
#[test]
fn unbuffer_p_passes_standard_input_on() {
    let output = ptychat(&["unbuffer", "-p", "cat"], "hi\nthere");
    assert_success(&output);
    assert_eq!(stdout(&output), "hi\nthere");
    let output = ptychat(
        &[
            "unbuffer",
            "-p",
            "sh",
            "-c",
            "read x; echo \"got $x\"; exit 3",
        ],
        "hello\n",
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "got hello\n");
}

/// Glob patterns (`-gl`, Tcl's rules) in one-line expects and in blocks; `check` and `run`
/// warn about exact text that starts or ends with `*` (a glob in Tcl Expect).
#[test]
fn glob_patterns_and_the_warning_for_tcl_style_exact_text() {
    let (output, _) = run_script(
        "set echo off\n\
         spawn sh -c \"printf 'Password: '; read p; echo ok-\\$p; echo done\"\n\
         expect -gl \"*ass?ord: \"\n\
         sendline secret\n\
         expect {\n\
         \x20 -gl \"ok-s[abe]cret\" print \"glob matched $0\"\n\
         \x20 timeout fail \"no match\"\n\
         }\n\
         expect done\n",
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "glob matched ok-secret\n");
    assert_eq!(stderr(&output), "");

    let path = script("spawn sh\nexpect \"*assword*\"\nexpect -gl \"*\\$ \"\n");
    let path = path.to_str().unwrap();
    let output = ptychat(&["check", path], "");
    assert_success(&output);
    assert_eq!(
        stderr(&output),
        format!(
            "ptychat: {path}:2: warning: the pattern \"*assword*\" is exact text and waits for \
             a literal `*`; for a glob as in Tcl Expect write -gl \"*assword*\"\n"
        )
    );
}
