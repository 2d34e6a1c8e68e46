//! Conversations with real interactive programs: bc, the python REPL, sqlite3 and bash.

mod common;

use common::{read_to_eof, spawn};
use ptychat::{Command, ExitStatus, Pattern, PtySession};

/// Sends `line`, expects the terminal's echo of it, then returns what comes before
/// `prompt`.
fn ask(s: &mut PtySession, line: &str, prompt: &str) -> String {
    s.send_line(line).unwrap();
    s.expect(format!("{line}\r\n")).unwrap();
    s.expect(prompt).unwrap().before_str().into_owned()
}

#[test]
fn bc_calculates() {
    let mut s = spawn(
        Command::new("bc")
            .arg("-q")
            .env("TERM", "dumb")
            .env_remove("BC_ENV_ARGS"),
    );
    // bc has no prompt, so a line may be typed while the terminal (rather than readline)
    // echoes, and then readline shows it again: the echo may appear twice. Results are
    // found as lines of nothing but a number, which no input line is.
    let result = Pattern::regex(r"(?m)^(-?[0-9.]+)\r\n").unwrap();
    for (input, output) in [
        ("6 * 7", "42"),
        ("scale = 5; 1 / 3", ".33333"),
        ("2 ^ 100", "1267650600228229401496703205376"),
        (
            "define f(n) { if (n < 2) return n; return f(n - 1) + f(n - 2); }",
            "",
        ),
        ("f(20)", "6765"),
        ("scale = 0; -7 % 3", "-1"),
    ] {
        s.send_line(input).unwrap();
        if !output.is_empty() {
            let m = s.expect(&result).unwrap();
            assert_eq!(m.group(1), Some(output.as_bytes()), "{input}");
        }
    }
    s.send_line("quit").unwrap();
    read_to_eof(&mut s);
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

fn python_repl() -> PtySession {
    let mut s = spawn(
        Command::new("python3")
            .arg("-q")
            .env("TERM", "dumb")
            .env("PYTHON_BASIC_REPL", "1")
            .env_remove("PYTHONSTARTUP"),
    );
    s.expect(">>> ").unwrap();
    s
}

#[test]
fn python_repl_evaluates() {
    let mut s = python_repl();
    assert_eq!(ask(&mut s, "x = 6 * 7", ">>> "), "");
    assert_eq!(ask(&mut s, "print(x)", ">>> "), "42\r\n");
    assert_eq!(ask(&mut s, "'é' * 3", ">>> "), "'ééé'\r\n");
    // A block: continuation prompts until an empty line.
    assert_eq!(ask(&mut s, "def double(n):", "... "), "");
    assert_eq!(ask(&mut s, "    return n * 2", "... "), "");
    assert_eq!(ask(&mut s, "", ">>> "), "");
    assert_eq!(ask(&mut s, "double(21)", ">>> "), "42\r\n");
    let error = ask(&mut s, "1 / 0", ">>> ");
    assert!(
        error.starts_with("Traceback (most recent call last):"),
        "{error}"
    );
    assert!(
        error.ends_with("ZeroDivisionError: division by zero\r\n"),
        "{error}"
    );
    // Ctrl-D at the prompt leaves the REPL.
    s.send_eof().unwrap();
    read_to_eof(&mut s);
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(0));
}

#[test]
fn python_repl_exit_code() {
    let mut s = python_repl();
    s.send_line("import sys; sys.exit(17)").unwrap();
    read_to_eof(&mut s);
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(17));
}

#[test]
fn python_repl_survives_keyboard_interrupt() {
    let mut s = python_repl();
    // Simple statements on one line run at once (a compound statement would wait for a
    // blank line). The echo shows 'loop' + 'ing', the program prints looping. It then
    // sleeps in short slices: a SIGINT that lands just before a long sleep starts is only
    // acted on when that sleep ends.
    s.send_line("print('loop' + 'ing'); import time; [time.sleep(0.05) for _ in iter(int, 1)]")
        .unwrap();
    s.expect("looping\r\n").unwrap();
    s.send_intr().unwrap();
    s.expect("KeyboardInterrupt\r\n>>> ").unwrap();
    assert_eq!(ask(&mut s, "print('still here')", ">>> "), "still here\r\n");
}

#[test]
fn sqlite3_creates_inserts_and_selects() {
    let mut s = spawn(
        Command::new("sqlite3")
            .args(["-interactive", ":memory:"])
            .env("TERM", "dumb")
            .env("HOME", "/nonexistent"), // no ~/.sqliterc
    );
    s.expect("sqlite> ").unwrap();
    let prompt = "sqlite> ";
    assert_eq!(
        ask(&mut s, "create table t(a integer, b text);", prompt),
        ""
    );
    assert_eq!(
        ask(
            &mut s,
            "insert into t values (1, 'one'), (2, 'two'), (3, 'three');",
            prompt
        ),
        ""
    );
    assert_eq!(
        ask(
            &mut s,
            "select b, a * 10 from t where a > 1 order by a;",
            prompt
        ),
        "two|20\r\nthree|30\r\n"
    );
    // A statement over two lines gets the continuation prompt.
    assert_eq!(ask(&mut s, "select sum(a)", "   ...> "), "");
    assert_eq!(ask(&mut s, "from t;", prompt), "6\r\n");
    let error = ask(&mut s, "select * from missing;", prompt);
    assert!(error.contains("no such table: missing"), "{error}");
    s.send_line(".quit").unwrap();
    assert_eq!(read_to_eof(&mut s), b".quit\r\n");
    // sqlite3 exits with 1 when a statement failed.
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(1));
}

fn bash() -> PtySession {
    let mut s = spawn(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-i"])
            .env("TERM", "dumb")
            .env("PS1", "ptychat> ")
            .env("HISTFILE", "/dev/null")
            .env_remove("PROMPT_COMMAND"),
    );
    s.expect("ptychat> ").unwrap();
    s
}

#[test]
fn bash_prompt_and_commands() {
    let mut s = bash();
    let prompt = "ptychat> ";
    assert_eq!(ask(&mut s, "echo $((6 * 7))", prompt), "42\r\n");
    assert_eq!(ask(&mut s, "cd / && pwd", prompt), "/\r\n");
    assert_eq!(ask(&mut s, "false; echo $?", prompt), "1\r\n");
    assert_eq!(ask(&mut s, "x=5; echo $((x + 1))", prompt), "6\r\n");
    assert_eq!(ask(&mut s, "tty -s && echo has-tty", prompt), "has-tty\r\n");
    s.send_line("exit 3").unwrap();
    read_to_eof(&mut s);
    assert_eq!(s.wait().unwrap(), ExitStatus::Exited(3));
}

#[test]
fn bash_interrupts_a_foreground_job() {
    let mut s = bash();
    // The job runs in its own process group, which bash makes the terminal's foreground
    // group before the job starts; so once the job has printed, Ctrl-C reaches it, and
    // bash comes back with a prompt.
    s.send_line("sh -c 'echo job-$((20 + 22)); exec sleep 30'")
        .unwrap();
    s.expect("job-42\r\n").unwrap();
    s.send_intr().unwrap();
    s.expect("ptychat> ").unwrap();
    assert_eq!(ask(&mut s, "echo $?", "ptychat> "), "130\r\n");
    s.send_eof().unwrap();
    read_to_eof(&mut s);
    assert!(s.wait().unwrap().success());
}
